#include "pipeline/quantize_model.h"

#include <fmt/core.h>

#include <chrono>
#include <cstring>

#include "core/error.h"
#include "core/parallel.h"
#include "core/resources.h"
#include "model/forward.h"
#include "model/e8p_linear.h"
#include "model/quantized_linear.h"
#include "pipeline/methods.h"
#include "quant/hessian.h"

namespace quip {

bool LinearNameMatches(const std::string& name, const std::string& pattern) {
  if (pattern.empty() || pattern.size() > name.size()) return false;
  if (name.compare(name.size() - pattern.size(), pattern.size(), pattern) != 0) return false;
  return pattern.size() == name.size() || name[name.size() - pattern.size() - 1] == '.';
}

std::unique_ptr<Linear> MakeQuantizedLinear(const QuantizedMatrix& q) {
  if (q.codebook == Codebook::kE8P) return std::make_unique<E8PLinear>(q);
  return std::make_unique<QuantizedLinear>(q);
}

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// Routes each linear input of the observed block into its Hessian.
class HessianCollector final : public LinearInputObserver {
 public:
  explicit HessianCollector(const LlamaConfig& c) : qkv(c.dim), o(c.q_dim()), gate_up(c.dim), down(c.hidden_dim) {}
  void Observe(int, LinearInput which, const float* x, int ntok, int) override {
    switch (which) {
      case LinearInput::kQkv: qkv.Add(x, ntok); break;
      case LinearInput::kO: o.Add(x, ntok); break;
      case LinearInput::kGateUp: gate_up.Add(x, ntok); break;
      case LinearInput::kDown: down.Add(x, ntok); break;
    }
  }
  HessianAccumulator qkv, o, gate_up, down;
};

// Mixes the run's seed with a name so every input group of every block gets its
// own reproducible U, V and stochastic-rounding stream (FNV-1a, then splitmix64).
uint64_t LayerSeed(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
  h += 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

}  // namespace

LinearStorage MeasureLinearStorage(const Model& model) {
  LinearStorage s;
  for (const auto& layer : model.layers)
    for (const Linear* l : {layer.q.get(), layer.k.get(), layer.v.get(), layer.o.get(), layer.gate.get(),
                            layer.up.get(), layer.down.get()}) {
      s.weights += int64_t(l->out_features()) * l->in_features();
      s.bytes += l->WeightBytes();
    }
  return s;
}

nlohmann::json QuantizeModel(Model& model, const std::vector<std::vector<int>>& windows,
                             const QuantizeModelOptions& options, const LayerProgressFn& progress) {
  const auto start = Clock::now();
  const LlamaConfig& c = model.config;
  QUIP_ASSERT(!windows.empty());
  const int length = int(windows[0].size());
  const int dim = c.dim;

  // Residual stream of every calibration window entering the current block.
  std::vector<float> x(windows.size() * length * dim);
  for (size_t w = 0; w < windows.size(); ++w) Embed(model, windows[w], &x[w * length * dim]);
  std::vector<float> scratch_x(size_t(length) * dim);
  KvCache cache(c, length);
  ForwardScratch scratch(c, length);

  double capture_s = 0, quantize_s = 0, propagate_s = 0;
  nlohmann::json linears = nlohmann::json::array();
  for (const BitsOverride& o : options.bits_overrides) {  // fail before any work
    QUIP_CHECK_INPUT(o.bits >= 2 && o.bits <= 4, "--bits-for", "{}: bits must be 2, 3 or 4, got {}", o.pattern, o.bits);
    bool used = false;
    for (int l = 0; l < c.n_layers && !used; ++l)
      for (const char* s : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"})
        used = used || LinearNameMatches("model.layers." + std::to_string(l) + "." + s, o.pattern);
    QUIP_CHECK_INPUT(used, "--bits-for", "'{}' matches no linear layer (names look like "
                     "model.layers.0.self_attn.v_proj; give a suffix such as v_proj or layers.0.mlp.down_proj)",
                     o.pattern);
  }
  for (int l = 0; l < c.n_layers; ++l) {
    // 1. Hessians of this block's inputs, from the (already quantized) previous blocks' outputs.
    auto t0 = Clock::now();
    HessianCollector hessians(c);
    for (size_t w = 0; w < windows.size(); ++w) {
      std::memcpy(scratch_x.data(), &x[w * length * dim], scratch_x.size() * sizeof(float));
      RunBlock(model, l, scratch_x.data(), length, 0, cache, scratch, &hessians);
    }
    capture_s += Seconds(t0);

    // 2. Quantize the seven linears; independent, so they run in parallel.
    t0 = Clock::now();
    LayerWeights& layer = model.layers[l];
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    struct Job {
      std::string name;
      std::string input;  // linears that share an input share their seed, so also V:
                          // inference can rotate that input once for all of them
      std::unique_ptr<Linear>* slot;
      const Eigen::MatrixXd* hessian;
      QuantStats stats{};
      double seconds = 0;
      std::unique_ptr<Linear> result{};
    };
    const Eigen::MatrixXd h_qkv = hessians.qkv.Mean(), h_o = hessians.o.Mean(), h_gate_up = hessians.gate_up.Mean(),
                          h_down = hessians.down.Mean();
    std::vector<Job> jobs;
    jobs.push_back({prefix + "self_attn.q_proj", prefix + "qkv", &layer.q, &h_qkv});
    jobs.push_back({prefix + "self_attn.k_proj", prefix + "qkv", &layer.k, &h_qkv});
    jobs.push_back({prefix + "self_attn.v_proj", prefix + "qkv", &layer.v, &h_qkv});
    jobs.push_back({prefix + "self_attn.o_proj", prefix + "o", &layer.o, &h_o});
    jobs.push_back({prefix + "mlp.gate_proj", prefix + "gate_up", &layer.gate, &h_gate_up});
    jobs.push_back({prefix + "mlp.up_proj", prefix + "gate_up", &layer.up, &h_gate_up});
    jobs.push_back({prefix + "mlp.down_proj", prefix + "down", &layer.down, &h_down});
    std::vector<int> job_bits(jobs.size(), options.config.bits);
    for (size_t j = 0; j < jobs.size(); ++j)
      for (size_t o = 0; o < options.bits_overrides.size(); ++o)
        if (LinearNameMatches(jobs[j].name, options.bits_overrides[o].pattern)) job_bits[j] = options.bits_overrides[o].bits;
    ParallelFor(int64_t(jobs.size()), [&](int64_t j) {
      Job& job = jobs[j];
      const auto job_start = Clock::now();
      const auto* dense = dynamic_cast<const DenseLinear*>(job.slot->get());
      QUIP_CHECK_INPUT(dense != nullptr, job.name, "is already quantized");
      QuantConfig config = options.config;
      config.seed = LayerSeed(options.config.seed, job.input);
      config.bits = job_bits[size_t(j)];
      QuantizedMatrix q;
      try {
        q = QuantizeMatrix(dense->weight().data, dense->out_features(), dense->in_features(), *job.hessian, config,
                           &job.stats);
      } catch (const Error& e) {
        Fail(model.source, "{}: {}", job.name, e.what());  // name the tensor, e.g. NaN in its weight
      }
      job.result = MakeQuantizedLinear(q);
      job.seconds = Seconds(job_start);
    });
    for (Job& job : jobs) {
      if (!job.stats.note.empty()) fmt::print(stderr, "quip: note: {}: {}\n", job.name, job.stats.note);
      *job.slot = std::move(job.result);
      linears.push_back({{"name", job.name},
                         {"bits", job_bits[size_t(&job - jobs.data())]},
                         {"rows", (*job.slot)->out_features()},
                         {"cols", (*job.slot)->in_features()},
                         {"relative_proxy_loss", job.stats.relative_proxy_loss},
                         {"proxy_loss", job.stats.proxy_loss},
                         {"mu_h_before", job.stats.mu_h_before},
                         {"mu_h_after", job.stats.mu_h_after},
                         {"mu_w_before", job.stats.mu_w_before},
                         {"mu_w_after", job.stats.mu_w_after},
                         {"seconds", job.seconds},
                         {"note", job.stats.note}});
    }
    quantize_s += Seconds(t0);

    // 3. Outputs of the quantized block feed the next one.
    t0 = Clock::now();
    for (size_t w = 0; w < windows.size(); ++w)
      RunBlock(model, l, &x[w * length * dim], length, 0, cache, scratch, nullptr);
    propagate_s += Seconds(t0);
    if (progress) progress(l + 1, c.n_layers);
  }

  const LinearStorage storage = MeasureLinearStorage(model);
  const QuantConfig& q = options.config;
  return {{"method", options.method},
          {"bits", q.bits},
          {"rounding", RoundingName(q.rounding)},
          {"incoherence", q.incoherence ? "kron" : "none"},
          {"rescale", q.rescale},
          {"range_tuning", q.range_tuning},
          {"damping", q.damping},
          {"rho", q.rho > 0 ? q.rho : DefaultRho(q.bits)},
          {"seed", q.seed},
          {"calibration", {{"windows", windows.size()}, {"ctx", length}}},
          {"seconds", {{"capture_hessians", capture_s}, {"quantize", quantize_s}, {"propagate", propagate_s},
                       {"total", Seconds(start)}}},
          {"linear_bytes", storage.bytes},
          {"linear_weights", storage.weights},
          {"bits_per_linear_weight", storage.bits_per_weight()},
          {"peak_rss_bytes", PeakRssBytes()},
          {"linears", linears}};
}

}  // namespace quip
