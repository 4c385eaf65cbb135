#include "train/teacher_pages.h"

#include "core/mapped_file.h"
#include "model/half_linear.h"

namespace quip::train {

namespace {

void ReleaseLinear(const Linear* l) {
  if (const auto* half = dynamic_cast<const HalfLinear*>(l)) return half->Drop();  // its fp32 copy too
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
