// The malformed-input corpus (issue 6): tools/make_bad_inputs.py writes every case into a
// temp folder with a manifest line saying which `quip` commands to run on it and which
// strings the error must contain; every run goes through the real binary and must exit
// non-zero without a signal, print nothing on stdout and exactly one stderr line
// "quip: error: ..." naming the file and the problem.
// Valid control cases (expect null) must succeed: they prove the generator's baseline.
// One test per corpus group, so CTest runs the groups in parallel.
//
// In the sanitizer build (scripts/sanitize.sh, CMake QUIP_SANITIZE=ON) every run is also
// checked for an ASan/UBSan report, including the valid controls. Only there: a normal
// build has no sanitizer that could print one, so the check could not fail.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using testing::ShellQuote;

std::string Substitute(std::string s, const std::string& root, const std::string& case_dir) {
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"{root}", root}, {"{case}", case_dir}})
    for (size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + value.size()))
      s.replace(at, key.size(), value);
  return s;
}

void RunGroup(const std::string& group) {
  const std::string root = testing::MakeTempDir("bad-inputs-" + group);
  const auto gen = testing::RunCommandSplit(std::string(QUIP_PYTHON) + " " +
                                            ShellQuote(testing::SourceDir() + "/tools/make_bad_inputs.py") + " " +
                                            ShellQuote(root) + " --only " + group);
  ASSERT_EQ(gen.exit_code, 0) << gen.out << gen.err;
  std::ifstream manifest(root + "/manifest.jsonl");
  ASSERT_TRUE(manifest) << "no manifest in " << root;
  int cases = 0, runs = 0;
  for (std::string line; std::getline(manifest, line);) {
    if (line.empty()) continue;
    const nlohmann::json c = nlohmann::json::parse(line);
    ASSERT_EQ(c["group"], group);
    ++cases;
    const std::string case_dir = root + "/" + group + "/" + c["name"].get<std::string>();
    for (const auto& run : c["runs"]) {
      std::string command = ShellQuote(testing::QuipBinary());
      for (const auto& arg : run) command += " " + ShellQuote(Substitute(arg.get<std::string>(), root, case_dir));
      SCOPED_TRACE(c["name"].get<std::string>() + ": " + command);
      ++runs;
      const auto r = testing::RunCommandSplit(command);
#ifdef QUIP_SANITIZE
      EXPECT_EQ(r.err.find("Sanitizer"), std::string::npos) << r.err;
      EXPECT_EQ(r.err.find("runtime error:"), std::string::npos) << r.err;
#endif
      if (c["expect"].is_null()) {
        EXPECT_EQ(r.exit_code, 0) << "valid control failed: " << r.err;
        continue;
      }
      std::vector<std::string> needles;
      for (const auto& e : c["expect"]) needles.push_back(Substitute(e.get<std::string>(), root, case_dir));
      testing::ExpectCleanError(r, needles);
      EXPECT_FALSE(fs::exists(case_dir + "/out")) << "a failed quantize left an output folder";
    }
  }
  EXPECT_GT(cases, 0);
  std::printf("%s: %d cases, %d runs\n", group.c_str(), cases, runs);
  fs::remove_all(root);
}

TEST(BadInputsCorpus, Safetensors) { RunGroup("safetensors"); }
TEST(BadInputsCorpus, ShardedIndex) { RunGroup("index"); }
TEST(BadInputsCorpus, ConfigJson) { RunGroup("config"); }
TEST(BadInputsCorpus, Llama2c) { RunGroup("llama2c"); }
TEST(BadInputsCorpus, Tokenizer) { RunGroup("tokenizer"); }
TEST(BadInputsCorpus, QuantizedFolder) { RunGroup("quantized"); }

#ifdef QUIP_SANITIZE
// The sanitizer build checks that the binary it runs is instrumented (else the report checks
// above would pass vacuously there too). A normal build has no such test rather than a
// skipped one: nothing there could print a report.
TEST(BadInputsCorpus, SanitizerReportChecks) {
  const auto r = testing::RunCommandSplit("ASAN_OPTIONS=help=1 " + ShellQuote(testing::QuipBinary()) + " --help");
  EXPECT_NE(r.err.find("Available flags for AddressSanitizer"), std::string::npos)
      << "quip is not built with AddressSanitizer:\n" << r.err;
}
#endif

}  // namespace
}  // namespace quip
