#include "pipeline/quantize_model.h"

#include <fmt/core.h>
#include <malloc.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/parallel.h"
#include "core/phase_profile.h"
#include "core/resources.h"
#include "model/forward.h"
#include "model/incoherent_linear.h"
#include "pipeline/calibration_memory.h"
#include "pipeline/calibration_streams.h"
#include "pipeline/linear_exchange.h"
#include "pipeline/methods.h"
#include "quant/hessian.h"
#include "quant/pack.h"

namespace quip {

bool LinearNameMatches(const std::string& name, const std::string& pattern) {
  if (pattern.empty() || pattern.size() > name.size()) return false;
  if (name.compare(name.size() - pattern.size(), pattern.size(), pattern) != 0) return false;
  return pattern.size() == name.size() || name[name.size() - pattern.size() - 1] == '.';
}

const char* CalibrationTargetsName(CalibrationTargets t) {
  switch (t) {
    case CalibrationTargets::kBlock: return "block";
    case CalibrationTargets::kSequential: return "sequential";
    case CalibrationTargets::kOriginal: return "original";
  }
  return "?";
}

CalibrationTargets ParseCalibrationTargets(const std::string& name) {
  for (CalibrationTargets t : {CalibrationTargets::kBlock, CalibrationTargets::kSequential, CalibrationTargets::kOriginal})
    if (name == CalibrationTargetsName(t)) return t;
  Fail("--targets", "unknown value '{}' (expected block, sequential or original)", name);
}

std::vector<std::vector<LinearInput>> CalibrationStages(CalibrationTargets t) {
  if (t == CalibrationTargets::kBlock) return {{LinearInput::kQkv, LinearInput::kO, LinearInput::kGateUp, LinearInput::kDown}};
  return {{LinearInput::kQkv}, {LinearInput::kO}, {LinearInput::kGateUp}, {LinearInput::kDown}};
}

std::unique_ptr<Linear> MakeQuantizedLinear(const QuantizedMatrix& q) {
  return std::make_unique<IncoherentLinear>(PackQuantizedMatrix(q));
}

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

void TouchView(const TensorView& t) {
  if (t.data != nullptr) TouchPages(t.data, size_t(t.numel()) * sizeof(float));
}

void TouchModelWeights(const Model& model) {
  const auto touch_linear = [](const Linear* l) {
    if (const TensorView* w = l ? l->dense_weight() : nullptr) TouchView(*w);
  };
  TouchView(model.token_embedding);
  for (const LayerWeights& w : model.layers)
    for (const Linear* l : w.linears()) touch_linear(l);
  touch_linear(model.lm_head.get());
}

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

// One linear rounded against its inputs' Hessian h: the source weight itself or, given
// the cross moments, the weight fitted to the original model's outputs -- by the input's
// shared map C·H⁻¹ when the stage formed one (`map`), else on its own.
std::unique_ptr<Linear> QuantizeLinear(const TensorView& weight, const Eigen::MatrixXd& h, const Eigen::MatrixXd* cross,
                                       const Eigen::MatrixXd* map, const QuantConfig& config, QuantStats* stats) {
  const int rows = int(weight.shape.at(0)), cols = int(weight.shape.at(1));
  using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  RowMatF target = Eigen::Map<const RowMatF>(weight.data, rows, cols);
  if (map) {
    ScopedPhase phase("asymmetric_target", 2.0 * rows * cols * cols);  // W·A, one DGEMM
    target = ApplyAsymmetricMap(target.cast<double>(), *map).cast<float>();
  } else if (cross) {
    // LDLᵀ of H (n³/3), Cᵀ·Wᵀ (2mn²) and two triangular solves for m right-hand sides (mn² each).
    ScopedPhase phase("asymmetric_target", double(cols) * cols * cols / 3 + 4.0 * rows * cols * cols);
    target = AsymmetricTarget(target.cast<double>(), *cross, h, config.damping).cast<float>();
  }
  const QuantizedMatrix q = QuantizeMatrix(target.data(), rows, cols, h, config, stats);
  ScopedPhase phase("postprocess");  // the inference layer built from the codes
  return MakeQuantizedLinear(q);
}

// The report's record of the settings.
nlohmann::json RunSettings(const std::vector<std::vector<int>>& windows, const QuantizeModelOptions& options) {
  const QuantConfig& q = options.config;
  return {{"method", options.method},
          {"bits", q.bits},
          {"rounding", RoundingName(q.rounding)},
          {"incoherence", q.incoherence ? RotationName(q.rotation) : "none"},  // as asked; "linears" says what each stored
          {"codebook", CodebookName(q.codebook)},
          {"code", q.codebook == Codebook::kTrellis ? nlohmann::json(trellis::CodeName(q.trellis_code)) : nullptr},
          {"rescale", q.rescale},
          {"range_tuning", q.range_tuning},
          {"damping", q.damping},
          {"rho", q.rho > 0                              ? q.rho
                  : q.codebook == Codebook::kE8P     ? DefaultE8PRho(q.bits)
                  : q.codebook == Codebook::kTrellis ? DefaultTrellisRho(q.bits, q.trellis_code)
                                                     : DefaultRho(q.bits)},
          {"seed", q.seed},
          {"mu_h_max_cols", q.mu_h_max_dim},  // linears wider than this have mu_h_before/after null
          {"calibration",
           {{"windows", windows.size()}, {"ctx", windows.at(0).size()}, {"targets", CalibrationTargetsName(options.targets)}}}};
}

// Index into kBlockLinears of the linear `name` of block `prefix`; throws naming `where` otherwise.
int BlockLinearIndex(const std::string& prefix, const std::string& name, const std::string& where) {
  for (int i = 0; i < int(std::size(kBlockLinears)); ++i)
    if (name == prefix + kBlockLinears[i].suffix) return i;
  Fail(where, "holds '{}', not a linear of {}", name, prefix.substr(0, prefix.size() - 1));
}

nlohmann::json BlockTuneSettings(const train::BlockTuneOptions& o) {
  return {{"steps", o.steps}, {"lr", o.lr}, {"valid_windows", o.valid_windows}, {"eval_every", o.eval_every},
          {"target", o.original_stream ? "original" : "block"}};
}

// --block-tune on block `l`, whose linears are rounded: tuned on the quantized stream at its
// input, which the stream is rewound to so that Advance runs the tuned block. The report entry.
nlohmann::json TuneRoundedBlock(Model& model, int l, const LayerWeights& original, CalibrationStreams& streams,
                                std::vector<float> block_input, int windows, int length,
                                const train::BlockTuneOptions& o) {
  ScopedPhase phase("block_tune", 0, ScopedPhase::Clock::kWall);
  const train::BlockTuneResult r =
      train::TuneBlock(model.config, model.layers[l], original, block_input,
                       o.original_stream ? std::span<const float>(streams.OriginalBlockOutput()) : std::span<const float>(),
                       windows, length, o, model.owners, "model.layers." + std::to_string(l) + ".");
  streams.Rewind(std::move(block_input));
  return {{"layer", l}, {"mse_before", r.mse_before}, {"mse_after", r.mse_after},
          {"target_mean_square", r.target_mean_square}, {"best_step", r.best_step}, {"seconds", r.seconds}};
}

// --resume with --block-tune: a tuned block's norms (the linears travel in the block's
// checkpoint) and its report entry. Floats as JSON numbers read back to the same bits.
nlohmann::json TunedNormsRecord(const LayerWeights& layer, const nlohmann::json& report) {
  auto values = [](const TensorView& t) { return std::vector<float>(t.data, t.data + t.numel()); };
  return {{"attn_norm", values(layer.attn_norm)}, {"ffn_norm", values(layer.ffn_norm)}, {"report", report}};
}

nlohmann::json RestoreTunedNorms(const nlohmann::json& record, LayerWeights& layer, std::vector<StorageOwner>& owners,
                                 const std::string& where) {
  QUIP_CHECK_INPUT(record.is_object() && record.contains("attn_norm") && record.contains("ffn_norm") &&
                       record.contains("report"),
                   where, "has no tuned norms next to it (remove the checkpoint folder and rerun)");
  for (auto [key, slot] : {std::pair{"attn_norm", &layer.attn_norm}, std::pair{"ffn_norm", &layer.ffn_norm}}) {
    std::vector<float> v = record.at(key).get<std::vector<float>>();
    QUIP_CHECK_INPUT(int64_t(v.size()) == slot->numel(), where, "{} has {} values, the model {}", key, v.size(),
                     slot->numel());
    *slot = OwnFloats(std::move(v), slot->shape, owners);
  }
  return record.at("report");
}

}  // namespace

