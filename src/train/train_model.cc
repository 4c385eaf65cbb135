#include "train/train_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace quip::train {

namespace {

// The HYB table the model's HYB layers share, or null when none has the HYB code. Throws
// quip::Error when two layers' tables differ (a file stores one).
const std::vector<float>* SharedHybTable(const Model& model) {
  const std::vector<float>* table = nullptr;
  auto visit = [&](const Linear* l) {
    const StoredLinear* s = l ? l->stored_linear() : nullptr;
    if (!s || s->codebook != Codebook::kTrellis || s->trellis_code != trellis::Code::kHyb) return;
    if (!table) table = &s->code_table;
    QUIP_CHECK_INPUT(*table == s->code_table, model.source, "its HYB layers do not share one table");
  };
  for (const LayerWeights& w : model.layers)
    for (const Linear* l : {w.q.get(), w.k.get(), w.v.get(), w.o.get(), w.gate.get(), w.up.get(), w.down.get()})
      visit(l);
  visit(model.lm_head.get());
  return table;
}

}  // namespace

template <typename T>
TrainModel<T>::TrainModel(const Model& model, int max_tokens, bool checkpoint_blocks, bool tune_code_table)
    : model_(model), rope_(model.config, max_tokens), checkpoint_(checkpoint_blocks) {
  const LlamaConfig& c = model.config;
  const std::vector<float>* table = tune_code_table ? SharedHybTable(model) : nullptr;
  if (table) code_table_.Init(kHybTableParam, std::vector<T>(table->begin(), table->end()));
  Param<T>* tuned_table = table ? &code_table_ : nullptr;
  head_ = TrainLinear<T>(*model.lm_head, "lm_head", tuned_table);
  blocks_.reserve(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l)
    blocks_.emplace_back(c, model.layers[l], "model.layers." + std::to_string(l) + ".", tuned_table);
  final_norm_.Init("model.norm.weight", std::vector<T>(model.final_norm.data, model.final_norm.data + c.dim));
  saved_.resize(checkpoint_ ? 1 : c.n_layers);
  if (checkpoint_) block_inputs_.resize(c.n_layers);
}

template <typename T>
void TrainModel<T>::Logits(std::span<const int> tokens, Mat<T>& logits) {
  const LlamaConfig& c = model_.config;
  const int ntok = int(tokens.size());
  QUIP_ASSERT(size_t(ntok) * rope_.half <= rope_.cos.size());
  Mat<T>& x = x_final_;
  x.resize(ntok, c.dim);
  for (int t = 0; t < ntok; ++t) {
    QUIP_CHECK_INPUT(tokens[t] >= 0 && tokens[t] < c.vocab_size, model_.source,
                     "token id {} is outside the model's vocabulary of {}", tokens[t], c.vocab_size);
    const float* row = model_.token_embedding.row(tokens[t]);
    for (int i = 0; i < c.dim; ++i) x(t, i) = T(row[i]);
  }
  for (int l = 0; l < c.n_layers; ++l) {
    if (checkpoint_) block_inputs_[l] = x;
    blocks_[l].Forward(x, saved_[checkpoint_ ? 0 : l], rope_);
  }
  RmsNormForward(x, final_norm_.value, c.norm_eps, normed_final_, inv_rms_final_);
  head_.Forward(normed_final_, logits, head_saved_);
}

