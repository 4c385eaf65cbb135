// Tables, activation preparation and threading around the E8P SIMD kernel; no SIMD here.
#include "kernels/e8p_matvec.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/e8p_matvec_avx512.h"
#include "kernels/e8p_matvec_simd.h"
#include "kernels/q8_activations.h"
#include "kernels/quant_matmul.h"
#include "format/vector_codebook.h"
#include "format/e8p.h"

namespace quip::kernels {
namespace {

uint64_t Pack8(const int8_t* v) {
  uint64_t u;
  std::memcpy(&u, v, 8);
  return u;
}

const simd::E8PTables& Tables() {
  static const simd::E8PTables tables = [] {
    simd::E8PTables t{};
    const auto& abs2 = e8p::AbsTable();  // 2·a, odd
    for (int p = 0; p < 256; ++p) {
      int8_t pattern[8];
      int twice_sum = 0;  // Σ_i 2a_i, an even number: Σ a_i = twice_sum / 2
      for (int i = 0; i < 8; ++i) pattern[i] = int8_t(2 * abs2[p][i]), twice_sum += abs2[p][i];
      if ((twice_sum / 2) & 1) pattern[7] = int8_t(-pattern[7]);
      t.pattern[p] = Pack8(pattern);
      for (int i = 0; i < 8; ++i) {
        const int c = (abs2[p][i] - 1) / 2;  // 2a = 1 + 2c
        t.low_bits[p] |= uint8_t((c & 1) << i);
        t.high_bits[p] |= uint8_t((c >> 1) << i);
      }
    }
    // Coordinate i < 7 is negative when index bit 1 + i is set; coordinate 7's share of
    // the parity rule is the popcount of those bits (e8p.h).
    for (int bits = 0; bits < 128; ++bits) {
      int8_t s[8];
      for (int i = 0; i < 7; ++i) s[i] = (bits >> i) & 1 ? -1 : 1;
      s[7] = __builtin_popcount(unsigned(bits)) & 1 ? -1 : 1;
      t.signs[bits] = Pack8(s);
    }
    const auto& one_bit = E8OneBitCodebook::Points();
    for (int b = 0; b < 256; ++b) {
      int8_t v[8];
      for (int i = 0; i < 8; ++i) {
        const double q = 4.0 * one_bit[b][i];
        QUIP_ASSERT(q == std::round(q) && std::abs(q) <= 127);
        v[i] = int8_t(q);
      }
      t.one_bit[b] = Pack8(v);
      for (int i = 0; i < 8; ++i) {
        const int u = v[i] + 16;
        QUIP_ASSERT(u >= 12 && u <= 20 && ((u >> 4) & 1) == 1 - ((u >> 3) & 1));
        for (int p = 0; p < 4; ++p) t.one_bit_planes[p][b] |= uint8_t(((u >> (3 - p)) & 1) << i);
      }
    }
    return t;
  }();
  return tables;
}

std::atomic<E8PImpl>& ImplChoice() {
  static std::atomic<E8PImpl> choice{E8PImpl::kAuto};
  return choice;
}

bool UseAvx512() { return ImplChoice() == E8PImpl::kAuto && avx512::Supported(); }

struct Scratch {
  std::vector<int8_t> xq;
  std::vector<float> group_scale;
  std::vector<int16_t> group_sum;
};

}  // namespace

void E8PDecodeRow(const E8PMatrixView& w, int r, float* out) {
  const simd::E8PTables& t = Tables();
  if (UseAvx512()) return avx512::E8PDecodeRow(w, t, r, out);
  const uint8_t* row = w.codes + int64_t(r) * w.row_bytes;
  const float s1 = 0.25f * w.stage_scale[0], s2 = 0.25f * w.stage_scale[1];
  int8_t p[8], q[8];
  for (int g = 0; g < w.groups; ++g) {
    simd::DecodeGroup(t, row, g, false, p);
    if (w.bits == 2) {
      for (int i = 0; i < 8; ++i) out[8 * g + i] = s1 * float(p[i]);
    } else {
      simd::DecodeGroup(t, row + 2 * w.groups, g, w.bits == 3, q);
      for (int i = 0; i < 8; ++i) out[8 * g + i] = s1 * float(p[i]) + s2 * float(q[i]);
    }
  }
}

void SetE8PImpl(E8PImpl impl) { ImplChoice() = impl; }

const char* E8PImplName() { return UseAvx512() ? "avx512-vbmi-vnni-gfni" : KernelTarget(); }

void E8PMatvec(const E8PMatrixView& w, const float* x, float* y) {
  if (w.rows <= 0) return;
  QUIP_ASSERT(w.bits >= 2 && w.bits <= 4 && w.row_bytes == int64_t(w.bits) * w.groups);
  thread_local Scratch s;
  const int cols = 8 * w.groups;
  s.xq.resize(cols);
  s.group_scale.resize(Q8Groups(cols));
  s.group_sum.resize(w.groups);
  QuantizeQ8(x, cols, s.xq.data(), s.group_scale.data());
  float scaled_sum = 0.0f;
  for (int g = 0; g < w.groups; ++g) {
    int sum = 0;
    for (int i = 0; i < 8; ++i) sum += s.xq[8 * g + i];
    s.group_sum[g] = int16_t(sum);
    scaled_sum += s.group_scale[8 * g / kQ8Group] * float(sum);
  }
  const simd::E8PActivations a{s.xq.data(), s.group_scale.data(), s.group_sum.data(), scaled_sum};
  const bool avx512 = UseAvx512();
  const simd::E8PTables& t = Tables();
  ThreadPool& pool = ThreadPool::Global();
  // ~4 tasks per thread, each at least ~32 KiB of codes.
  const int min_rows = std::max(8, int((1 << 15) / std::max<int64_t>(1, w.row_bytes)));
  // Even at 2 bits, where the AVX-512 kernel takes rows in pairs.
  const int per = (std::max(min_rows, (w.rows + 4 * pool.threads() - 1) / (4 * pool.threads())) + 1) & ~1;
  const int tasks = (w.rows + per - 1) / per;
  pool.Run(tasks, [&](int64_t task) {
    const int r0 = int(task) * per, r1 = std::min(w.rows, r0 + per);
    if (avx512) {
      avx512::E8PRows(w, t, a, r0, r1, y);
    } else {
      simd::E8PRows(w, t, a, r0, r1, y);
    }
  });
}

}  // namespace quip::kernels
