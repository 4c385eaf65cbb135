// quip tokenize --model DIR --text FILE [--json] [--no-special] [--decode]
// The token ids of a text, as the model sees them (what to look at when a perplexity
// looks wrong), or with --decode the text of ids. DIR may hold only tokenizer files.
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "io/json_file.h"
#include "pipeline/load.h"
#include "text/text_file.h"
#include "text/tokenizer.h"

namespace quip {
namespace {
namespace fs = std::filesystem;

// The tokenizer of --model: a folder's tokenizer files (no model needed), a tokenizer file
// itself, or else the model's (a llama2.c tokenizer.bin needs the model's vocabulary size).
std::unique_ptr<Tokenizer> TokenizerOf(const std::string& path) {
  QUIP_CHECK_INPUT(fs::exists(path), path, "no such file or directory");
  if (fs::is_directory(path)) {
    if (auto tokenizer = FindTokenizer(path, 0)) return tokenizer;
    const bool has_model = fs::exists(fs::path(path) / "config.json") ||
                           std::any_of(fs::directory_iterator(path), fs::directory_iterator(),
                                       [](const auto& e) { return e.path().extension() == ".bin"; });
    QUIP_CHECK_INPUT(has_model, path, "no tokenizer in this folder ({})", TokenizerFileNames(0));
  } else if (fs::path(path).filename() == "tokenizer.json") {
    return LoadHfTokenizer(path);
  } else if (fs::path(path).extension() == ".model") {
    return LoadSentencePieceTokenizer(path);
  }
  return LoadTokenizer(LoadModel(path));
}

// Ids written by `quip tokenize`: a JSON array, or integers separated by white space.
std::vector<int> ReadIds(const std::string& path, int vocab_size) {
  const std::string text = ReadWholeFile(path);
  std::vector<long long> values;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    const nlohmann::json j = ParseJson(text, path, "token ids");
    QUIP_CHECK_INPUT(j.is_array(), path, "token ids: expected one JSON array of integers");
    for (const auto& v : j) {
      QUIP_CHECK_INPUT(v.is_number_integer(), path, "token ids: {} is not an integer", JsonExcerpt(v));
      values.push_back(v.get<long long>());
    }
  } else {
    std::istringstream in(text);
    std::string word;
    while (in >> word) {
      size_t used = 0;
      long long v = 0;
      try {
        v = std::stoll(word, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      QUIP_CHECK_INPUT(used == word.size(), path, "token ids: '{}' is not an integer (expected ids separated by spaces "
                       "or one JSON array)", word.substr(0, 40));
      values.push_back(v);
    }
  }
  std::vector<int> ids;
  for (size_t i = 0; i < values.size(); ++i) {
    QUIP_CHECK_INPUT(values[i] >= 0 && values[i] < vocab_size, path,
                     "token id {} (number {}) is outside the vocabulary (0..{})", values[i], i + 1, vocab_size - 1);
    ids.push_back(int(values[i]));
  }
  return ids;
}

void WriteStdout(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size() || std::fflush(stdout) != 0)
    throw Error("cannot write to standard output");
}

}  // namespace

void RegisterTokenizeCommand(CLI::App& app) {
  struct Options {
    std::string model, text;
    bool json = false, decode = false, no_special = false;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("tokenize", "Token ids of a text (or, with --decode, the text of token ids)");
  cmd->add_option("--model", opt->model,
                  "Model folder, or a folder with only tokenizer.json (+ tokenizer_config.json) or tokenizer.model")
      ->required();
  cmd->add_option("--text", opt->text, "UTF-8 text file (with --decode: token ids, as printed by tokenize)")
      ->required();
  cmd->add_flag("--json", opt->json, "Print one JSON array of ids (with --decode: one JSON string)");
  cmd->add_flag("--decode", opt->decode, "Turn the ids in --text back into text");
  cmd->add_flag("--no-special", opt->no_special,
                "Leave out the ids the tokenizer adds around a text (BOS); with --decode, write special tokens as \"\"");
  cmd->callback([opt] {
    const auto tokenizer = TokenizerOf(opt->model);
    const std::vector<int> prefix = opt->no_special ? std::vector<int>{} : tokenizer->PrefixIds();
    const std::vector<int> suffix = opt->no_special ? std::vector<int>{} : tokenizer->SuffixIds();
    if (opt->decode) {
      std::vector<int> ids = ReadIds(opt->text, tokenizer->vocab_size());
      // The ids encoding added around the text are not part of it.
      if (!prefix.empty() && ids.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), ids.begin()))
        ids.erase(ids.begin(), ids.begin() + long(prefix.size()));
      if (!suffix.empty() && ids.size() >= suffix.size() && std::equal(suffix.rbegin(), suffix.rend(), ids.rbegin()))
        ids.erase(ids.end() - long(suffix.size()), ids.end());
      const int bos = tokenizer->PrefixIds().empty() ? -1 : tokenizer->PrefixIds()[0];
      const std::string text = tokenizer->Decode(ids, bos, !opt->no_special);
      WriteStdout(opt->json ? nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"
                            : text);
      return;
    }
    std::vector<int> ids = prefix;
    const std::vector<int> body = tokenizer->Encode(ReadTextFile(opt->text));
    ids.insert(ids.end(), body.begin(), body.end());
    ids.insert(ids.end(), suffix.begin(), suffix.end());
    std::string out = opt->json ? "[" : "";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i > 0) out += opt->json ? "," : " ";
      out += std::to_string(ids[i]);
    }
    out += opt->json ? "]\n" : "\n";
    WriteStdout(out);
  });
}

}  // namespace quip
