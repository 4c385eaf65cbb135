#include "pipeline/load.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/hf_model.h"
#include "io/llama2c.h"

namespace quip {
namespace fs = std::filesystem;

namespace {

// The llama2.c checkpoint inside `dir`: the one .bin whose size matches its header;
// failing that, a .bin with a valid header but another size (truncated: loading it
// reports the sizes), so that a damaged checkpoint is not called "no checkpoint".
std::string FindLlama2cCheckpoint(const std::string& dir) {
  std::string found, damaged;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".bin") continue;
    if (!LooksLikeLlama2cCheckpoint(entry.path().string())) {
      if (damaged.empty() && HasLlama2cHeader(entry.path().string())) damaged = entry.path().string();
      continue;
    }
    QUIP_CHECK_INPUT(found.empty(), dir, "holds two llama2.c checkpoints ({} and {}); pass one file",
                     fs::path(found).filename().string(), entry.path().filename().string());
    found = entry.path().string();
  }
  return found.empty() ? damaged : found;
}

// True if the file starts with text (no NUL, valid UTF-8 up to a cut at the end):
// a text given as --model is named as such instead of being read as a binary header.
bool StartsWithText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char buffer[4096];
  in.read(buffer, sizeof buffer);
  const size_t n = size_t(in.gcount());
  if (n == 0) return false;
  for (size_t i = 0; i < n;) {
    const unsigned char ch = static_cast<unsigned char>(buffer[i]);
    if (ch == 0 || (ch < 0x20 && ch != '\n' && ch != '\r' && ch != '\t')) return false;
    const size_t len = ch < 0x80 ? 1 : (ch >> 5) == 0x6 ? 2 : (ch >> 4) == 0xe ? 3 : (ch >> 3) == 0x1e ? 4 : 0;
    if (len == 0) return false;
    for (size_t k = 1; k < len; ++k)
      if (i + k < n && (static_cast<unsigned char>(buffer[i + k]) >> 6) != 0x2) return false;
    i += len;
  }
  return true;
}

// --model named a file: only a llama2.c checkpoint may be given as a file. Other
// model files and texts are named for what they are, with the folder to pass instead.
void CheckModelFile(const std::string& path) {
  const fs::path p(path);
  const std::string folder = p.has_parent_path() ? p.parent_path().string() : ".";
  const std::string ext = p.extension().string();
  QUIP_CHECK_INPUT(ext != ".safetensors", path,
                   "is a safetensors file, not a model folder; pass the folder that holds it and its config.json ({})",
                   folder);
  QUIP_CHECK_INPUT(ext != ".json", path, "is a JSON file, not a model folder; pass the model folder ({})", folder);
  QUIP_CHECK_INPUT(ext != ".model", path, "is a tokenizer file, not a model; pass the model folder ({})", folder);
  QUIP_CHECK_INPUT(!StartsWithText(path), path,
                   "is a text file, not a model: pass a model folder (config.json + model.safetensors) or a llama2.c "
                   "checkpoint (.bin)");
}

}  // namespace

Model LoadModel(const std::string& path, const LoadOptions& options) {
  QUIP_CHECK_INPUT(fs::exists(path), path, "no such file or directory");
  if (fs::is_directory(path)) {
    if (fs::exists(fs::path(path) / "config.json")) return LoadHfModel(path, options.half_linears_on_use);
    const std::string checkpoint = FindLlama2cCheckpoint(path);
    QUIP_CHECK_INPUT(!checkpoint.empty(), path,
                     "not a model folder: no config.json (Hugging Face) and no llama2.c checkpoint (.bin)");
    return LoadLlama2cModel(checkpoint);
  }
  CheckModelFile(path);
  return LoadLlama2cModel(path);
}

std::unique_ptr<Tokenizer> LoadTokenizer(const Model& model) {
  const fs::path base = fs::is_directory(model.source) ? fs::path(model.source) : fs::path(model.source).parent_path();
  std::unique_ptr<Tokenizer> tokenizer = FindTokenizer(base.string(), model.config.vocab_size);
  QUIP_CHECK_INPUT(tokenizer != nullptr, base.string(), "no tokenizer beside the model ({})",
                   TokenizerFileNames(model.config.vocab_size));
  QUIP_CHECK_INPUT(tokenizer->vocab_size() <= model.config.vocab_size, base.string(),
                   "tokenizer has {} tokens but the model's vocabulary is {}", tokenizer->vocab_size(),
                   model.config.vocab_size);
  return tokenizer;
}

}  // namespace quip
