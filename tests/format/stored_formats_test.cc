// Every format quip stores, in one loop (in the spirit of llama.cpp's test-quantize-fns):
// codebook (every entry of format/stored_linear.h's kCodebookNames) × bits 2/3/4 ×
// incoherence none / every rotation of kRotationNames × D̃ off/on, each on odd shapes
// (columns that are not a multiple of the E8P group or of the trellis tiles, rows across
// the 64-row tiles); the trellis formats cycle through every computed code at every bit
// width:
//   * the stated bit width is what the codes take: 8·RowBytes = bits × the codebook's
//     columns, rounded up to a byte, and WeightBytes (what bench and the report count) is
//     exactly the bytes of the tensors io/quip_format writes for the layer;
//   * write → read is bit-identical: every field, and the codes byte for byte;
//   * the fast product (kernels/) equals the reference product (the codebook decoded by
//     its definition, format/'s rotations) within the bounds below, for 1, 2, 17 and 40
//     tokens (fused kernel and decoded tiles) and 1, 2 and 7 threads.
// A codebook or rotation appended to the name tables fails EveryNamedFormatHasACase until
// it has a case here; its layer, kernel and file entry are then exercised by the loop.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include "core/parallel.h"
#include "format/stored_linear.h"
#include "format/trellis_tiles.h"
#include "io/quip_format.h"
#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "model/incoherent_linear.h"
#include "quant/pack.h"
#include "quant/quant_test_util.h"
#include "quant/quantize.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;

// Bounds on max|fast − reference| / max|reference| over a product's outputs, measured on
// this loop (largest ratio seen over all formats, shapes, token counts and thread counts:
// int8 scalar 1.40e-2, E8P 1.34e-2; float scalar 7.3e-7, E8P 3.7e-7, trellis 3.6e-7) and set
// just above. One token runs on int8-rounded activations for the scalar grid
// at 2 and 4 bits and for E8P (kernels/q8_activations.h): rounding to 1/254 of each
// 256-column block's largest value, its error does not cancel in short rows. More tokens
// (and 3-bit scalar) are float, so only the summation order differs.
struct CodebookCase {
  Codebook codebook;
  double int8_bound;   // one token on int8 activations
  double float_bound;  // float products
};
constexpr CodebookCase kCodebookCases[] = {
    {Codebook::kScalar, 2e-2, 2e-6},
    {Codebook::kE8P, 2e-2, 2e-6},
    {Codebook::kTrellis, 2e-2, 2e-6},  // int8: 1MAD / HASH6 one token on AVX-512 (kernels/trellis_matvec.h)
};

struct Shape {
  int rows, cols;
};
// Sizes every rotation can build (Hadamard: K·2^k, K ∈ {1, 12, 20, ...}); 12 and 20
// columns leave a partial E8P group; 96 rows cross the 64-row tiles.
constexpr Shape kShapes[] = {{12, 20}, {20, 12}, {96, 40}};

struct Format {
  Codebook codebook;
  int bits;
  std::optional<RotationKind> rotation;  // none: not incoherent
  bool rescale;
  trellis::Code code = trellis::Code::k1Mad;  // trellis only
  std::string Name() const {
    return fmt::format("{}{}-{}bit-{}{}", CodebookName(codebook),
                       codebook == Codebook::kTrellis ? std::string("-") + trellis::CodeName(code) : "", bits,
                       rotation ? RotationName(*rotation) : "none", rescale ? "-rescale" : "");
  }
};

constexpr trellis::Code kTrellisCodes[] = {trellis::Code::k1Mad, trellis::Code::k3Inst, trellis::Code::kHyb,
                                           trellis::Code::kHash6, trellis::Code::kXor7};

std::vector<Format> AllFormats() {
  std::vector<Format> formats;
  for (const auto& cb : kCodebookNames)
    for (int bits : {2, 3, 4}) {
      std::vector<std::optional<RotationKind>> rotations{std::nullopt};
      for (const auto& r : kRotationNames) rotations.push_back(r.value);
      int variant = 0;
      for (const auto& rotation : rotations)
        for (bool rescale : {false, true})
          formats.push_back({cb.value, bits, rotation, rescale, kTrellisCodes[variant++ % std::size(kTrellisCodes)]});
    }
  return formats;
}

