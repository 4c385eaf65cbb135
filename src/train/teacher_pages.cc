#include "train/teacher_pages.h"

#include "core/mapped_file.h"

namespace quip::train {

namespace {

void ReleaseLinear(const Linear* l) {
  if (const TensorView* w = l ? l->dense_weight() : nullptr) ReleaseMappedPages(w->data, size_t(w->numel()) * 4);
}

}  // namespace

void ReleaseTeacherBlock(const LayerWeights& w) {
  for (const Linear* l : w.linears()) ReleaseLinear(l);
}

void ReleaseTeacherEnds(const Model& teacher) {
  ReleaseLinear(teacher.lm_head.get());
  ReleaseMappedPages(teacher.token_embedding.data, size_t(teacher.token_embedding.numel()) * 4);
}

}  // namespace quip::train
