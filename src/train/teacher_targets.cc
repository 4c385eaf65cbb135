#include "train/teacher_targets.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "core/error.h"

namespace quip::train {

void ReleaseMappedPages(const void* data, size_t bytes) {
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(data) + page - 1) / page * page, end = (uintptr_t(data) + bytes) / page * page;
  if (begin >= end) return;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // "start-end perms offset dev inode [path]": file-backed when the inode is not 0.
    std::istringstream in(line);
    std::string range, perms, offset, dev;
    uint64_t inode = 0;
    in >> range >> perms >> offset >> dev >> inode;
    const size_t dash = range.find('-');
    if (dash == std::string::npos || perms.size() < 2) continue;
    const uintptr_t lo = std::stoull(range.substr(0, dash), nullptr, 16), hi = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (hi <= begin || lo >= end || inode == 0 || perms[1] == 'w') continue;
    const uintptr_t a = std::max(lo, begin), b = std::min(hi, end);
    // Read-only file pages: dropping them loses nothing (anonymous memory would be zeroed).
    madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
  }
}

namespace {

void ReleaseLinear(const Linear* l) {
  if (const TensorView* w = l ? l->dense_weight() : nullptr) ReleaseMappedPages(w->data, size_t(w->numel()) * 4);
}

void ReleaseBlock(const LayerWeights& w) {
  for (const Linear* l : {w.q.get(), w.k.get(), w.v.get(), w.o.get(), w.gate.get(), w.up.get(), w.down.get()})
    ReleaseLinear(l);
}

}  // namespace

std::vector<TopKTarget> TeacherTopK(const Model& teacher, const std::vector<std::vector<int>>& windows, int k,
                                    int chunk) {
  const LlamaConfig& c = teacher.config;
  QUIP_ASSERT(chunk >= 1);
  int max_len = 1;
  for (const auto& w : windows) max_len = std::max(max_len, int(w.size()));
  const RopeTable<float> rope(c, max_len);
  const TrainLinear<float> head(*teacher.lm_head, "lm_head");
  const std::vector<float> final_norm(teacher.final_norm.data, teacher.final_norm.data + c.dim);
  // Loading checked every weight (all pages resident): start from none.
  for (const LayerWeights& w : teacher.layers) ReleaseBlock(w);
  std::vector<TopKTarget> out;
  out.reserve(windows.size());
  for (size_t first = 0; first < windows.size(); first += size_t(chunk)) {
    const size_t last = std::min(windows.size(), first + size_t(chunk));
    std::vector<Mat<float>> x(last - first);
    for (size_t w = first; w < last; ++w) {
      Mat<float>& m = x[w - first];
      m.resize(int(windows[w].size()), c.dim);
      for (int t = 0; t < m.rows(); ++t) {
        const int id = windows[w][t];
        QUIP_CHECK_INPUT(id >= 0 && id < c.vocab_size, teacher.source, "token id {} is outside the vocabulary of {}",
                         id, c.vocab_size);
        std::copy_n(teacher.token_embedding.row(id), c.dim, m.row(t).data());
      }
    }
    typename TrainBlock<float>::Saved saved;
    for (int l = 0; l < c.n_layers; ++l) {
      const LayerWeights& lw = teacher.layers[l];
      const TrainBlock<float> block(c, lw, "model.layers." + std::to_string(l) + ".");
      for (Mat<float>& m : x) block.Forward(m, saved, rope);
      ReleaseBlock(lw);
    }
    for (Mat<float>& m : x) {
      Mat<float> normed, logits;
      std::vector<float> inv_rms;
      RmsNormForward(m, final_norm, c.norm_eps, normed, inv_rms);
      typename TrainLinear<float>::Saved head_saved;
      head.Forward(normed, logits, head_saved);
      out.push_back(TopK(LogSoftmax(logits.data(), int(logits.rows()), c.vocab_size), k));
    }
    ReleaseLinear(teacher.lm_head.get());
    ReleaseMappedPages(teacher.token_embedding.data, size_t(teacher.token_embedding.numel()) * 4);
  }
  return out;
}

}  // namespace quip::train