nlohmann::json CheckpointRun(const Model& model, const std::vector<std::vector<int>>& windows,
                             const QuantizeModelOptions& options) {
  uint64_t tokens = 1469598103934665603ull;  // FNV-1a over every token id
  for (const auto& w : windows)
    for (int t : w) tokens = (tokens ^ uint64_t(uint32_t(t))) * 1099511628211ull;
  nlohmann::json overrides = nlohmann::json::array();
  for (const BitsOverride& o : options.bits_overrides) overrides.push_back({o.pattern, o.bits});
  const LlamaConfig& c = model.config;
  nlohmann::json run = {{"model", model.source},
          {"shape", {c.n_layers, c.dim, c.hidden_dim, c.n_heads, c.n_kv_heads, c.vocab_size}},
          {"settings", RunSettings(windows, options)},
          {"rounding_passes", options.config.rg_passes},
          {"clip", options.config.clip_before_rounding},
          {"rho2", options.config.rho2},
          {"bits_for", overrides},
          {"tokens_fnv1a", tokens}};
  if (options.block_tune.steps > 0) run["block_tune"] = BlockTuneSettings(options.block_tune);
  return run;
}

LinearStorage MeasureLinearStorage(const Model& model) {
  LinearStorage s;
  for (const auto& layer : model.layers)
    for (const BlockLinear& b : kBlockLinears) {
      if (!(layer.*b.slot)) continue;  // not in this architecture
      const Linear& l = *(layer.*b.slot);
      s.weights += int64_t(l.out_features()) * l.in_features();
      s.bytes += l.WeightBytes();
    }
  return s;
}

