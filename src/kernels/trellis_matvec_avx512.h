// The trellis kernels for x86 CPUs with AVX-512 VBMI and VNNI (Ice Lake and later, Zen 4 and
// later), chosen at run time by trellis_matvec.cc with e8p_matvec_avx512.h's Supported();
// other CPUs run the portable Highway kernel (trellis_matvec_simd.h).
//
// Windows. 16 states at a time, one per 32-bit lane: one byte permute (vpermt2b) of the
// tile's bytes (the whole tile sits in one or two registers) gives every qword the 8 stream
// bytes, most significant first, around two states' windows, and one vpmultishiftqb shifts
// each window's two bytes out of its qword (the lanes' upper bytes zeroed by its mask).
// The permute indices and shifts depend only on K·V and the vector, so they are tables.
//
// Codes, one token:
//   1MAD   the byte sum is linear in the bytes of x = a·s + b, so Σ_c (sum_c − 510)·xq_c is
//          one vpdpbusd of x with each int8 activation repeated in its lane's four bytes,
//          the −510·Σxq started in the accumulator: mullo, add, vpdpbusd per 16 weights,
//          exact integers per 256-column activation group (q8_activations.h).
//   3INST  fp32: both halves packed (vpmovdw) and widened (vcvtph2ps), added, FMA with x.
//   HYB    fp32: 8 pairs gathered from the table (vpgatherdq), the sign XORed in, FMA.
//   HASH6  32 states per vector in 16-bit lanes (4 states per qword; at K = 2 and 4 cut
//          straight from the tile, no byte permute), vpmullw, two vectors' high bytes packed
//          into 64 (vpermt2b) and shifted, the table's bytes t + 128 looked up (vpermb), one
//          vpdpbusd per 64 weights: 9 vector instructions per 64 weights at K = 2.
// Prompt tiles are decoded to fp32 with the scalar decoders' float operations (1MAD's
// division included), so they are bit-identical to trellis::DecodeTileReference.
#pragma once

#include <cstdint>

#include "kernels/trellis_matvec.h"

namespace quip::kernels::avx512 {

// One token's activations as the kernels read them.
struct TrellisActivations {
  const float* x = nullptr;            // [cols]
  // The integer codes (1MAD, HASH6): int8-rounded activations (q8_activations.h) and the
  // start of each activation group's accumulator lanes: the codes' offsets times Σxq.
  const int8_t* xq = nullptr;          // [cols]
  const int8_t* xq4 = nullptr;         // [4·cols] (1MAD): each activation four times
  // [cols/16][2][64] (HASH6, K = 2, 4): per tile, its activations 0..3 in 8 dwords then 4..7
  // in 8, and 8..11 then 12..15.
  const int8_t* xq_split = nullptr;
  const float* group_scale = nullptr;  // [Q8Groups(cols)]: a_g
  // [Q8Groups(cols)][16] (1MAD): −510·Σ_{tiles j of g} xq[16j + lane].
  const int32_t* start = nullptr;
  // HASH6: 128·Σ_g a_g·Σ_{c∈g} xq_c, the table bytes' offset in every row's sum.
  float offset_sum = 0.0f;
};

// y[16·b .. 16·b + 16) for row blocks [b0, b1). Requires avx512::Supported().
void TrellisRowBlocks(const TrellisMatrixView& w, const TrellisActivations& a, int b0, int b1, float* y);

// The tile at `tile` as 256 row-major floats, as trellis::DecodeTileReference. Requires
// avx512::Supported().
void DecodeTrellisTile(const TrellisMatrixView& w, const uint8_t* tile, float* weights);

}  // namespace quip::kernels::avx512
