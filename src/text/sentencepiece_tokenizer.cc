// SentencePiece tokenizer (Hugging Face `tokenizer.model`) through libsentencepiece.
#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "text/tokenizer.h"

namespace quip {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, the word-boundary marker

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(const std::string& path, size_t chunk_bytes) : path_(path), chunk_bytes_(chunk_bytes) {
    // libsentencepiece reads with iostreams that throw on a folder and print nothing useful.
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) Fail(path, "cannot load SentencePiece model: not a regular file");
    sentencepiece::util::Status status;
    try {
      status = processor_.Load(path);
    } catch (const std::exception& e) {
      Fail(path, "cannot load SentencePiece model: {}", e.what());
    }
    if (!status.ok()) Fail(path, "cannot load SentencePiece model: {}", status.ToString());
    chunkable_ = CanSplitAtSpaces();
  }

  // libsentencepiece needs ~100 bytes of memory and quadratic-ish time per input byte
  // in one call (1 GB and 22 s for an 11 MB book collection), so long texts are cut
  // at single spaces and encoded piece by piece. That is exact when pieces never span
  // a word boundary and the dummy prefix stands in for the cut space (checked once in
  // CanSplitAtSpaces); other models get the whole text in one call.
  std::vector<int> Encode(std::string_view text) const override {
    std::vector<int> ids;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.size();
      if (chunkable_ && text.size() - start > chunk_bytes_) {
        end = NextIsolatedSpace(text, start + chunk_bytes_);
      }
      const std::vector<int> part = EncodeOnce(text.substr(start, end - start));
      ids.insert(ids.end(), part.begin(), part.end());
      start = end < text.size() ? end + 1 : end;  // the cut space returns as the next dummy prefix
    }
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
  std::string SpecialText(int id) const override {
    return id >= 0 && id < vocab_size() && processor_.IsControl(id) ? processor_.IdToPiece(id) : "";
  }
  std::vector<int> PrefixIds() const override {  // what transformers' LlamaTokenizer adds
    return processor_.bos_id() >= 0 ? std::vector<int>{processor_.bos_id()} : std::vector<int>{};
  }

 private:
  std::vector<int> EncodeOnce(std::string_view text) const {
    std::vector<int> ids;
    const auto status = processor_.Encode(text, &ids);
    if (!status.ok()) Fail(path_, "SentencePiece encoding failed: {}", status.ToString());
    return ids;
  }

  // A ' ' with non-space neighbours at or after `from`, or text.size() if none.
  static size_t NextIsolatedSpace(std::string_view text, size_t from) {
    for (size_t i = std::max<size_t>(from, 1); i + 1 < text.size(); ++i)
      if (text[i] == ' ' && text[i - 1] != ' ' && text[i + 1] != ' ') return i;
    return text.size();
  }

  // True when encode("x y") == encode("x") + encode("y") holds in general: no piece
  // contains the boundary marker after its first character (pieces do not span
  // words) and a dummy prefix is added (probed on real words).
  bool CanSplitAtSpaces() const {
    for (int id = 0; id < processor_.GetPieceSize(); ++id) {
      const std::string piece = processor_.IdToPiece(id);
      if (piece.find(kSpace, 1) != std::string::npos) return false;
    }
    for (std::string_view probe : {"hello world", "The end. It was 42 days", "a b"}) {
      const size_t cut = probe.find(' ');
      std::vector<int> split = EncodeOnce(probe.substr(0, cut));
      const std::vector<int> tail = EncodeOnce(probe.substr(cut + 1));
      split.insert(split.end(), tail.begin(), tail.end());
      if (split != EncodeOnce(probe)) return false;
    }
    return true;
  }

  std::string path_;
  size_t chunk_bytes_;
  bool chunkable_ = false;
  sentencepiece::SentencePieceProcessor processor_;
};

}  // namespace

std::unique_ptr<Tokenizer> LoadSentencePieceTokenizer(const std::string& path, size_t chunk_bytes) {
  return std::make_unique<SentencePieceTokenizer>(path, chunk_bytes);
}

}  // namespace quip
