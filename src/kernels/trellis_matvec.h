// Products with a QTIP trellis matrix (format/trellis_tiles.h has the stored layout):
// y = G·x for one token, and G decoded to fp32 row blocks for prompts (tiles + sgemm).
// G's weights are scale · code(state), the states read from each tile's cyclic bitstream.
//
// Two kernels, chosen at run time like E8P's (e8p_matvec.h): an AVX-512 one
// (trellis_matvec_avx512.h: windows cut out with byte permutes and vpmultishiftqb, 1MAD
// multiplied as bytes with int8-rounded activations, q8_activations.h) where the CPU has
// AVX-512 VBMI/VNNI, and a portable Highway one (trellis_matvec_simd.h, fp32) elsewhere.
// Both decode row blocks to exactly DecodeTileReference's floats; the one-token products
// differ from it by float rounding of the sums (and, for 1MAD on AVX-512, by the int8
// rounding of the activations).
#pragma once

#include <cstdint>

#include "format/trellis_codes.h"

namespace quip::kernels {

struct TrellisMatrixView {
  int rows = 0, cols = 0;  // padded to multiples of 16 (trellis::TilePadded)
  int bits = 2;            // K
  trellis::Code code = trellis::Code::k1Mad;
  const float* hyb_table = nullptr;  // 2^9 × 2 values for Code::kHyb
  float scale = 1.0f;
  // (rows/16)·(cols/16) tiles of TileWords(bits) little-endian 32-bit words, row block by
  // row block; not necessarily 4-byte aligned (a memory-mapped tensor).
  const uint8_t* codes = nullptr;
};

// Which kernel runs: kAuto picks the AVX-512 one where the CPU has it, kPortable forces the
// Highway one (tests check both on one machine). Process-wide.
enum class TrellisImpl { kAuto, kPortable };
void SetTrellisImpl(TrellisImpl impl);
// The kernel running now: "avx512-vbmi-vnni" or the Highway target's name.
const char* TrellisImplName();

// One token: x [cols] → y [rows]; row blocks split over the thread pool.
void TrellisMatvec(const TrellisMatrixView& w, const float* x, float* y);

// Row blocks [b0, b0 + nb) of G as fp32: 16·nb rows of `cols` values, row-major; the same
// floats as trellis::DecodeTileReference.
void TrellisDecodeRowBlocks(const TrellisMatrixView& w, int b0, int nb, float* out);

}  // namespace quip::kernels
