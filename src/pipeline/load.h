// Opens a model from any supported source, decided by what the path holds:
//   a folder with config.json            -> Hugging Face safetensors folder
//   a llama2.c .bin, or a folder with one -> llama2.c checkpoint
// and finds the tokenizer that belongs to it.
#pragma once

#include <memory>
#include <string>

#include "model/model.h"
#include "text/tokenizer.h"

namespace quip {

// half_linears_on_use: a Hugging Face folder's BF16/F16 linear weights stay 16-bit in the memory
// map and are converted to fp32 when used (model/half_linear.h), instead of at load into fp32
// copies of the whole model; for fine-tuning's teacher, which is run one block at a time and
// drops each block after it (train/teacher_pages.h). Every weight is still checked finite at load.
struct LoadOptions {
  bool half_linears_on_use = false;
};

Model LoadModel(const std::string& path, const LoadOptions& options = {});
std::unique_ptr<Tokenizer> LoadTokenizer(const Model& model);

}  // namespace quip
