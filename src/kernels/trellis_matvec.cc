// Kernel choice, activation preparation and threading around the trellis kernels; no SIMD here.
#include "kernels/trellis_matvec.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "format/trellis_tiles.h"
#include "kernels/e8p_matvec_avx512.h"
#include "kernels/q8_activations.h"
#include "kernels/quant_matmul.h"
#include "kernels/trellis_matvec_avx512.h"
#include "kernels/trellis_matvec_simd.h"

namespace quip::kernels {
namespace {

using trellis::kTileSide;
using trellis::kTileWeights;

std::atomic<TrellisImpl>& ImplChoice() {
  static std::atomic<TrellisImpl> choice{TrellisImpl::kAuto};
  return choice;
}

// The AVX-512 trellis kernels need what the E8P one needs (VBMI, VNNI), and Supported() checks that.
bool UseAvx512() { return ImplChoice() == TrellisImpl::kAuto && avx512::Supported(); }

void CheckView(const TrellisMatrixView& w) {
  QUIP_ASSERT(w.rows % kTileSide == 0 && w.cols % kTileSide == 0 && w.bits >= 2 && w.bits <= 4);
  QUIP_ASSERT(w.code != trellis::Code::kHyb || w.hyb_table != nullptr);
}

struct Scratch {
  std::vector<int8_t> xq, xq4, xq_split;
  float offset_sum = 0.0f;
  std::vector<float> group_scale;
  std::vector<int32_t> start;
};

// The integer codes' activations (trellis_matvec_avx512.h): int8-rounded, for 1MAD each
// repeated in four bytes, and the offsets' share every accumulator lane of a group starts from.
avx512::TrellisActivations PrepareInt8(const TrellisMatrixView& w, const float* x, Scratch& s) {
  const int cols = w.cols, groups = Q8Groups(cols);
  s.xq.resize(cols);
  s.group_scale.resize(groups);
  s.start.assign(16 * size_t(groups), 0);
  QuantizeQ8(x, cols, s.xq.data(), s.group_scale.data());
  if (w.code == trellis::Code::k1Mad) {
    s.xq4.resize(4 * size_t(cols));
    for (int c = 0; c < cols; ++c) {
      std::memset(&s.xq4[4 * size_t(c)], s.xq[c], 4);
      s.start[16 * (c / kQ8Group) + c % kTileSide] -= 510 * s.xq[c];
    }
  } else {
    double offset = 0;
    for (int c = 0; c < cols; ++c) offset += 128.0 * s.group_scale[c / kQ8Group] * s.xq[c];
    s.offset_sum = float(offset);
  }
  if (w.code == trellis::Code::kHash6) {
    s.xq_split.resize(8 * size_t(cols));
    for (int j = 0; j < cols / kTileSide; ++j)
      for (int half = 0; half < 4; ++half)  // columns 4·half .. + 3
        for (int lane = 0; lane < 8; ++lane)
          std::memcpy(&s.xq_split[128 * size_t(j) + 32 * half + 4 * lane], &s.xq[16 * j + 4 * half], 4);
  }
  avx512::TrellisActivations a;
  a.x = x;
  a.xq = s.xq.data();
  a.xq4 = s.xq4.data();
  a.xq_split = s.xq_split.data();
  a.offset_sum = s.offset_sum;
  a.group_scale = s.group_scale.data();
  a.start = s.start.data();
  return a;
}

}  // namespace

void SetTrellisImpl(TrellisImpl impl) { ImplChoice() = impl; }

const char* TrellisImplName() { return UseAvx512() ? "avx512-vbmi-vnni" : KernelTarget(); }

void TrellisMatvec(const TrellisMatrixView& w, const float* x, float* y) {
  CheckView(w);
  const int blocks = w.rows / kTileSide;
  if (blocks == 0) return;
  const bool avx512 = UseAvx512();
  thread_local Scratch scratch;
  avx512::TrellisActivations a;
  a.x = x;
  if (avx512 && (w.code == trellis::Code::k1Mad || w.code == trellis::Code::kHash6 || w.code == trellis::Code::kXor7))
    a = PrepareInt8(w, x, scratch);
  ThreadPool& pool = ThreadPool::Global();
  // ~4 tasks per thread, each at least ~32 KiB of codes.
  const int64_t block_bytes = int64_t(w.cols) * kTileSide * w.bits / 8;
  const int min_blocks = std::max<int>(1, int((1 << 15) / std::max<int64_t>(1, block_bytes)));
  const int per = std::max(min_blocks, (blocks + 4 * pool.threads() - 1) / (4 * pool.threads()));
  pool.Run((blocks + per - 1) / per, [&](int64_t task) {
    const int b0 = int(task) * per, b1 = std::min(blocks, b0 + per);
    if (avx512) {
      avx512::TrellisRowBlocks(w, a, b0, b1, y);
    } else {
      simd::TrellisRowBlocks(w, x, b0, b1, y);
    }
  });
}

void TrellisDecodeRowBlocks(const TrellisMatrixView& w, int b0, int nb, float* out) {
  CheckView(w);
  QUIP_ASSERT(b0 >= 0 && nb >= 0 && (b0 + nb) * kTileSide <= w.rows);
  const bool avx512 = UseAvx512();
  const int tiles = w.cols / kTileSide;
  const size_t tile_bytes = size_t(trellis::TileWords(w.bits)) * 4;
  alignas(64) float tile[kTileWeights];
  for (int i = b0; i < b0 + nb; ++i)
    for (int j = 0; j < tiles; ++j) {
      const uint8_t* codes = w.codes + (size_t(i) * tiles + j) * tile_bytes;
      if (avx512) {
        avx512::DecodeTrellisTile(w, codes, tile);
      } else {
        simd::DecodeTrellisTile(w, codes, tile);
      }
      for (int r = 0; r < kTileSide; ++r)
        std::memcpy(out + (size_t(i - b0) * kTileSide + r) * w.cols + j * kTileSide, tile + r * kTileSide,
                    sizeof(float) * kTileSide);
    }
}

}  // namespace quip::kernels
