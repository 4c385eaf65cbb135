// `quip ppl` on a quantized books-llama-5m gives the same perplexity through the fast
// kernels and the reference path (QUIP_KERNEL=ref), to 1e-4 relative, for the two
// routes the fast path takes: windows of 256 tokens (dequantized tiles + sgemm) and
// of 16 tokens (the fused SIMD matvec, as in decoding). The model is quantized here
// with `quip quantize` (near rounding + incoherence, a few calibration windows).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "testing/tiny_model.h"

namespace quip {
namespace {
using testing::ShellQuote;

std::string Books() { return testing::SharedDir() + "/models/books-llama-5m"; }

double Ppl(const std::string& env, const std::string& model, int ctx, int windows) {
  const auto r = testing::RunCommandSplit(env + " " + ShellQuote(testing::QuipBinary()) +
                                          " ppl --json --threads 2 --model " + ShellQuote(model) + " --text " +
                                          ShellQuote(testing::BooksValid()) + " --ctx " + std::to_string(ctx) +
                                          " --max-windows " + std::to_string(windows));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  try {
    return nlohmann::json::parse(r.out)["ppl"].get<double>();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "ppl --json did not print JSON: " << r.out << "\n" << r.err;
    return NAN;
  }
}

class KernelPpl : public ::testing::TestWithParam<int> {};  // bits

TEST_P(KernelPpl, FastAndReferencePathsAgreeOnQuantizedBooks) {
  REQUIRE_FILE(Books());
  REQUIRE_FILE(testing::BooksValid());
  const int bits = GetParam();
  const std::string out = testing::MakeTempDir("kernel-ppl-" + std::to_string(bits)) + "/q";
  const auto q = testing::RunCommandSplit(
      ShellQuote(testing::QuipBinary()) + " quantize --threads 2 --method near-incp --nsamples 8 --ctx 128 --bits " +
      std::to_string(bits) + " --model " + ShellQuote(Books()) + " --calib " + ShellQuote(testing::BooksValid()) +
      " -o " + ShellQuote(out));
  ASSERT_EQ(q.exit_code, 0) << q.out << q.err;
  for (const auto& [ctx, windows] : {std::pair{256, 6}, std::pair{16, 60}}) {
    const double fast = Ppl("QUIP_KERNEL=fast", out, ctx, windows);
    const double ref = Ppl("QUIP_KERNEL=ref", out, ctx, windows);
    std::printf("%d-bit ctx %d: ppl fast %.6f reference %.6f\n", bits, ctx, fast, ref);
    EXPECT_TRUE(std::isfinite(fast) && fast > 1.0);
    EXPECT_NEAR(fast, ref, 1e-4 * ref) << "ctx " << ctx;
  }
}

INSTANTIATE_TEST_SUITE_P(Bits, KernelPpl, ::testing::Values(2, 3, 4),
                         [](const auto& info) { return std::to_string(info.param) + "bit"; });

}  // namespace
}  // namespace quip
