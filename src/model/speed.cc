#include "model/speed.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "core/error.h"
#include "model/forward.h"
#include "model/incoherent_linear.h"

namespace quip {
namespace {
double Seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

int ArgMax(std::span<const float> v) { return int(std::max_element(v.begin(), v.end()) - v.begin()); }
}  // namespace

int64_t WeightBytesPerToken(const Model& model) {
  const LlamaConfig& c = model.config;
  int64_t bytes = int64_t(c.dim) * 4;                      // embedding row
  bytes += int64_t((c.sandwich_norms ? 4 : 2) * c.n_layers + 1) * c.dim * 4;  // RMSNorm weights
  for (const LayerWeights& w : model.layers)
    for (const Linear* l : w.linears())
      bytes += l->WeightBytes();
  return bytes + model.lm_head->WeightBytes();
}

SpeedResult MeasureSpeed(const Model& model, int prompt, int gen, uint64_t seed) {
  const LlamaConfig& c = model.config;
  QUIP_CHECK_INPUT(prompt >= 1 && gen >= 1, model.source, "--prompt and --gen must be at least 1");
  QUIP_CHECK_INPUT(prompt + gen <= c.max_seq_len, model.source,
                   "--prompt + --gen = {} exceeds the model's context of {} tokens", prompt + gen, c.max_seq_len);
  SpeedResult r;
  r.prompt_tokens = prompt;
  r.gen_tokens = gen;
  r.weight_bytes_per_token = WeightBytesPerToken(model);
  r.linear_format = model.layers.empty() ? "" : model.layers[0].query_linear().Format();
  for (const LayerWeights& w : model.layers)
    for (const Linear* l : w.linears())
      if (l->Format() != r.linear_format) r.linear_format = "mixed";

  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> token(0, c.vocab_size - 1);
  std::vector<int> tokens(prompt);
  for (int& t : tokens) t = token(rng);

  {  // Warm-up: page in every weight (memory maps) and start the thread pools.
    Session warm(model, 4);
    const int first[] = {tokens[0]};
    warm.Feed(first, false);
    warm.Feed(first, false);
  }
  Session session(model, prompt + gen);
  IncoherentLinear::ResetProfile();
  IncoherentLinear::EnableProfiling(true);
  double t0 = Seconds();
  double cpu0 = CpuSeconds();
  std::span<const float> logits = session.Feed(tokens, /*all_logits=*/false);
  r.prompt_seconds = Seconds() - t0;
  r.prompt_cpu_seconds = CpuSeconds() - cpu0;
  IncoherentLinear::EnableProfiling(false);
  const IncoherentLinearProfile pp = IncoherentLinear::Profile();
  r.prompt_rotation_share = pp.rotate_seconds / r.prompt_seconds;
  r.prompt_quant_matmul_share = pp.matmul_seconds / r.prompt_seconds;

  IncoherentLinear::ResetProfile();
  IncoherentLinear::EnableProfiling(true);
  t0 = Seconds();
  cpu0 = CpuSeconds();
  for (int i = 0; i < gen; ++i) {
    const int next[] = {ArgMax(logits)};
    logits = session.Feed(next, false);
  }
  r.decode_seconds = Seconds() - t0;
  r.decode_cpu_seconds = CpuSeconds() - cpu0;
  IncoherentLinear::EnableProfiling(false);
  const IncoherentLinearProfile p = IncoherentLinear::Profile();
  r.rotation_share = p.rotate_seconds / r.decode_seconds;
  r.quant_matmul_share = p.matmul_seconds / r.decode_seconds;

  r.prompt_tps = prompt / r.prompt_seconds;
  r.decode_tps = gen / r.decode_seconds;
  r.decode_gbps = double(r.weight_bytes_per_token) * r.decode_tps * 1e-9;
  return r;
}

}  // namespace quip
