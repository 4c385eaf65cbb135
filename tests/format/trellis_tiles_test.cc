// QTIP's stored tile layout (format/trellis_tiles.h).
//   - DecodeTileReference equals an independent NumPy decoder of the layout's definition
//     (tools/trellis_tiles_reference.py: NumPy bit arrays, not word arithmetic) on random
//     tiles, every code and bit width, exactly.
//   - StreamStates' whole-word path equals its bit-by-bit definition.
#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include "format/seeded_random.h"
#include "format/trellis_tiles.h"
#include "testing/binary_file.h"
#include "testing/tiny_model.h"

namespace quip::trellis {
namespace {

template <typename T>
void WriteBinary(const std::string& path, const std::vector<T>& v) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::vector<uint32_t> RandomWords(size_t n, uint64_t seed) {
  SeededRandom rng(seed);
  std::vector<uint32_t> w(n);
  for (uint32_t& x : w) x = uint32_t(rng.Bits());
  return w;
}

TEST(TrellisTiles, DecodeMatchesNumpyReference) {
  constexpr int kTiles = 5;
  constexpr float kScale = 0.37f;
  const HybTable table = FitHybTable(/*seed=*/5, /*samples=*/1 << 12, /*iterations=*/3);
  for (Code code : {Code::k1Mad, Code::k3Inst, Code::kHyb, Code::kXor7})
    for (int bits : {2, 3, 4}) {
      SCOPED_TRACE(std::string(CodeName(code)) + " " + std::to_string(bits) + " bits");
      const std::string dir = testing::MakeTempDir("trellis_tiles");
      const std::vector<uint32_t> words = RandomWords(size_t(kTiles) * TileWords(bits), 7 * bits + int(code));
      WriteBinary(dir + "/words.u32", words);
      WriteBinary(dir + "/values.f32", StateValues(code, &table));
      const testing::CommandResult run =
          testing::RunCommand("/usr/bin/python3 " + testing::SourceDir() + "/tools/trellis_tiles_reference.py " + dir +
                              " " + std::to_string(bits) + " " + std::to_string(ValuesPerState(code)) + " 0.37");
      ASSERT_EQ(run.exit_code, 0) << run.output;
      const std::vector<float> ref = testing::ReadBinary<float>(dir + "/weights.f32");
      ASSERT_EQ(ref.size(), size_t(kTiles) * kTileWeights);
      for (int t = 0; t < kTiles; ++t) {
        float ours[kTileWeights];
        DecodeTileReference(&words[size_t(t) * TileWords(bits)], bits, code, table.values.data(), kScale, ours);
        for (int e = 0; e < kTileWeights; ++e) ASSERT_EQ(ours[e], ref[size_t(t) * kTileWeights + e]) << t << " " << e;
      }
    }
}

TEST(TrellisTiles, WholeWordStatesEqualTheBitDefinition) {
  for (int step_bits : {2, 3, 4, 6, 8}) {
    const int steps = 96;  // whole words at every step width
    const std::vector<uint32_t> words = RandomWords(size_t(steps) * step_bits / 32, step_bits);
    std::vector<uint32_t> fast(steps);
    StreamStates(words.data(), steps, step_bits, kStateBits, fast.data());
    const int64_t nbits = int64_t(steps) * step_bits;
    for (int i = 0; i < steps; ++i) {
      uint32_t state = 0;
      for (int b = 0; b < kStateBits; ++b) {
        const int64_t j = (int64_t(i) * step_bits + b) % nbits;
        state = state << 1 | ((words[j / 32] >> (31 - j % 32)) & 1);
      }
      ASSERT_EQ(fast[i], state) << "step bits " << step_bits << " step " << i;
    }
  }
}

}  // namespace
}  // namespace quip::trellis
