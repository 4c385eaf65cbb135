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
  // SentencePiece first (Hugging Face folders), then llama2.c's tokenizer files.
  std::unique_ptr<Tokenizer> tokenizer;
  if (fs::exists(base / "tokenizer.model")) {
    tokenizer = LoadSentencePieceTokenizer((base / "tokenizer.model").string());
  } else {
    for (const fs::path& p : {base / ("tok" + std::to_string(model.config.vocab_size) + ".bin"), base / "tokenizer.bin"})
      if (!tokenizer && fs::exists(p)) tokenizer = LoadLlama2cTokenizer(p.string(), model.config.vocab_size);
  }
  QUIP_CHECK_INPUT(tokenizer != nullptr, base.string(),
                   "no tokenizer beside the model (tokenizer.model, tok{}.bin or tokenizer.bin)", model.config.vocab_size);
  QUIP_CHECK_INPUT(tokenizer->vocab_size() <= model.config.vocab_size, base.string(),
                   "tokenizer has {} tokens but the model's vocabulary is {}", tokenizer->vocab_size(),
                   model.config.vocab_size);
  return tokenizer;
}

}  // namespace quip
