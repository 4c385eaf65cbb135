#include "pipeline/calibration_memory.h"

#include <fmt/core.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "pipeline/calibration_streams.h"
#include "pipeline/window_sum.h"

namespace quip {
namespace {

constexpr int64_t kFloat = 4, kDouble = 8;
// Tokens HessianAccumulator / CrossMomentAccumulator convert to double per rank-k update
// (kChunk in quant/hessian.cc).
constexpr int64_t kAccumulatorChunkTokens = 256;
// Double matrices one linear's rounding holds at once, n×n and rows×cols, counted on the
// default paths (QuantizeLinear, QuantizeMatrix, ComputeLdl, RoundLdlq) in its two fullest
// moments: factoring H (H, its symmetrized copy h_orig, H in the transformed basis, and
// ComputeLdl's flipped copy, LLT, factor and U; the fitted float target, w_orig, W, W in
// the transformed basis) and rounding (H, h_orig, transformed H, U; target, w_orig, W,
// transformed W, grid units, codes, error, feedback target).
struct RoundingMatrices {
  int64_t square, weight;
};
constexpr RoundingMatrices kFactoringH{7, 4}, kRoundingColumns{4, 8};
// LDLQ-RG also holds the permuted input and GreedyRefine's transposed error, gradient and codes.
constexpr int64_t kGreedyRefineWeightMatrices = 4;
// The rest: heap fragmentation and the pages OpenBLAS's own per-thread buffers touch
// (packing panels; mapped by OpenBLAS, not malloc), a fixed part and one per thread.
// quip runs with one malloc arena for every thread (core/resources.h ShareOneMallocArena), so
// a block freed by a rounding or calibration thread is reused by the next allocation of any
// thread: no arena keeps a finished job's matrices, and nothing per thread is counted for the
// heap. Measured on books-llama-5m (tests/pipeline/calibration_memory_test.cc), the counted
// structures alone came to 0.97-1.03x the peak RSS growth (8 x 128 and 16 x 256, 1 and 2
// threads); 2 threads grew 13.7 / 20.6 MB more than 1 where the counted per-thread
// structures add 14.9 / 17.3 MB.
constexpr int64_t kSlackBytes = int64_t{8} << 20, kSlackPerThreadBytes = int64_t{4} << 20;

// Output features of a block linear.
int64_t RowsOf(const LlamaConfig& c, const BlockLinear& b) {
  if (b.input == LinearInput::kO || b.input == LinearInput::kDown) return c.dim;
  if (b.slot == &LayerWeights::gate_up) return 2 * int64_t{c.hidden_dim};
  if (b.input == LinearInput::kGateUp) return c.hidden_dim;
  if (b.slot == &LayerWeights::qkv) return c.q_dim() + 2 * int64_t{c.kv_dim()};
  return b.slot == &LayerWeights::q ? c.q_dim() : c.kv_dim();
}

int BitsOf(const std::string& name, const QuantizeModelOptions& options) {
  int bits = options.config.bits;
  for (const BitsOverride& o : options.bits_overrides)
    if (LinearNameMatches(name, o.pattern)) bits = o.bits;
  return bits;
}

// Packed codes (at most a byte of padding per row), per-row scales/zeros and per-column
// rescale (and its inverse) of every linear.
int64_t QuantizedLinearBytes(const LlamaConfig& c, const QuantizeModelOptions& options) {
  int64_t bytes = 0;
  for (int l = 0; l < c.n_layers; ++l)
    for (const BlockLinear& b : kBlockLinears) {
      if (!BlockHasLinear(c, b)) continue;
      const int64_t rows = RowsOf(c, b), cols = LinearInputWidth(c, b.input);
      const int bits = BitsOf("model.layers." + std::to_string(l) + "." + b.suffix, options);
      bytes += (rows * cols * bits + 7) / 8 + rows * (2 * kFloat + 1) + cols * 2 * kFloat;
    }
  return bytes;
}

}  // namespace

std::string CalibrationMemory::Breakdown() const {
  return fmt::format("residual streams {} + worker buffers {} + per-thread scratch {} + {} {} + quantized linears {} + "
                     "allocator slack {}",
                     FormatBytes(streams), FormatBytes(shards), FormatBytes(per_thread), stage_name,
                     FormatBytes(stage), FormatBytes(quantized), FormatBytes(slack));
}

CalibrationMemory EstimateCalibrationMemory(const LlamaConfig& c, int64_t windows, int64_t ctx,
                                            const QuantizeModelOptions& options, int threads) {
  const bool asymmetric = options.targets == CalibrationTargets::kOriginal;
  const int64_t streams = asymmetric ? 2 : 1;  // x, and x_orig
  const int64_t pool = std::max(threads, 1);
  const int64_t workers = std::clamp<int64_t>(windows, 1, pool);  // threads running calibration windows at once
  // Sums alive during a capture: the windows in flight, and the completed tree nodes that
  // wait for their sibling, about one per level of the tree (pipeline/window_sum.h).
  const int64_t levels = WindowTreeRoot(std::max<int64_t>(windows, 1)).level;
  const int64_t sums = workers + levels;
  const int64_t d = c.dim, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim;
  int64_t widest = 0;
  for (const BlockLinear& b : kBlockLinears) widest = std::max<int64_t>(widest, LinearInputWidth(c, b.input));

  CalibrationMemory m;
  m.streams = streams * windows * ctx * d * kFloat;
  if (options.targets != CalibrationTargets::kBlock) m.streams += windows * ctx * std::max(q, h) * kFloat;  // x's stopped activation
  const int64_t kv_cache = 2 * ctx * kv;                                                   // one layer
  const int64_t scratch = ctx * (d + q + 2 * kv + q + 2 * h + d) + int64_t(c.max_seq_len) * c.head_dim;  // + RoPE
  m.shards = workers * (kv_cache + scratch + ctx * d) * kFloat;
  m.per_thread = workers * (ctx * ctx * kFloat + streams * kAccumulatorChunkTokens * widest * kDouble);
  m.quantized = QuantizedLinearBytes(c, options);

  for (const std::vector<LinearInput>& stage : CalibrationStages(options.targets)) {
    int64_t squares = 0, largest_square = 0;  // Σ n² and max n² of the stage's inputs
    for (LinearInput in : stage) {
      const int64_t n = LinearInputWidth(c, in);
      squares += n * n;
      largest_square = std::max(largest_square, n * n);
    }
    const int64_t moments = streams * squares * kDouble;  // H (and C) per input
    const int64_t recorded = asymmetric ? workers * ctx * LinearInputWidth(c, stage.front()) * kFloat : 0;
    const int64_t capture = sums * moments + recorded + moments + largest_square * kDouble;

    std::vector<int64_t> jobs;
    for (const BlockLinear& b : kBlockLinears) {
      if (std::find(stage.begin(), stage.end(), b.input) == stage.end() || !BlockHasLinear(c, b)) continue;
      const int64_t n = LinearInputWidth(c, b.input);
      const int64_t square = n * n * kDouble, weight = RowsOf(c, b) * n * kDouble;
      int64_t job = 0;
      RoundingMatrices rounding = kRoundingColumns;
      if (options.config.rounding == Rounding::kLdlqRg) rounding.weight += kGreedyRefineWeightMatrices;
      for (const RoundingMatrices& p : {kFactoringH, rounding}) job = std::max(job, p.square * square + p.weight * weight);
      jobs.push_back(job);
    }
    std::sort(jobs.begin(), jobs.end(), std::greater<>());
    int64_t rounding = moments;
    for (size_t j = 0; j < jobs.size() && int64_t(j) < pool; ++j) rounding += jobs[j];

    std::string name;
    for (LinearInput in : stage) {
      if (!name.empty()) name += '+';
      name += LinearInputName(in);
    }
    if (capture > m.stage) m.stage = capture, m.stage_name = name + " capture";
    if (rounding > m.stage) m.stage = rounding, m.stage_name = name + " rounding";
  }
  m.slack = kSlackBytes + pool * kSlackPerThreadBytes;
  return m;
}

ResourceEstimate EstimateQuantize(const LlamaConfig& c, int64_t windows, int64_t ctx,
                                  const QuantizeModelOptions& options, int threads, int64_t tokenizer_bytes) {
  const CalibrationMemory calibration = EstimateCalibrationMemory(c, windows, ctx, options, threads);
  const int64_t weights = 4 * c.ParameterCount();
  ResourceEstimate e;
  e.task = "quantize";
  e.advice = "try fewer --nsamples, a shorter --ctx, fewer --threads or --targets sequential (one stream, no cross moments)";
  // The pool's workers (calibration forward) and ParallelFor's threads (one per linear
  // being rounded) both call BLAS; measured: stories260K at 2 threads hung under a
  // 600 MB limit with one buffer per thread counted.
  e.blas_threads = 2 * std::max(threads, 1);
  e.mapped_bytes = weights;  // the loaded fp32 model
  e.memory_bytes = weights + calibration.total();
  e.memory_breakdown = fmt::format("fp32 weights {} + calibration {}: {}", FormatBytes(weights),
                                   FormatBytes(calibration.total()), calibration.Breakdown());

  // Disk: embeddings, norms and an untied head stay fp32; linears become packed codes
  // with per-row scale/zero and a per-column rescale; headers, config, report, tokenizer.
  const int64_t d = c.dim, h = c.hidden_dim, q = c.q_dim(), kv = c.kv_dim();
  const int64_t linear_weights = int64_t(c.n_layers) * (d * q + 2 * d * kv + q * d + 3 * d * h);
  const int64_t dense = 4 * (int64_t(c.vocab_size) * d * (c.tied_embeddings ? 1 : 2) + (2 * int64_t(c.n_layers) + 1) * d);
  const int64_t per_row = int64_t(c.n_layers) * 4 * (2 * (q + 2 * kv + d + 2 * h + d) + 4 * d + q + h);
  const int64_t codes = linear_weights * options.config.bits / 8 + int64_t(c.n_layers) * 7 * d;  // + byte padding per row (bound)
  const int64_t metadata = 64 * 1024 + int64_t(c.n_layers) * 7 * 512;
  e.disk_bytes = dense + per_row + codes + metadata + tokenizer_bytes;
  e.disk_breakdown = fmt::format("fp32 embeddings, norms and head {} + packed linears {} + tokenizer and metadata {}",
                                 FormatBytes(dense), FormatBytes(codes + per_row), FormatBytes(metadata + tokenizer_bytes));
  return e;
}

}  // namespace quip
