// quip's quantized model folder: a Hugging Face Llama folder whose linear layers
// are stored as packed codes instead of `.weight`. Frozen names (append, never rename):
//
// codebook "scalar" (QuIP and the baselines):
//   <linear>.codes    U8  [rows, PackedBytes(cols, bits)]  codes, each row starting on a byte
//                                                          (bit layout: src/format/packing.h)
//   <linear>.scale    F32 [1] or [rows]   grid step per row (one value: the same for all rows)
//   <linear>.zero     F32 [1] or [rows]   grid zero point per row, in code units
// codebook "e8p" (QuIP#):
//   <linear>.codes    U8  [rows, bits·cols/8]  E8P indices (+ residual stage), row layout in
//                                              src/format/stored_linear.h
//   <linear>.scale    F32 [1] at 2 bits, [2] at 3/4 bits: the stages' scales
// both:
//   <linear>.rescale  F32 [cols]          diagonal rescaling D-tilde (absent when off)
//   <linear>.output_scale F32 [rows]      per-output multiplier after U^T (fine-tuned folders
//                                         only; absent otherwise)
//
// with <linear> e.g. "model.layers.0.self_attn.q_proj". The safetensors __metadata__
// holds "quip.format_version" ("1"), "quip.linears" (JSON: name -> {"bits", "incoherence":
// "kron"|"rht"|"none", "codebook": "scalar"|"e8p" (absent = scalar; the names are the tables
// of format/stored_linear.h), "e8p_table" (e8p only: format/e8p.h
// kTableRevision), "seed_u", "seed_v"})
// "quip.checksums" (JSON: tensor name -> XXH3-64 hex, io/checksum.h; absent in older
// folders) and run information ("quip.method", "quip.bits", "quip.rho", "quip.seed",
// "quip.tool_version"). Embeddings, norms and lm_head stay F32. The rotations and their
// random signs are regenerated from the seeds (format/rotation.h), never stored.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "format/stored_linear.h"
#include "io/tensor_source.h"
#include "model/model.h"

namespace quip {

inline constexpr const char* kQuipFormatVersion = "1";
inline constexpr const char* kQuipLinearsKey = "quip.linears";

// True if the checkpoint was written by WriteQuantizedModel.
bool IsQuipCheckpoint(const TensorSource& source);

// The stored description of the quantized layer `name` ([rows, cols]) from the tensors and
// metadata, every field validated against the file; the codes stay in the memory map.
StoredLinear ReadStoredLinear(TensorSource& source, const std::string& name, int rows, int cols, Model& model);
// The inference layer built from it (model/incoherent_linear.h).
std::unique_ptr<Linear> ReadQuantizedLinear(TensorSource& source, const std::string& name, int rows, int cols,
                                            Model& model);

// Adds the tensors of the quantized linear `name` to `writer` and its entry to `linears`
// (the JSON object stored as __metadata__ "quip.linears").
void AddStoredLinear(SafetensorsWriter& writer, nlohmann::json& linears, const std::string& name,
                     const StoredLinear& stored);

// Writes `model` (dense and quantized layers alike) as a quip folder at `out_dir`,
// atomically, under the rules of io/output_dir.h (StagedOutputDir): an existing out_dir is
// replaced only when `force` and quip wrote it. `run_metadata` lands in __metadata__,
// `report` in out_dir/quant_report.json; tokenizer files are copied from `tokenizer_dir`.
void WriteQuantizedModel(const Model& model, const std::string& out_dir,
                         const std::map<std::string, std::string>& run_metadata, const nlohmann::json& report,
                         const std::string& tokenizer_dir, bool force);

}  // namespace quip
