// SentencePiece tokenizer (Hugging Face `tokenizer.model`) through libsentencepiece.
#include <sentencepiece_processor.h>

#include <cstdlib>

#include "core/error.h"
#include "text/tokenizer.h"

namespace quip {
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& path) : path_(path) {
    const auto status = processor_.Load(path);
    if (!status.ok()) Fail(path, "cannot load SentencePiece model: {}", status.ToString());
  }

  std::vector<int> Encode(std::string_view text) const override {
    std::vector<int> ids;
    const auto status = processor_.Encode(text, &ids);
    if (!status.ok()) Fail(path_, "SentencePiece encoding failed: {}", status.ToString());
    return ids;
  }

  std::string TokenBytes(int id) const override {
    if (id < 0 || id >= vocab_size() || processor_.IsControl(id)) return "";
    const std::string piece = processor_.IdToPiece(id);
    if (processor_.IsByte(id)) {  // "<0xAB>"
      return std::string(1, static_cast<char>(std::strtol(piece.substr(3, 2).c_str(), nullptr, 16)));
    }
    if (processor_.IsUnknown(id)) return " \xE2\x81\x87 ";  // SentencePiece's rendering of <unk>
    std::string out;
    static constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, the word-boundary marker
    for (size_t i = 0; i < piece.size();) {
      if (piece.compare(i, kSpace.size(), kSpace) == 0) {
        out += ' ';
        i += kSpace.size();
      } else {
        out += piece[i++];
      }
    }
    return out;
  }

  int vocab_size() const override { return processor_.GetPieceSize(); }

 private:
  std::string path_;
  sentencepiece::SentencePieceProcessor processor_;
};

}  // namespace

std::unique_ptr<Tokenizer> LoadSentencePieceTokenizer(const std::string& path) {
  return std::make_unique<SentencePieceTokenizer>(path);
}

}  // namespace quip
