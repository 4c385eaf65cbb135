#include "io/llama2c.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/mapped_file.h"

namespace quip {
namespace {

struct Header {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};
constexpr size_t kHeaderBytes = sizeof(Header);
static_assert(kHeaderBytes == 28);

LlamaConfig ConfigFromHeader(const Header& h, const std::string& path) {
  LlamaConfig c;
  c.dim = h.dim;
  c.hidden_dim = h.hidden_dim;
  c.n_layers = h.n_layers;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.vocab_size = h.vocab_size == INT32_MIN ? 0 : std::abs(h.vocab_size);  // < 0: unshared classifier
  c.max_seq_len = h.seq_len;
  c.tied_embeddings = h.vocab_size > 0;
  QUIP_CHECK_INPUT(h.n_heads > 0 && h.dim > 0 && h.dim % h.n_heads == 0, path,
                   "llama2.c header: dim {} is not a positive multiple of n_heads {}", h.dim, h.n_heads);
  c.head_dim = h.dim / h.n_heads;
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.bos_id = 1;
  c.eos_id = 2;
  c.Validate(path + " (llama2.c header)");
  return c;
}

// Number of floats the checkpoint must hold after the header.
int64_t ExpectedFloats(const LlamaConfig& c) {
  const int64_t d = c.dim, L = c.n_layers, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim, v = c.vocab_size;
  int64_t n = v * d + L * d + L * q * d + 2 * L * kv * d + L * d * q + L * d + 3 * L * h * d + d;
  n += int64_t{c.max_seq_len} * c.head_dim;  // freq_cis_real + freq_cis_imag, each [seq][head/2]
  if (!c.tied_embeddings) n += v * d;
  return n;
}

bool ReadHeader(const uint8_t* data, size_t size, Header* h) {
  if (size < kHeaderBytes) return false;
  std::memcpy(h, data, kHeaderBytes);
  return true;
}

}  // namespace

// The file size a valid header implies, or 0 when `path` has no valid header.
uint64_t ImpliedSize(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Header h{};
  if (!in.read(reinterpret_cast<char*>(&h), kHeaderBytes)) return 0;
  try {
    return kHeaderBytes + 4 * static_cast<uint64_t>(ExpectedFloats(ConfigFromHeader(h, path)));
  } catch (const Error&) {
    return 0;
  }
}

bool HasLlama2cHeader(const std::string& path) { return ImpliedSize(path) > 0; }

bool LooksLikeLlama2cCheckpoint(const std::string& path) {
  const uint64_t implied = ImpliedSize(path);
  std::error_code ec;
  return implied > 0 && std::filesystem::file_size(path, ec) == implied;
}

Model LoadLlama2cModel(const std::string& path) {
  auto file = std::make_shared<MappedFile>(path);
  Header h{};
  QUIP_CHECK_INPUT(ReadHeader(file->data(), file->size(), &h), path,
                   "file is {} bytes, too short for the 28-byte llama2.c header", file->size());
  Model model;
  model.source = path;
  model.format = "llama2c";
  model.config = ConfigFromHeader(h, path);
  const LlamaConfig& c = model.config;
  const uint64_t expected = kHeaderBytes + 4 * static_cast<uint64_t>(ExpectedFloats(c));
  QUIP_CHECK_INPUT(file->size() == expected, path,
                   "{} llama2.c checkpoint: {} bytes but its header (dim {}, hidden {}, layers {}, heads {}/{}, vocab {}, "
                   "seq {}) implies {} bytes ({} bytes {})",
                   file->size() < expected ? "truncated" : "oversized", file->size(), h.dim, h.hidden_dim, h.n_layers,
                   h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len, expected,
                   file->size() < expected ? expected - file->size() : file->size() - expected,
                   file->size() < expected ? "missing" : "too many");
  model.owners.push_back(file);

  const float* cursor = reinterpret_cast<const float*>(file->data() + kHeaderBytes);
  // NaN or Inf in a weight would silently turn every logit into NaN: reject it, naming
  // the array (the unused freq_cis tables are not checked).
  auto take = [&](const std::string& name, std::vector<int64_t> shape, bool check_finite = true) {
    TensorView t{cursor, std::move(shape)};
    if (check_finite)
      for (int64_t i = 0; i < t.numel(); ++i)
        if (!std::isfinite(cursor[i]))
          Fail(path, "tensor '{}' holds a non-finite value (NaN or Inf) at element {}", name, i);
    // Checked pages are dropped: they come back when the model uses them (core/mapped_file.h).
    ReleaseMappedPages(cursor, size_t(t.numel()) * 4);
    cursor += t.numel();
    model.tensors.push_back({name, "F32", t.shape, t.numel() * 4});
    return t;
  };
  const int64_t d = c.dim, L = c.n_layers, q = c.q_dim(), kv = c.kv_dim(), hd = c.hidden_dim, v = c.vocab_size;
  model.token_embedding = take("token_embedding", {v, d});
  const TensorView rms_att = take("rms_att", {L, d});
  const TensorView wq = take("wq", {L, q, d});
  const TensorView wk = take("wk", {L, kv, d});
  const TensorView wv = take("wv", {L, kv, d});
  const TensorView wo = take("wo", {L, d, q});
  const TensorView rms_ffn = take("rms_ffn", {L, d});
  const TensorView w1 = take("w1", {L, hd, d});
  const TensorView w2 = take("w2", {L, d, hd});
  const TensorView w3 = take("w3", {L, hd, d});
  model.final_norm = take("rms_final", {d});
  take("freq_cis_real", {c.max_seq_len, c.head_dim / 2}, false);
  take("freq_cis_imag", {c.max_seq_len, c.head_dim / 2}, false);
  const TensorView wcls = c.tied_embeddings ? model.token_embedding : take("wcls", {v, d});

  auto slice = [](const TensorView& t, int64_t l) {
    const int64_t rows = t.shape[1], cols = t.shape.size() > 2 ? t.shape[2] : 1;
    return TensorView{t.data + l * rows * cols, t.shape.size() > 2 ? std::vector<int64_t>{rows, cols}
                                                                    : std::vector<int64_t>{rows}};
  };
  // Interleaved RoPE pairs (2i, 2i+1) -> rotate_half pairs (i, i + head/2): row 2i+c of a
  // head moves to row c*head/2 + i. q.k is unchanged because q and k move alike.
  auto to_rotate_half = [&](const TensorView& w, int n_heads) {
    const int64_t hd2 = c.head_dim / 2, cols = w.cols();
    std::vector<float> out(static_cast<size_t>(w.numel()));
    for (int64_t head = 0; head < n_heads; ++head)
      for (int64_t i = 0; i < hd2; ++i)
        for (int64_t part = 0; part < 2; ++part)
          std::memcpy(&out[((head * c.head_dim) + part * hd2 + i) * cols], w.row(head * c.head_dim + 2 * i + part),
                      cols * sizeof(float));
    return OwnFloats(std::move(out), w.shape, model.owners);
  };
  for (int64_t l = 0; l < L; ++l) {
    LayerWeights layer;
    layer.attn_norm = slice(rms_att, l);
    layer.ffn_norm = slice(rms_ffn, l);
    layer.q = std::make_unique<DenseLinear>(to_rotate_half(slice(wq, l), c.n_heads));
    layer.k = std::make_unique<DenseLinear>(to_rotate_half(slice(wk, l), c.n_kv_heads));
    layer.v = std::make_unique<DenseLinear>(slice(wv, l));
    layer.o = std::make_unique<DenseLinear>(slice(wo, l));
    layer.gate = std::make_unique<DenseLinear>(slice(w1, l));
    layer.down = std::make_unique<DenseLinear>(slice(w2, l));
    layer.up = std::make_unique<DenseLinear>(slice(w3, l));
    model.layers.push_back(std::move(layer));
  }
  // q and k are used from their reordered copies: the mapped originals the copy read go too.
  for (const TensorView* t : {&wq, &wk}) ReleaseMappedPages(t->data, size_t(t->numel()) * 4);
  model.lm_head = std::make_unique<DenseLinear>(wcls);
  return model;
}

}  // namespace quip
