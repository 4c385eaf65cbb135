#include "train/teacher_targets.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "train/teacher_pages.h"

namespace quip::train {

std::vector<TopKTarget> TeacherTopK(const Model& teacher, const std::vector<std::vector<int>>& windows, int k,
                                    int chunk) {
  const LlamaConfig& c = teacher.config;
  QUIP_ASSERT(chunk >= 1);
  int max_len = 1;
  for (const auto& w : windows) max_len = std::max(max_len, int(w.size()));
  const RopeTable<float> rope(c, max_len);
  const std::vector<float> final_norm(teacher.final_norm.data, teacher.final_norm.data + c.dim);
  // The loader leaves none of the weights resident (core/mapped_file.h); a teacher already run
  // (e.g. by a gradient dump) may have some: start from none.
  for (const LayerWeights& w : teacher.layers) ReleaseTeacherBlock(w);
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
      ReleaseTeacherBlock(lw);
    }
    // Built per chunk: a head converted when used (model/half_linear.h) is dropped after each.
    const TrainLinear<float> head(*teacher.lm_head, "lm_head");
    for (Mat<float>& m : x) {
      Mat<float> normed, logits;
      std::vector<float> inv_rms;
      RmsNormForward(m, final_norm, c.norm_eps, normed, inv_rms);
      typename TrainLinear<float>::Saved head_saved;
      head.Forward(normed, logits, head_saved);
      out.push_back(TopK(LogSoftmax(logits.data(), int(logits.rows()), c.vocab_size), k));
    }
    ReleaseTeacherEnds(teacher);
  }
  return out;
}

}  // namespace quip::train