template <typename T>
double TrainModel<T>::Loss(std::span<const int> tokens, const Mat<float>& teacher, bool gradient) {
  const LlamaConfig& c = model_.config;
  const int ntok = int(tokens.size()), vocab = c.vocab_size;
  QUIP_ASSERT(teacher.rows() == ntok && teacher.cols() == vocab);
  Mat<T> logits;
  Logits(tokens, logits);
  // KL(p ‖ q) = Σ p (log p − log q); ∂/∂logits of the mean over tokens = (q·Σp − p) / ntok
  // (Σp is 1 up to the rounding of the teacher's float log-probabilities).
  double loss = 0;
  Mat<T> dlogits(ntok, vocab);
  for (int t = 0; t < ntok; ++t) {
    double max = logits(t, 0), p_sum = 0;
    for (int v = 1; v < vocab; ++v) max = std::max(max, double(logits(t, v)));
    double sum = 0;
    for (int v = 0; v < vocab; ++v) {
      sum += std::exp(double(logits(t, v)) - max);
      p_sum += std::exp(double(teacher(t, v)));
    }
    const double log_sum = max + std::log(sum);
    for (int v = 0; v < vocab; ++v) {
      const double log_q = double(logits(t, v)) - log_sum, log_p = teacher(t, v), p = std::exp(log_p);
      if (p > 0) loss += p * (log_p - log_q);
      dlogits(t, v) = T((std::exp(log_q) * p_sum - p) / ntok);
    }
  }
  loss /= ntok;
  if (gradient) Backward(dlogits);
  return loss;
}

// With S the target's k tokens, p_rest = exp(log_rest) and q_rest = Σ_{v∉S} q_v:
// L = Σ_{v∈S} p_v (log p_v − log q_v) + p_rest (log p_rest − log q_rest), and
// ∂L/∂z_j = P·q_j − p_j [j∈S] − p_rest·q_j/q_rest [j∉S], P = Σ_S p + p_rest (1 up to rounding).
template <typename T>
double TrainModel<T>::Loss(std::span<const int> tokens, const TopKTarget& teacher, bool gradient) {
  const int ntok = int(tokens.size()), vocab = model_.config.vocab_size, k = teacher.k;
  QUIP_ASSERT(teacher.tokens() == ntok);
  Mat<T> logits;
  Logits(tokens, logits);
  double loss = 0;
  Mat<T> dlogits(ntok, vocab);
  std::vector<double> log_q(vocab);
  std::vector<double> p_top(vocab, -1.0);  // p of the target's k tokens, −1 for the others
  for (int t = 0; t < ntok; ++t) {
    double max = logits(t, 0);
    for (int v = 1; v < vocab; ++v) max = std::max(max, double(logits(t, v)));
    double sum = 0;
    for (int v = 0; v < vocab; ++v) sum += std::exp(double(logits(t, v)) - max);
    const double log_sum = max + std::log(sum);
    for (int v = 0; v < vocab; ++v) log_q[v] = double(logits(t, v)) - log_sum;
    const int32_t* ids = &teacher.ids[size_t(t) * k];
    const float* log_p = &teacher.log_probs[size_t(t) * k];
    double p_total = 0, q_rest = 0;
    for (int i = 0; i < k; ++i) {
      const double p = std::exp(double(log_p[i]));
      p_top[ids[i]] = p;
      p_total += p;
      if (p > 0) loss += p * (double(log_p[i]) - log_q[ids[i]]);
    }
    for (int v = 0; v < vocab; ++v)
      if (p_top[v] < 0) q_rest += std::exp(log_q[v]);
    const double p_rest = std::exp(double(teacher.log_rest[t]));
    p_total += p_rest;
    if (p_rest > 0) loss += p_rest * (double(teacher.log_rest[t]) - std::log(q_rest));
    for (int v = 0; v < vocab; ++v) {
      const double q = std::exp(log_q[v]);
      const double target = p_top[v] >= 0 ? p_top[v] : p_rest > 0 ? p_rest * q / q_rest : 0.0;
      dlogits(t, v) = T((q * p_total - target) / ntok);
    }
    for (int i = 0; i < k; ++i) p_top[ids[i]] = -1.0;
  }
  loss /= ntok;
  if (gradient) Backward(dlogits);
  return loss;
}

