#include "train/gradient_dump.h"

#include <fmt/core.h>

#include "format/trellis_tiles.h"
#include "io/safetensors.h"
#include "train/train_model.h"

namespace quip::train {
namespace {

void AddF64(SafetensorsWriter& w, const std::string& name, std::vector<int64_t> shape, const double* data) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  w.Add(name, DType::kF64, std::move(shape), data, size_t(n) * sizeof(double));
}

}  // namespace

void WriteGradientDump(const Model& student, std::span<const int> window, const Mat<float>& teacher,
                       const std::string& path) {
  TrainModel<double> model(student, int(window.size()));
  model.ZeroGrad();
  const double loss = model.Loss(window, teacher, /*gradient=*/true);
  const LlamaConfig& c = student.config;
  SafetensorsWriter w;
  const std::vector<double> tokens(window.begin(), window.end());
  AddF64(w, "tokens", {int64_t(tokens.size())}, tokens.data());
  const Mat<double> target = teacher.cast<double>();
  AddF64(w, "teacher_log_probs", {target.rows(), target.cols()}, target.data());
  AddF64(w, "loss", {1}, &loss);
  std::vector<double> embedding(size_t(c.vocab_size) * c.dim);
  for (int v = 0; v < c.vocab_size; ++v)
    for (int i = 0; i < c.dim; ++i) embedding[size_t(v) * c.dim + i] = student.token_embedding.row(v)[i];
  AddF64(w, "embedding", {c.vocab_size, c.dim}, embedding.data());
  for (const Param<double>* p : model.Params()) {
    AddF64(w, "param/" + p->name, {int64_t(p->value.size())}, p->value.data());
    AddF64(w, "grad/" + p->name, {int64_t(p->grad.size())}, p->grad.data());
  }
  for (const TrainLinear<double>* l : model.Linears()) {
    const TrainLinear<double>::Frozen f = l->FrozenForm();
    if (!l->quantized()) {
      AddF64(w, l->name() + ".weight", {f.weight.rows(), f.weight.cols()}, f.weight.data());
      continue;
    }
    std::vector<double> basis;
    for (const Mat<double>& b : f.basis) basis.insert(basis.end(), b.data(), b.data() + b.size());
    AddF64(w, l->name() + ".basis", {int64_t(f.basis.size()), l->rows(), l->cols()}, basis.data());
    if (f.v_rows.size()) AddF64(w, l->name() + ".v_rows", {l->cols(), l->cols()}, f.v_rows.data());
    if (f.ut_rows.size()) AddF64(w, l->name() + ".ut_rows", {l->rows(), l->rows()}, f.ut_rows.data());
    w.SetMetadata(l->name() + ".per_row_scale", f.per_row_scale ? "1" : "0");
    if (!f.hyb_entries.empty()) {  // B = sign · table[entry], the table a parameter
      std::vector<double> entry, sign;
      for (uint16_t e : f.hyb_entries) {
        entry.push_back(e & ~trellis::kHybNegated);
        sign.push_back(e & trellis::kHybNegated ? -1.0 : 1.0);
      }
      AddF64(w, l->name() + ".hyb_entry", {l->rows(), l->cols()}, entry.data());
      AddF64(w, l->name() + ".hyb_sign", {l->rows(), l->cols()}, sign.data());
    }
  }
  const std::pair<const char*, double> config[] = {
      {"dim", c.dim},         {"n_layers", c.n_layers},     {"n_heads", c.n_heads},
      {"n_kv_heads", c.n_kv_heads}, {"head_dim", c.head_dim}, {"hidden_dim", c.hidden_dim},
      {"vocab_size", c.vocab_size}, {"norm_eps", c.norm_eps}, {"rope_theta", c.rope_theta}};
  for (const auto& [key, value] : config) w.SetMetadata(key, fmt::format("{:.17g}", value));
  w.Write(path);
}

}  // namespace quip::train
