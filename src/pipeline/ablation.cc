#include "pipeline/ablation.h"

#include <fmt/core.h>

#include <chrono>
#include <filesystem>

#include "pipeline/load.h"
#include "pipeline/calibration.h"
#include "pipeline/methods.h"
#include "pipeline/quantize_model.h"
#include "text/perplexity.h"
#include "text/text_file.h"

namespace quip {

std::vector<AblationRow> PaperAblationRows() {
  auto row = [](std::string name, std::string group, std::string method) {
    AblationRow r{std::move(name), std::move(group), method, ConfigForMethod(method, 2)};
    return r;
  };
  std::vector<AblationRow> rows = {row("Near", "method", "near"),       row("Near+IncP", "method", "near-incp"),
                                   row("OPTQ", "method", "optq"),       row("LDLQ-RG", "method", "ldlq-rg"),
                                   row("QuIP", "method", "quip"),       row("QuIP-RG", "method", "quip-rg"),
                                   row("rescale only", "sub-step", "ldlq"), row("incoherence only", "sub-step", "ldlq"),
                                   row("both + range tuning", "sub-step", "quip"),
                                   row("QuIP#", "method", "quipsharp"),
                                   row("RHT-scalar", "quipsharp", "quip"),
                                   row("Kron-E8P", "quipsharp", "quipsharp"),
                                   row("QuIP# + seq", "targets", "quipsharp"),
                                   row("QuIP# + asym", "targets", "quipsharp"),
                                   row("QuIP + asym", "targets", "quip"),
                                   row("QTIP", "method", "qtip"),
                                   row("QTIP + asym", "targets", "qtip"),
                                   row("QTIP 3INST + asym", "qtip", "qtip"),
                                   row("QTIP HYB + asym", "qtip", "qtip")};
  rows[6].config.rescale = true;          // D-tilde, per-row min/max grid, no rotation
  rows[7].config.incoherence = true;      // rotation and one-scale grid, no D-tilde (= Kron-scalar)
  rows[8].config.range_tuning = true;     // QuIP with rho searched per matrix
  // QuIP#'s parts one at a time against "incoherence only" (Kron-scalar, no D-tilde):
  rows[10].config.rescale = false;        // Hadamard instead of Kronecker, scalar grid
  rows[10].config.rotation = RotationKind::kRht;
  rows[11].config.rotation = RotationKind::kKron;  // E8P (+RVQ) with the Kronecker rotation
  rows[12].targets = CalibrationTargets::kSequential;
  rows[13].targets = CalibrationTargets::kOriginal;
  rows[14].targets = CalibrationTargets::kOriginal;
  // QTIP (1MAD by default) with the paper's and with our targets, and its other codes.
  for (int i = 16; i <= 18; ++i) rows[i].targets = CalibrationTargets::kOriginal;
  rows[17].config.trellis_code = trellis::Code::k3Inst;
  rows[18].config.trellis_code = trellis::Code::kHyb;
  return rows;
}

nlohmann::json RunAblation(const AblationOptions& o, const std::function<void(const std::string&)>& log) {
  Model fp32 = LoadModel(o.model);
  const auto tokenizer = LoadTokenizer(fp32);
  const auto windows = SampleCalibrationWindowsFromText(ReadTextFile(o.calib), *tokenizer, o.nsamples, o.ctx,
                                                        fp32.config.bos_id, o.seed, o.calib)
                           .windows;
  struct Eval {
    std::string path;
    std::vector<int> tokens;
    double fp32_ppl;
  };
  std::vector<Eval> evals;
  nlohmann::json eval_json = nlohmann::json::array();
  for (const auto& path : o.evals) {
    Eval e{path, tokenizer->Encode(ReadTextFile(path)), 0.0};
    const PerplexityResult r = EvaluatePerplexity(fp32, e.tokens, o.ctx, o.eval_windows, path);
    e.fp32_ppl = r.ppl;
    eval_json.push_back({{"text", path}, {"fp32_ppl", r.ppl}, {"tokens", r.tokens}, {"windows", r.windows}});
    log(fmt::format("fp32 ppl {:.4f} on {} ({} tokens)", r.ppl, path, r.tokens));
    evals.push_back(std::move(e));
  }

  nlohmann::json runs = nlohmann::json::array();
  for (const AblationRow& row : PaperAblationRows()) {
    if (!o.only.empty() && std::find(o.only.begin(), o.only.end(), row.name) == o.only.end()) continue;
    for (int bits : o.bits) {
      QuantConfig config = row.config;
      config.bits = bits;
      config.seed = o.seed;
      Model model = LoadModel(o.model);  // fresh fp32 weights (memory-mapped, cheap)
      const nlohmann::json report = QuantizeModel(model, windows, {config, row.method, {}, row.targets});
      nlohmann::json run{{"name", row.name},
                         {"group", row.group},
                         {"method", row.method},
                         {"targets", CalibrationTargetsName(row.targets)},
                         {"bits", bits},
                         {"rho", report["rho"]},
                         {"bits_per_linear_weight", report["bits_per_linear_weight"]},
                         {"quantize_seconds", report["seconds"]["total"]},
                         {"ppl", nlohmann::json::object()},
                         {"ratio", nlohmann::json::object()}};
      for (const Eval& e : evals) {
        const double ppl = EvaluatePerplexity(model, e.tokens, o.ctx, o.eval_windows, e.path).ppl;
        run["ppl"][e.path] = ppl;
        run["ratio"][e.path] = ppl / e.fp32_ppl;
      }
      log(fmt::format("{:<20} {} bits: {}", row.name, bits, run["ratio"].dump()));
      runs.push_back(std::move(run));
    }
  }
  return {{"model", o.model},
          {"calib", o.calib},
          {"nsamples", o.nsamples},
          {"ctx", o.ctx},
          {"eval_windows", o.eval_windows},
          {"seed", o.seed},
          {"evals", eval_json},
          {"runs", runs}};
}

std::string AblationMarkdown(const nlohmann::json& r) {
  std::vector<int> bits;
  std::vector<std::string> names;
  for (const auto& run : r["runs"]) {
    if (std::find(bits.begin(), bits.end(), run["bits"].get<int>()) == bits.end()) bits.push_back(run["bits"]);
    if (std::find(names.begin(), names.end(), run["name"].get<std::string>()) == names.end())
      names.push_back(run["name"]);
  }
  std::sort(bits.rbegin(), bits.rend());
  std::string md;
  for (const auto& eval : r["evals"]) {
    const std::string text = eval["text"];
    md += fmt::format("\n**{}** on `{}` (ctx {}, {} scored tokens), fp32 ppl {:.3f}; cells: ppl (ratio to fp32)\n\n",
                      std::filesystem::path(r["model"].get<std::string>()).filename().string(),
                      std::filesystem::path(text).filename().string(), r["ctx"].get<int>(),
                      eval["tokens"].get<int64_t>(), eval["fp32_ppl"].get<double>());
    md += "| configuration |";
    for (int b : bits) md += fmt::format(" {} bits |", b);
    md += "\n|---|";
    for (size_t i = 0; i < bits.size(); ++i) md += "---|";
    md += "\n";
    for (const auto& name : names) {
      md += "| " + name + " |";
      for (int b : bits) {
        std::string cell = " – |";
        for (const auto& run : r["runs"])
          if (run["name"] == name && run["bits"] == b)
            cell = fmt::format(" {:.3f} ({:.3f}) |", run["ppl"][text].get<double>(), run["ratio"][text].get<double>());
        md += cell;
      }
      md += "\n";
    }
  }
  return md;
}

}  // namespace quip
