// Cost of checksum verification when loading a quip folder (issue 13): median time of
// LoadModel (which verifies every tensor) and of VerifyChecksums alone, on a warm page
// cache, and the hashing rate. Usage: load_bench QUANTIZED_DIR [repeats=21]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "io/checksum.h"
#include "io/tensor_source.h"
#include "pipeline/load.h"
#include "core/blas_kernels.h"

namespace {

template <typename Fn>
double MedianSeconds(int repeats, Fn&& fn) {
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  quip::UseBlasKernelsForThisCpu(argv);  // as the quip binary does
  if (argc < 2) {
    std::fprintf(stderr, "usage: load_bench QUANTIZED_DIR [repeats]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 21;
  const quip::TensorSource source(dir);
  size_t bytes = 0;
  for (const auto& file : source.files())
    for (const auto& t : file->tensors()) bytes += t.end - t.begin;
  const double load = MedianSeconds(repeats, [&] { quip::LoadModel(dir); });
  const double warm = MedianSeconds(repeats, [&] { quip::VerifyChecksums(source); });
  // On a fresh mapping, as in LoadModel: the first touch of each page costs a fault.
  const double open = MedianSeconds(repeats, [&] { quip::TensorSource fresh(dir); });
  const double open_verify = MedianSeconds(repeats, [&] {
    quip::TensorSource fresh(dir);
    quip::VerifyChecksums(fresh);
  });
  std::printf("%s: %.1f MB of tensors, medians of %d runs, warm page cache\n", dir.c_str(), bytes / 1e6, repeats);
  std::printf("LoadModel (verifies checksums):        %7.2f ms\n", load * 1e3);
  std::printf("verification on a fresh mapping:       %7.2f ms (%.0f%% of the load)\n", (open_verify - open) * 1e3,
              100.0 * (open_verify - open) / load);
  std::printf("verification on mapped pages (XXH3):   %7.2f ms (%.1f GB/s)\n", warm * 1e3, bytes / warm / 1e9);
}
