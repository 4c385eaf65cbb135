// The whole model's fine-tuning loss and gradient on one window, in double, written with
// everything an independent autograd needs to rebuild the same function
// (tools/finetune_grad_reference.py checks our backward against PyTorch's; docs/finetune.md).
#pragma once

#include <span>
#include <string>

#include "model/model.h"
#include "train/train_linear.h"

namespace quip::train {

// Writes a safetensors file of float64 tensors (shapes as named):
//   tokens [ntok], teacher_log_probs [ntok, vocab], loss [1], embedding [vocab, dim],
//   param/<name> and grad/<name> for every trainable tensor (train/train_model.h's Params),
//   <linear>.basis [K, rows, cols], <linear>.v_rows, <linear>.ut_rows (train_linear.h's
//   FrozenForm) or <linear>.weight for a dense layer;
// metadata: the model's config (dim, heads, ...) and "<linear>.per_row_scale".
void WriteGradientDump(const Model& student, std::span<const int> window, const Mat<float>& teacher_log_probs,
                       const std::string& path);

}  // namespace quip::train