nlohmann::json QuantizeModel(Model& model, const std::vector<std::vector<int>>& windows,
                             const QuantizeModelOptions& options, const LayerProgressFn& progress) {
  const auto start = Clock::now();
  const LlamaConfig& c = model.config;
  QUIP_ASSERT(!windows.empty());
  const int length = int(windows[0].size());

  for (const BitsOverride& o : options.bits_overrides) {  // fail before any work
    QUIP_CHECK_INPUT(o.bits >= 2 && o.bits <= 4, "--bits-for", "{}: bits must be 2, 3 or 4, got {}", o.pattern, o.bits);
    bool used = false;
    for (int l = 0; l < c.n_layers && !used; ++l)
      for (const BlockLinear& b : kBlockLinears)
        used = used || (BlockHasLinear(c, b) && LinearNameMatches("model.layers." + std::to_string(l) + "." + b.suffix, o.pattern));
    QUIP_CHECK_INPUT(used, "--bits-for", "'{}' matches no linear layer (names look like "
                     "model.layers.0.self_attn.v_proj; give a suffix such as v_proj or layers.0.mlp.down_proj)",
                     o.pattern);
  }

  // The estimate the run was checked with, and the resident set it starts from: the report
  // then shows the estimate next to peak_rss_bytes - rss_at_start_bytes (pipeline/calibration_memory.h).
  // The heap blocks freed before (~25 MB after loading books-llama-5m and tokenizing) go back to
  // the system first, so that the start counts live memory only.
  const int64_t memory_estimate =
      EstimateCalibrationMemory(c, int64_t(windows.size()), length, options, WorkerThreads()).total();
  ::malloc_trim(0);
  // The loader dropped the checked weights' mapped pages (core/mapped_file.h); the first
  // calibration forward reads every one of them again, so they are faulted in here and the
  // start counts them, as the estimate (which covers what calibration adds) assumes.
  TouchModelWeights(model);
  const int64_t rss_at_start = CurrentRssBytes();
  ReuseFreedMemory();  // after the trim: big matrices reuse freed heap instead of fresh pages
  const bool asymmetric = options.targets == CalibrationTargets::kOriginal;
  ProcessGroup& group = options.group ? *options.group : SingleProcess();
  CalibrationStreams streams(model, windows, asymmetric, group);
  nlohmann::json bytes_sent_per_block = nlohmann::json::array();  // this rank's, with several processes

  const std::vector<std::vector<LinearInput>> stages = CalibrationStages(options.targets);

  double capture_s = 0, quantize_s = 0, propagate_s = 0;
  int64_t most_moment_bytes = 0;  // the most bytes of a stage's moment means this rank held
  nlohmann::json linears = nlohmann::json::array();
  nlohmann::json tuned_blocks = nlohmann::json::array();  // --block-tune's per-block record
  const bool block_tune = options.block_tune.steps > 0;
  QUIP_CHECK_INPUT(!block_tune || group.size() == 1, "--block-tune", "runs in one process only, not {}", group.size());
  QUIP_CHECK_INPUT(!block_tune || !options.block_tune.original_stream || asymmetric, "--block-tune-target",
                   "original needs the original stream of --targets original");
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights& layer = model.layers[l];
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    const LayerWeights original = OriginalBlock(layer, prefix);
    const int64_t bytes_sent_before_block = group.bytes_sent();

    // --resume: a finished block's linears from rank 0's checkpoint; only its forward pass runs.
    QUIP_ASSERT(!options.resume || group.rank() != 0 || options.checkpoints);
    std::vector<uint8_t> saved;
    if (options.resume && group.rank() == 0) saved = options.checkpoints->Load(l);
    if (options.resume) group.Broadcast(saved, 0);
    if (!saved.empty()) {
      const std::string where = fmt::format("the checkpoint of block {}", l);
      std::vector<RoundedLinear> done = UnpackRoundedLinears(saved, where);
      QUIP_CHECK_INPUT(done.size() == size_t(BlockLinearCount(c)), where, "holds {} linears, expected {}", done.size(),
                       BlockLinearCount(c));
      for (RoundedLinear& r : done) {
        layer.*kBlockLinears[BlockLinearIndex(prefix, r.name, where)].slot = std::move(r.linear);
        linears.push_back(std::move(r.report));
      }
      if (block_tune) tuned_blocks.push_back(RestoreTunedNorms(options.checkpoints->LoadTuning(l), layer, model.owners, where));
      streams.Advance(layer, original);
      bytes_sent_per_block.push_back(group.bytes_sent() - bytes_sent_before_block);
      if (progress) progress(l + 1, c.n_layers);
      continue;
    }

    std::vector<float> block_input;
    if (block_tune) block_input = streams.BlockInput();
    for (const std::vector<LinearInput>& stage : stages) {
      // The stage's linears, and the rank that rounds each: with several processes each rank
      // rounds its share (pipeline/process_group.h AssignToProcesses) and sends it.
      struct Job {
        int index;  // into kBlockLinears
        int bits;
        RoundedLinear rounded;
      };
      std::vector<Job> jobs;
      std::vector<double> costs;
      for (int i = 0; i < int(std::size(kBlockLinears)); ++i) {
        if (std::find(stage.begin(), stage.end(), kBlockLinears[i].input) == stage.end()) continue;
        if (!BlockHasLinear(c, kBlockLinears[i])) continue;
        Job job{i, options.config.bits, {prefix + kBlockLinears[i].suffix, nullptr, {}}};
        for (const BitsOverride& o : options.bits_overrides)
          if (LinearNameMatches(job.rounded.name, o.pattern)) job.bits = o.bits;
        const Linear& weight = *(original.*kBlockLinears[i].slot);
        const double rows = weight.out_features(), cols = weight.in_features();
        costs.push_back(rows * cols * cols + cols * cols * cols / 3);  // LDLQ and the factorization of H
        jobs.push_back(std::move(job));
      }
      const std::vector<int> owner = AssignToProcesses(costs, group.size());
      // Each input's moments go only to the ranks that round one of its linears.
      MomentReceivers receivers;
      for (size_t j = 0; j < jobs.size(); ++j) {
        std::vector<int>& to = receivers[int(kBlockLinears[jobs[j].index].input)];
        if (std::find(to.begin(), to.end(), owner[j]) == to.end()) to.push_back(owner[j]);
      }
      for (std::vector<int>& to : receivers) std::sort(to.begin(), to.end());

      // 1. The stage's Hessians (and cross moments), from the quantized stream.
      auto t0 = Clock::now();
      const InputMoments moments = [&] {
        ScopedPhase phase("calibration_capture", 0, ScopedPhase::Clock::kWall);
        return streams.Capture(layer, original, stage, receivers);
      }();
      capture_s += Seconds(t0);
      int64_t moment_bytes = 0;
      for (int i = 0; i < kNumLinearInputs; ++i) moment_bytes += (moments.hessian[i].size() + moments.cross[i].size()) * 8;
      most_moment_bytes = std::max(most_moment_bytes, moment_bytes);

      // 2. Quantize this rank's linears of the stage; independent, so they run in parallel.
      t0 = Clock::now();
      std::vector<size_t> mine;
      for (size_t j = 0; j < jobs.size(); ++j)
        if (owner[j] == group.rank()) mine.push_back(j);
      // The asymmetric fit's map C·H⁻¹ once per input where its linears together make that
      // cheaper (q/k/v, gate/up; quant/hessian.h ShareAsymmetricMap). The choice counts all of
      // the stage's linears, whichever rank rounds them, so every rank fits the same targets.
      std::array<Eigen::MatrixXd, kNumLinearInputs> maps;
      if (asymmetric)
        for (int input = 0; input < kNumLinearInputs; ++input) {
          int64_t rows = 0;
          int count = 0;
          bool here = false;
          for (size_t j = 0; j < jobs.size(); ++j)
            if (int(kBlockLinears[jobs[j].index].input) == input) {
              rows += (original.*kBlockLinears[jobs[j].index].slot)->out_features();
              ++count;
              here = here || owner[j] == group.rank();
            }
          const int n = int(moments.hessian[input].cols());
          if (!here || count == 0 || !ShareAsymmetricMap(rows, count, n)) continue;
          ScopedPhase phase("asymmetric_target", double(n) * n * n / 3 + 2.0 * n * n * n);  // DPOTRF, two DTRSM
          maps[input] = AsymmetricMap(moments.cross[input], moments.hessian[input], options.config.damping);
        }
      std::optional<ScopedPhase> quantize_phase(std::in_place, "quantize_linears", 0, ScopedPhase::Clock::kWall);
      ParallelFor(int64_t(mine.size()), [&](int64_t m) {
        Job& job = jobs[mine[size_t(m)]];
        const auto job_start = Clock::now();
        const LinearInput input = kBlockLinears[job.index].input;
        const auto& dense = static_cast<const DenseLinear&>(*(original.*kBlockLinears[job.index].slot));
        QuantConfig config = options.config;
        // Linears that share an input share their seed, so also V: inference can rotate
        // that input once for all of them.
        config.seed = LayerSeed(options.config.seed, prefix + LinearInputName(input));
        config.bits = job.bits;
        QuantStats stats{};
        try {
          job.rounded.linear = QuantizeLinear(dense.weight(), moments.hessian[int(input)],
                                              asymmetric ? &moments.cross[int(input)] : nullptr,
                                              maps[int(input)].size() > 0 ? &maps[int(input)] : nullptr, config, &stats);
        } catch (const Error& e) {
          Fail(model.source, "{}: {}", job.rounded.name, e.what());  // name the tensor, e.g. NaN in its weight
        }
        const StoredLinear* stored = job.rounded.linear->stored_linear();
        QUIP_ASSERT(stored != nullptr);
        job.rounded.report = {{"name", job.rounded.name},
                              {"bits", stored->bits},
                              {"codebook", CodebookName(stored->codebook)},
                              {"incoherence", stored->incoherence.Name()},  // as stored: rht may fall back to kron
                              {"rows", job.rounded.linear->out_features()},
                              {"cols", job.rounded.linear->in_features()},
                              {"relative_proxy_loss", stats.relative_proxy_loss},
                              {"proxy_loss", stats.proxy_loss},
                              {"mu_h_before", stats.mu_h_before},
                              {"mu_h_after", stats.mu_h_after},
                              {"mu_w_before", stats.mu_w_before},
                              {"mu_w_after", stats.mu_w_after},
                              {"seconds", Seconds(job_start)},
                              {"note", stats.note}};
      });
      quantize_phase.reset();
      if (group.size() > 1) {
        std::vector<RoundedLinear> rounded;
        for (Job& job : jobs) rounded.push_back(std::move(job.rounded));
        ShareRoundedLinears(group, rounded, owner);
        for (size_t j = 0; j < jobs.size(); ++j) jobs[j].rounded = std::move(rounded[j]);
      }
      for (Job& job : jobs) {
        const std::string note = job.rounded.report.at("note").get<std::string>();
        if (!note.empty() && group.rank() == 0) fmt::print(stderr, "quip: note: {}: {}\n", job.rounded.name, note);
        layer.*kBlockLinears[job.index].slot = std::move(job.rounded.linear);
        linears.push_back(std::move(job.rounded.report));
      }
      quantize_s += Seconds(t0);
    }

    if (block_tune) {
      tuned_blocks.push_back(TuneRoundedBlock(model, l, original, streams, std::move(block_input), int(windows.size()),
                                              length, options.block_tune));
      if (options.resume) options.checkpoints->SaveTuning(l, TunedNormsRecord(layer, tuned_blocks.back()));
    }
    if (options.resume && group.rank() == 0) {  // the block's linears in the order the report lists them
      std::vector<LinearRef> refs;
      for (size_t k = linears.size() - BlockLinearCount(c); k < linears.size(); ++k) {
        const std::string& name = linears[k]["name"].get_ref<const std::string&>();
        refs.push_back({name, *(layer.*kBlockLinears[BlockLinearIndex(prefix, name, "quant_report")].slot), linears[k]});
      }
      options.checkpoints->Save(l, PackRoundedLinears(refs));
    }

    // 3. Outputs of the quantized block feed the next one (the original block's, the original stream).
    auto t0 = Clock::now();
    {
      ScopedPhase phase("calibration_propagate", 0, ScopedPhase::Clock::kWall);
      streams.Advance(layer, original);
    }
    propagate_s += Seconds(t0);
    bytes_sent_per_block.push_back(group.bytes_sent() - bytes_sent_before_block);
    if (progress) progress(l + 1, c.n_layers);
  }

  const LinearStorage storage = MeasureLinearStorage(model);
  nlohmann::json report = RunSettings(windows, options);
  report.update({{"seconds", {{"capture_hessians", capture_s}, {"quantize", quantize_s}, {"propagate", propagate_s},
                       {"total", Seconds(start)}}},
          {"linear_bytes", storage.bytes},
          {"linear_weights", storage.weights},
          {"bits_per_linear_weight", storage.bits_per_weight()},
          {"peak_rss_bytes", PeakRssBytes()},
          {"rss_at_start_bytes", rss_at_start},
          {"memory_estimate_bytes", memory_estimate},
          {"linears", linears}});
  if (block_tune) {
    report["block_tune"] = BlockTuneSettings(options.block_tune);
    report["block_tune"]["blocks"] = tuned_blocks;
  }
  if (group.size() > 1) {
    // Measurements of the distributed run (docs/scale-out.md): every rank's peak RSS and bytes sent.
    const std::vector<std::vector<double>> rss =
        group.AllGather({double(PeakRssBytes()), double(group.bytes_sent()), double(most_moment_bytes)});
    nlohmann::json peaks = nlohmann::json::array(), sent = nlohmann::json::array(), moments = nlohmann::json::array();
    for (const auto& r : rss) peaks.push_back(int64_t(r[0])), sent.push_back(int64_t(r[1])), moments.push_back(int64_t(r[2]));
    report["distributed"] = {{"ranks", group.size()}, {"peak_rss_bytes_per_rank", peaks},
                             {"bytes_sent_per_rank", sent}, {"rank0_bytes_sent_per_block", bytes_sent_per_block},
                             {"stage_moment_bytes_per_rank", moments}};
  }
  return report;
}

}  // namespace quip
