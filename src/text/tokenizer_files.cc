// Which tokenizer file of a folder to use (tokenizer.h, FindTokenizer).
#include <fmt/format.h>

#include <filesystem>
#include <regex>

#include "text/tokenizer.h"

namespace quip {
namespace fs = std::filesystem;

std::unique_ptr<Tokenizer> FindTokenizer(const std::string& dir, int vocab_size) {
  const fs::path base(dir);
  if (fs::exists(base / "tokenizer.json")) return LoadHfTokenizer((base / "tokenizer.json").string());
  if (fs::exists(base / "tokenizer.model")) return LoadSentencePieceTokenizer((base / "tokenizer.model").string());
  if (vocab_size > 0) {
    for (const fs::path& p : {base / fmt::format("tok{}.bin", vocab_size), base / "tokenizer.bin"})
      if (fs::exists(p)) return LoadLlama2cTokenizer(p.string(), vocab_size);
    return nullptr;
  }
  // No model to say the vocabulary size: a tok<N>.bin names it; take the only one.
  static const std::regex named(R"(tok([0-9]{1,7})\.bin)");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, named)) return LoadLlama2cTokenizer(entry.path().string(), std::stoi(m[1]));
  }
  return nullptr;
}

std::string TokenizerFileNames(int vocab_size) {
  return vocab_size > 0 ? fmt::format("tokenizer.json, tokenizer.model, tok{}.bin or tokenizer.bin", vocab_size)
                        : "tokenizer.json, tokenizer.model or tok<N>.bin";
}

}  // namespace quip
