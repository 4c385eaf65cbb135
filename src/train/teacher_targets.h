// The teacher's targets for fine-tuning computed ahead of tuning, compactly, with the teacher
// streamed block by block (docs/finetune.md, Memory): the windows run through the teacher a
// few at a time, one block after the other, each block's pages dropped after it has run
// (train/teacher_pages.h). About one block of the teacher is then resident instead of all of
// it, and none once the targets are computed and the teacher is freed.
#pragma once

#include <cstddef>
#include <vector>

#include "model/model.h"
#include "train/train_model.h"

namespace quip::train {

// Every window's top-k targets (TopK of the teacher's log-softmax), `chunk` windows at a time.
// The forward pass is train/train_block.h's (the inference forward to ~1e-6 on the logits).
std::vector<TopKTarget> TeacherTopK(const Model& teacher, const std::vector<std::vector<int>>& windows, int k,
                                    int chunk = 16);

}  // namespace quip::train