StoredLinear QuantizeIn(const Format& f, const Shape& s, uint64_t seed) {
  const std::vector<float> w = testing::ToRowMajorFloats(testing::RandomGaussian(s.rows, s.cols, seed) * 0.05);
  QuantConfig cfg;
  cfg.bits = f.bits;
  cfg.codebook = f.codebook;
  cfg.incoherence = f.rotation.has_value();
  cfg.rotation = f.rotation.value_or(RotationKind::kKron);
  cfg.rescale = f.rescale;
  cfg.rounding = Rounding::kLdlq;
  cfg.seed = seed;
  cfg.trellis_code = f.code;
  QuantStats stats;
  const QuantizedMatrix q = QuantizeMatrix(w.data(), s.rows, s.cols, testing::RandomHessian(s.cols, seed + 1), cfg, &stats);
  EXPECT_TRUE(stats.note.empty()) << stats.note;  // no fallback: the format asked for is the one stored
  return PackQuantizedMatrix(q);
}

int PaddedCols(const StoredLinear& s) {
  if (s.codebook == Codebook::kTrellis) return trellis::TilePadded(s.cols);
  return s.codebook == Codebook::kE8P ? E8PGroups(s.cols) * kE8PGroup : s.cols;
}
int PaddedRows(const StoredLinear& s) { return s.codebook == Codebook::kTrellis ? trellis::TilePadded(s.rows) : s.rows; }

TEST(StoredFormats, EveryNamedFormatHasACase) {
  for (const auto& cb : kCodebookNames) {
    const bool covered = std::any_of(std::begin(kCodebookCases), std::end(kCodebookCases),
                                     [&](const CodebookCase& c) { return c.codebook == cb.value; });
    EXPECT_TRUE(covered) << "codebook '" << cb.name << "' has no case in kCodebookCases: measure its bounds, "
                         << "then it runs through every check below";
    EXPECT_EQ(ParseCodebook(cb.name, "test"), cb.value);
  }
  for (const auto& r : kRotationNames) EXPECT_EQ(ParseRotation(r.name, "test"), r.value);
  EXPECT_EQ(AllFormats().size(), std::size(kCodebookNames) * 3 * (std::size(kRotationNames) + 1) * 2);
}

TEST(StoredFormats, BitsAndBytesAndRoundTrip) {
  const std::string dir = testing::MakeTempDir("stored-formats");
  uint64_t seed = 1;
  for (const Format& f : AllFormats())
    for (const Shape& shape : kShapes) {
      SCOPED_TRACE(f.Name() + " " + std::to_string(shape.rows) + "x" + std::to_string(shape.cols));
      const StoredLinear s = QuantizeIn(f, shape, ++seed);
      ASSERT_EQ(s.codebook, f.codebook);
      ASSERT_EQ(s.incoherence.incoherent, f.rotation.has_value());
      if (f.rotation) {
        ASSERT_EQ(s.incoherence.rotation, *f.rotation);
      }
      ASSERT_EQ(s.incoherence.rescale.empty(), !f.rescale);
      EXPECT_EQ(8 * s.CodeRows() * s.RowBytes(), PaddedRows(s) * ((int64_t(f.bits) * PaddedCols(s) + 7) / 8 * 8));
      EXPECT_EQ(s.owned_codes.size(), size_t(s.CodeRows()) * s.RowBytes());
      const IncoherentLinear linear{StoredLinear(s)};
      EXPECT_NE(linear.Format().find(std::to_string(f.bits) + "bit"), std::string::npos) << linear.Format();

      SafetensorsWriter writer;
      nlohmann::json linears = nlohmann::json::object();
      AddStoredLinear(writer, linears, "layer", s);
      int64_t written = 0;
      bool model_table = false;  // HYB's table is stored once per model, not counted per layer
      writer.ForEachTensor([&](const std::string& name, const uint8_t*, size_t n) {
        if (name == "quip.hyb_table") model_table = true;
        else written += int64_t(n);
      });
      EXPECT_EQ(linear.WeightBytes(), written) << "WeightBytes must count exactly the bytes stored";
      EXPECT_EQ(model_table, s.codebook == Codebook::kTrellis && s.trellis_code == trellis::Code::kHyb);
      writer.SetMetadata("quip.format_version", kQuipFormatVersion);
      writer.SetMetadata(kQuipLinearsKey, linears.dump());
      fs::remove(fs::path(dir) / "model.safetensors");
      writer.Write((fs::path(dir) / "model.safetensors").string());
      TensorSource source(dir);
      Model holder;
      const StoredLinear r = ReadStoredLinear(source, "layer", s.rows, s.cols, holder);
      source.CheckAllUsed();
      EXPECT_EQ(r.bits, s.bits);
      EXPECT_EQ(r.codebook, s.codebook);
      EXPECT_EQ(r.incoherence.incoherent, s.incoherence.incoherent);
      if (s.incoherence.incoherent) {  // without incoherence the rotation and seeds mean nothing and are not stored
        EXPECT_EQ(r.incoherence.rotation, s.incoherence.rotation);
        EXPECT_EQ(r.incoherence.seed_u, s.incoherence.seed_u);
        EXPECT_EQ(r.incoherence.seed_v, s.incoherence.seed_v);
      }
      EXPECT_EQ(r.incoherence.rescale, s.incoherence.rescale);
      EXPECT_EQ(r.scale, s.scale);
      EXPECT_EQ(r.zero, s.zero);
      EXPECT_EQ(r.trellis_code, s.trellis_code);
      EXPECT_EQ(r.code_table, s.code_table);
      ASSERT_EQ(r.CodeRows(), s.CodeRows());
      ASSERT_EQ(r.RowBytes(), s.RowBytes());
      EXPECT_EQ(0, std::memcmp(r.codes(), s.codes(), size_t(s.CodeRows()) * s.RowBytes()));
    }
}

