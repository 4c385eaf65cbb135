// Streaming the fp32 teacher of fine-tuning (docs/finetune.md, Memory): after a block of the
// teacher has run, its weights' pages are dropped from the process where they are a read-only
// file mapping (an F32 safetensors or llama2.c teacher is used in place from its map;
// core/mapped_file.h ReleaseMappedPages). The next run of the block reads them back from the
// page cache (minor faults), so about one block of the teacher is resident instead of all of it.
// A BF16/F16 teacher loaded with its linears converted when used (pipeline/load.h LoadOptions,
// model/half_linear.h) drops those fp32 copies too; other weights the process owns (an
// embedding converted at load) are left alone.
#pragma once

#include "model/model.h"

namespace quip::train {

// The block's linears (fused ones included).
void ReleaseTeacherBlock(const LayerWeights& w);
// The token embedding and the head.
void ReleaseTeacherEnds(const Model& teacher);

}  // namespace quip::train
