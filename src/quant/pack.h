// A freshly quantized matrix (unpacked codes) as it is stored: packed rows, scales,
// the same transforms (format/stored_linear.h). The codes are owned.
#pragma once

#include "format/stored_linear.h"
#include "quant/quantized_matrix.h"

namespace quip {

StoredLinear PackQuantizedMatrix(const QuantizedMatrix& q);

}  // namespace quip