template <typename T>
void TrainModel<T>::Backward(const Mat<T>& dlogits) {
  const LlamaConfig& c = model_.config;
  const int ntok = int(dlogits.rows());
  Mat<T> dnormed;
  head_.Backward(dlogits, head_saved_, &dnormed);
  Mat<T> dx = Mat<T>::Zero(ntok, c.dim);
  RmsNormBackward(x_final_, final_norm_.value, inv_rms_final_, dnormed, dx, final_norm_.grad);
  for (int l = c.n_layers - 1; l >= 0; --l) {
    if (!checkpoint_) {
      blocks_[l].Backward(dx, saved_[l], rope_);
      continue;
    }
    if (l < c.n_layers - 1) {  // the last block's activations are still those of the forward pass
      Mat<T> x = block_inputs_[l];
      blocks_[l].Forward(x, saved_[0], rope_);
    }
    blocks_[l].Backward(dx, saved_[0], rope_);
  }
}

template <typename T>
std::vector<Param<T>*> TrainModel<T>::Params() {
  std::vector<Param<T>*> out;
  for (TrainBlock<T>& b : blocks_)
    for (Param<T>* p : b.Params()) out.push_back(p);
  out.push_back(&final_norm_);
  for (Param<T>* p : head_.Params()) out.push_back(p);
  if (!code_table_.value.empty()) out.push_back(&code_table_);
  return out;
}

template <typename T>
std::vector<const TrainLinear<T>*> TrainModel<T>::Linears() const {
  std::vector<const TrainLinear<T>*> out;
  for (const TrainBlock<T>& b : blocks_)
    for (const TrainLinear<T>* l : b.Linears()) out.push_back(l);
  out.push_back(&head_);
  return out;
}

template <typename T>
void TrainModel<T>::ZeroGrad() {
  for (Param<T>* p : Params()) std::fill(p->grad.begin(), p->grad.end(), T(0));
}

template <typename T>
void TrainModel<T>::ExportTo(Model& model) const {
  for (size_t l = 0; l < blocks_.size(); ++l) blocks_[l].ExportTo(model.layers[l], model.owners);
  model.final_norm = OwnFloats(std::vector<float>(final_norm_.value.begin(), final_norm_.value.end()),
                               {int64_t(final_norm_.value.size())}, model.owners);
  if (std::unique_ptr<Linear> head = head_.Export()) model.lm_head = std::move(head);
}

TopKTarget TopK(const Mat<float>& log_probs, int k) {
  const int ntok = int(log_probs.rows()), vocab = int(log_probs.cols());
  QUIP_ASSERT(k >= 1 && k <= vocab);
  TopKTarget out;
  out.k = k;
  out.ids.resize(size_t(ntok) * k);
  out.log_probs.resize(out.ids.size());
  out.log_rest.resize(ntok);
  std::vector<int32_t> order(vocab);
  for (int t = 0; t < ntok; ++t) {
    const float* row = log_probs.row(t).data();
    for (int v = 0; v < vocab; ++v) order[v] = v;
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
    double rest = 0;  // summed from the smallest up
    for (int i = vocab - 1; i >= k; --i) rest += std::exp(double(row[order[i]]));
    for (int i = 0; i < k; ++i) {
      out.ids[size_t(t) * k + i] = order[i];
      out.log_probs[size_t(t) * k + i] = row[order[i]];
    }
    out.log_rest[t] = rest > 0 ? float(std::log(rest)) : -std::numeric_limits<float>::infinity();
  }
  return out;
}

Mat<float> LogSoftmax(const float* logits, int ntok, int vocab) {
  Mat<float> out(ntok, vocab);
  for (int t = 0; t < ntok; ++t) {
    const float* row = logits + size_t(t) * vocab;
    double max = row[0];
    for (int v = 1; v < vocab; ++v) max = std::max(max, double(row[v]));
    double sum = 0;
    for (int v = 0; v < vocab; ++v) sum += std::exp(double(row[v]) - max);
    const double log_sum = max + std::log(sum);
    for (int v = 0; v < vocab; ++v) out(t, v) = float(double(row[v]) - log_sum);
  }
  return out;
}

template class TrainModel<float>;
template class TrainModel<double>;

}  // namespace quip::train
