#include "model/incoherent_linear.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"

namespace quip {
namespace {

std::atomic<QuantKernel>& KernelChoice() {
  static std::atomic<QuantKernel> choice{[] {
    const char* env = std::getenv("QUIP_KERNEL");
    return env && std::string(env) == "ref" ? QuantKernel::kReference : QuantKernel::kFast;
  }()};
  return choice;
}

std::atomic<bool> g_profiling{false};
std::atomic<int64_t> g_profile_calls{0}, g_rotate_ns{0}, g_matmul_ns{0};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Rotated activations, reused across calls (one per thread: Forward may run concurrently).
std::vector<float>& LocalActivations() {
  thread_local std::vector<float> xt;
  return xt;
}

}  // namespace

const char* QuantKernelName(QuantKernel kernel) { return kernel == QuantKernel::kFast ? "fast" : "ref"; }
void IncoherentLinear::SetKernel(QuantKernel kernel) { KernelChoice() = kernel; }
QuantKernel IncoherentLinear::Kernel() { return KernelChoice(); }
void IncoherentLinear::EnableProfiling(bool on) { g_profiling = on; }
void IncoherentLinear::ResetProfile() {
  g_profile_calls = 0;
  g_rotate_ns = 0;
  g_matmul_ns = 0;
}
IncoherentLinearProfile IncoherentLinear::Profile() {
  return {g_profile_calls.load(), double(g_rotate_ns.load()) * 1e-9, double(g_matmul_ns.load()) * 1e-9};
}

IncoherentLinear::IncoherentLinear(StoredLinear stored)
    : Linear(stored.rows, stored.cols), g_(MakeCodebookMatrix(std::move(stored))) {
  const StoredLinear& s = this->stored();
  const Incoherence& inc = s.incoherence;
  QUIP_ASSERT(s.codes() != nullptr);
  QUIP_ASSERT(inc.rescale.empty() || int(inc.rescale.size()) == s.cols);
  QUIP_ASSERT(inc.output_scale.empty() || int(inc.output_scale.size()) == s.rows);
  inv_rescale_.resize(inc.rescale.size());
  for (size_t i = 0; i < inc.rescale.size(); ++i) inv_rescale_[i] = 1.0f / inc.rescale[i];
  if (inc.incoherent) {
    u_.emplace(inc.rotation, s.rows, inc.seed_u);
    v_.emplace(inc.rotation, s.cols, inc.seed_v);
    fast_u_.emplace(*u_);
    fast_v_.emplace(*v_);
  }
}

void IncoherentLinear::Forward(const float* x, int ntok, float* y) const {
  Run(x, ntok, y, Kernel() == QuantKernel::kFast);
}

void IncoherentLinear::ForwardReference(const float* x, int ntok, float* y) const { Run(x, ntok, y, false); }

const float* IncoherentLinear::RotateInput(const float* x, int ntok, bool fast) const {
  const int n = in_features(), stride = g_->padded_cols();
  std::vector<float>& xr = LocalActivations();
  if (stride == n) {
    xr.resize(size_t(ntok) * stride);
  } else {
    xr.assign(size_t(ntok) * stride, 0.0f);  // padding columns stay zero
  }
  for (int t = 0; t < ntok; ++t) {
    const float* src = x + size_t(t) * n;
    float* dst = xr.data() + size_t(t) * stride;
    if (inv_rescale_.empty()) {
      std::memcpy(dst, src, sizeof(float) * n);
    } else {
      for (int c = 0; c < n; ++c) dst[c] = src[c] * inv_rescale_[c];
    }
  }
  if (!stored().incoherence.incoherent) return xr.data();
  if (stride == n) {  // all tokens at once (the fast one spreads them over the pool)
    fast ? fast_v_->Apply(xr.data(), ntok) : v_->Apply(xr.data(), ntok);
  } else {
    for (int t = 0; t < ntok; ++t)
      fast ? fast_v_->Apply(xr.data() + size_t(t) * stride, 1) : v_->Apply(xr.data() + size_t(t) * stride, 1);
  }
  return xr.data();
}

void IncoherentLinear::Run(const float* x, int ntok, float* y, bool fast) const {
  const bool profile = g_profiling.load(std::memory_order_relaxed);
  const int64_t t0 = profile ? NowNs() : 0;
  const float* xr = RotateInput(x, ntok, fast);
  const int64_t t1 = profile ? NowNs() : 0;
  if (!fast) {
    g_->ProductReference(xr, ntok, y);
  } else if (ntok <= g_->fused_max_tokens()) {
    g_->ProductFewTokens(xr, ntok, y);
  } else {
    g_->ProductManyTokens(xr, ntok, y);
  }
  const int64_t t2 = profile ? NowNs() : 0;
  if (stored().incoherence.incoherent) fast ? fast_u_->ApplyTransposed(y, ntok) : u_->ApplyTransposed(y, ntok);
  if (const std::vector<float>& out = stored().incoherence.output_scale; !out.empty())
    for (int t = 0; t < ntok; ++t)
      for (int r = 0; r < out_features(); ++r) y[size_t(t) * out_features() + r] *= out[r];
  if (profile) {
    const int64_t t3 = NowNs();
    g_profile_calls.fetch_add(1, std::memory_order_relaxed);
    g_rotate_ns.fetch_add((t1 - t0) + (t3 - t2), std::memory_order_relaxed);
    g_matmul_ns.fetch_add(t2 - t1, std::memory_order_relaxed);
  }
}

}  // namespace quip
