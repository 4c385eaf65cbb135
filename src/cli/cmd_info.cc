// quip info --model DIR [--tensors]: what a user asks of a model first. For a folder
// written by `quip quantize`: method and bits, bits per weight as stored, sizes before
// and after, calibration settings and the quality figures of its quant_report.json;
// then the architecture. The tensor table only with --tensors.
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <optional>

#include "cli/commands.h"
#include "core/error.h"
#include "io/json_file.h"
#include "pipeline/load.h"
#include "pipeline/quantize_model.h"

namespace quip {

namespace {
namespace fs = std::filesystem;

// Bytes of the model on disk: the folder's regular files, or the one checkpoint file.
int64_t BytesOnDisk(const std::string& source) {
  std::error_code ec;
  if (!fs::is_directory(source, ec)) return int64_t(fs::file_size(source, ec));
  int64_t total = 0;
  for (const auto& entry : fs::directory_iterator(source, ec))
    if (entry.is_regular_file(ec)) total += int64_t(entry.file_size(ec));
  return total;
}

// report[pointer] as T, or nothing when absent or of another type: reports of older
// versions lack some keys, and a report is information, not part of the model.
template <class T>
std::optional<T> Get(const nlohmann::json& report, const std::string& pointer) {
  const nlohmann::json::json_pointer p(pointer);
  if (!report.contains(p)) return std::nullopt;
  try {
    return report.at(p).get<T>();
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::string Mb(double bytes) { return fmt::format("{:.2f} MB", bytes / 1e6); }

// The quantized folder's summary: config.json's quantization_config says how it was
// made; quant_report.json (when present and readable) adds calibration and quality.
void PrintQuantizedSummary(const Model& model) {
  const fs::path dir = model.source;
  nlohmann::json qc;
  try {
    qc = ReadJsonFile((dir / "config.json").string()).value("quantization_config", nlohmann::json::object());
  } catch (const Error&) {  // the loader read it already; nothing more to say here
  }
  nlohmann::json report;
  const std::string report_path = (dir / "quant_report.json").string();
  if (fs::exists(report_path)) {
    try {
      report = ReadJsonFile(report_path);
    } catch (const Error& e) {
      fmt::print(stderr, "quip: note: {}; its figures are left out\n", e.what());
    }
  }
  const auto method = Get<std::string>(qc, "/method");
  const auto bits = Get<std::string>(qc, "/bits");
  const auto version = Get<std::string>(qc, "/tool_version");
  fmt::print("method       {} at {} bits{}\n", method.value_or("?"), bits.value_or("?"),
             version ? fmt::format(" (quip {})", *version) : "");

  const LinearStorage linears = MeasureLinearStorage(model);
  const int64_t parameters = model.config.ParameterCount();
  int64_t stored = 0;
  for (const TensorRecord& t : model.tensors) stored += t.bytes;
  fmt::print("stored       {:.3f} bits per block-linear weight; {:.2f} bits per parameter over all tensors\n",
             linears.bits_per_weight(), 8.0 * double(stored) / double(parameters));
  const double linears_fp32 = 4.0 * double(linears.weights);
  fmt::print("size         block linears {} fp32 -> {} ({:.1f}x smaller)\n", Mb(linears_fp32), Mb(linears.bytes),
             linears_fp32 / double(std::max<int64_t>(linears.bytes, 1)));
  const auto source_bytes = Get<int64_t>(report, "/source_weight_bytes");
  fmt::print("             all weights {} {} -> {}; folder {}\n",
             Mb(source_bytes ? double(*source_bytes) : 4.0 * double(parameters)),
             source_bytes ? "as given" : "as fp32", Mb(stored), Mb(BytesOnDisk(model.source)));

  if (report.is_null()) {
    fmt::print("report       none ({} is missing or unreadable)\n", report_path);
    return;
  }
  const auto windows = Get<int>(report, "/calibration/windows");
  const auto ctx = Get<int>(report, "/calibration/ctx");
  std::string calibration =
      fmt::format("{} windows of {} tokens from {}", windows ? std::to_string(*windows) : "?",
                  ctx ? std::to_string(*ctx) : "?", Get<std::string>(report, "/calib").value_or("?"));
  if (const auto targets = Get<std::string>(report, "/calibration/targets")) calibration += ", targets " + *targets;
  if (const auto seed = Get<uint64_t>(report, "/seed")) calibration += fmt::format(", seed {}", *seed);
  if (Get<bool>(report, "/calibration/bos").value_or(false)) calibration += ", BOS first";
  fmt::print("calibration  {}\n", calibration);
  const auto ppl_fp32 = Get<double>(report, "/eval/ppl_fp32");
  const auto ppl_quantized = Get<double>(report, "/eval/ppl_quantized");
  if (ppl_fp32 && ppl_quantized) {
    const auto eval_windows = Get<int>(report, "/eval/windows");
    fmt::print("quality      perplexity on {} (ctx {}{}): fp32 {:.4f} -> quantized {:.4f}, ratio {:.4f}\n",
               Get<std::string>(report, "/eval/text").value_or("?"), Get<int>(report, "/eval/ctx").value_or(0),
               eval_windows ? fmt::format(", {} windows", *eval_windows) : "", *ppl_fp32, *ppl_quantized,
               *ppl_quantized / *ppl_fp32);
  } else {
    fmt::print("quality      not measured (quantize with --eval FILE records it)\n");
  }
  if (const auto seconds = Get<double>(report, "/seconds/total")) {
    const auto rss = Get<double>(report, "/peak_rss_bytes");
    fmt::print("run          quantized in {:.1f} s{}\n", *seconds,
               rss ? fmt::format(", peak RSS {:.0f} MB", *rss / 1e6) : "");
  }
}

}  // namespace

void RegisterInfoCommand(CLI::App& app) {
  struct Options {
    std::string model;
    bool tensors = false;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("info", "Summarise a model: quantization, sizes, quality, architecture");
  cmd->add_option("--model", opt->model, "Model folder (Hugging Face or quip) or llama2.c .bin")->required();
  cmd->add_flag("--tensors", opt->tensors, "Also list every stored tensor with dtype, shape and bytes");
  cmd->callback([opt] {
    const Model model = LoadModel(opt->model);
    const LlamaConfig& c = model.config;
    fmt::print("model        {}\nformat       {}\n", model.source, model.format);
    if (model.format == "quip") PrintQuantizedSummary(model);
    fmt::print("architecture {}: {} layers, hidden {}, intermediate {}, heads {} (kv {}), head_dim {}\n", c.model_type,
               c.n_layers, c.dim, c.hidden_dim, c.n_heads, c.n_kv_heads, c.head_dim);
    fmt::print("vocab        {}, max positions {}, rope theta {}, rms eps {}, {} embeddings\n", c.vocab_size,
               c.max_seq_len, c.rope_theta, c.norm_eps, c.tied_embeddings ? "tied" : "untied");
    fmt::print("parameters   {}\n", c.ParameterCount());
    fmt::print("linear format {}\n", model.layers.empty() ? "-" : model.layers[0].query_linear().Format());
    int64_t total = 0;
    for (const auto& t : model.tensors) total += t.bytes;
    if (model.format != "quip")
      fmt::print("size         weights {}; on disk {}\n", Mb(total), Mb(BytesOnDisk(model.source)));
    if (!opt->tensors) {
      fmt::print("tensors      {} (list them with --tensors)\n", model.tensors.size());
      return;
    }
    fmt::print("\n{:<48} {:>6} {:>18} {:>12}\n", "tensor", "dtype", "shape", "bytes");
    for (const auto& t : model.tensors)
      fmt::print("{:<48} {:>6} {:>18} {:>12}\n", t.name, t.dtype, fmt::format("[{}]", fmt::join(t.shape, ", ")), t.bytes);
    fmt::print("{:<48} {:>6} {:>18} {:>12}\n", "total", "", "", total);
  });
}

}  // namespace quip
