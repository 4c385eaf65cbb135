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

Model LoadModel(const std::string& path);
std::unique_ptr<Tokenizer> LoadTokenizer(const Model& model);

}  // namespace quip
