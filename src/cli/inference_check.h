// The resource check of the inference commands (ppl, generate, bench): memory and the
// address-space limit for one Session on the loaded model (core/resources.h), before
// the first BLAS call, so that a run that cannot fit fails at once with the numbers.
#pragma once

#include <string>

#include "model/model.h"

namespace quip {

// `ctx`: positions of the session (clamped to max_position_embeddings: longer contexts
// are refused by the session itself); `logits_rows`: rows of logits held at once.
void CheckInferenceResources(const Model& model, int64_t ctx, int64_t logits_rows);

}  // namespace quip
