#include "model/load.h"

#include <filesystem>

#include "core/error.h"
#include "io/hf_model.h"
#include "io/llama2c.h"

namespace quip {
namespace fs = std::filesystem;

namespace {

// The llama2.c checkpoint inside `dir`: the one .bin whose size matches its header.
std::string FindLlama2cCheckpoint(const std::string& dir) {
  std::string found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".bin" || !LooksLikeLlama2cCheckpoint(entry.path().string())) continue;
    QUIP_CHECK_INPUT(found.empty(), dir, "holds two llama2.c checkpoints ({} and {}); pass one file",
                     fs::path(found).filename().string(), entry.path().filename().string());
    found = entry.path().string();
  }
  return found;
}

}  // namespace

Model LoadModel(const std::string& path) {
  QUIP_CHECK_INPUT(fs::exists(path), path, "no such file or directory");
  if (fs::is_directory(path)) {
    if (fs::exists(fs::path(path) / "config.json")) return LoadHfModel(path);
    const std::string checkpoint = FindLlama2cCheckpoint(path);
    QUIP_CHECK_INPUT(!checkpoint.empty(), path,
                     "not a model folder: no config.json (Hugging Face) and no llama2.c checkpoint (.bin)");
    return LoadLlama2cModel(checkpoint);
  }
  return LoadLlama2cModel(path);
}

std::unique_ptr<Tokenizer> LoadTokenizer(const Model& model) {
  const fs::path base = fs::is_directory(model.source) ? fs::path(model.source) : fs::path(model.source).parent_path();
  std::unique_ptr<Tokenizer> tokenizer;
  if (model.format == "llama2c") {
    const fs::path candidates[] = {base / ("tok" + std::to_string(model.config.vocab_size) + ".bin"),
                                   base / "tokenizer.bin"};
    for (const auto& p : candidates)
      if (fs::exists(p)) tokenizer = LoadLlama2cTokenizer(p.string(), model.config.vocab_size);
    QUIP_CHECK_INPUT(tokenizer != nullptr, base.string(), "no llama2.c tokenizer (tok{}.bin or tokenizer.bin) beside the model",
                     model.config.vocab_size);
  } else {
    const fs::path p = base / "tokenizer.model";
    QUIP_CHECK_INPUT(fs::exists(p), base.string(), "no tokenizer.model in the model folder");
    tokenizer = LoadSentencePieceTokenizer(p.string());
  }
  QUIP_CHECK_INPUT(tokenizer->vocab_size() <= model.config.vocab_size, base.string(),
                   "tokenizer has {} tokens but the model's vocabulary is {}", tokenizer->vocab_size(),
                   model.config.vocab_size);
  return tokenizer;
}

}  // namespace quip