TEST(StoredFormats, FastProductEqualsReference) {
  std::map<std::string, double> worst;  // measured ratios, printed for the bounds above
  uint64_t seed = 500;
  for (const Format& f : AllFormats()) {
    const CodebookCase* bounds = nullptr;
    for (const auto& c : kCodebookCases)
      if (c.codebook == f.codebook) bounds = &c;
    ASSERT_NE(bounds, nullptr) << CodebookName(f.codebook);
    for (const Shape& shape : kShapes) {
      const IncoherentLinear linear(QuantizeIn(f, shape, ++seed));
      for (int threads : {1, 2, 7}) {
        SetWorkerThreads(threads);
        for (int ntok : {1, 2, 17, 40}) {
          SCOPED_TRACE(f.Name() + " " + std::to_string(shape.rows) + "x" + std::to_string(shape.cols) + " ntok " +
                       std::to_string(ntok) + " threads " + std::to_string(threads));
          std::vector<float> x(size_t(ntok) * shape.cols), fast(size_t(ntok) * shape.rows), ref(fast.size());
          for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * float(i) + float(seed));
          ASSERT_EQ(IncoherentLinear::Kernel(), QuantKernel::kFast);
          linear.Forward(x.data(), ntok, fast.data());
          linear.ForwardReference(x.data(), ntok, ref.data());
          double scale = 0, diff = 0;
          for (size_t i = 0; i < ref.size(); ++i) {
            scale = std::max(scale, double(std::abs(ref[i])));
            diff = std::max(diff, double(std::abs(fast[i] - ref[i])));
          }
          ASSERT_GT(scale, 0.0);
          const bool int8 =
              ntok == 1 && (f.codebook == Codebook::kE8P || (f.codebook == Codebook::kScalar && f.bits != 3) ||
                            (f.codebook == Codebook::kTrellis &&
                             (f.code == trellis::Code::k1Mad || f.code == trellis::Code::kHash6 ||
                              f.code == trellis::Code::kXor7)));
          const std::string path = std::string(CodebookName(f.codebook)) + (int8 ? " int8" : " float");
          worst[path] = std::max(worst[path], diff / scale);
          EXPECT_LE(diff, (int8 ? bounds->int8_bound : bounds->float_bound) * scale);
        }
      }
    }
  }
  SetWorkerThreads(0);
  for (const auto& [path, ratio] : worst) std::printf("%s: max |fast - ref| / max |ref| = %.3e\n", path.c_str(), ratio);
}

}  // namespace
}  // namespace quip
