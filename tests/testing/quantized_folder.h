// Quantized (quip) folders of tiny random models written in code, and in-place edits of
// safetensors files, for tests of what the loader accepts and refuses.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace quip::testing {

// TinyConfig's random model (seed 11) as an HF folder DIR/fp32, quantized in memory with
// `method` ("quip", "quipsharp", ...) at `bits` on random calibration windows and written
// with WriteQuantizedModel to DIR/quantized, whose path is returned. DIR = MakeTempDir(name).
// `code`: the trellis code's name for "qtip" (empty: the method's default).
std::string WriteTinyQuantizedFolder(const std::string& name, const std::string& method = "quip", int bits = 2,
                                     const std::string& code = "");

// One tensor of a safetensors file, as stored.
struct StoredTensor {
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
using SafetensorsEdit =
    std::function<void(std::map<std::string, std::string>& metadata, std::map<std::string, StoredTensor>& tensors)>;
// Reads the safetensors file at `path`, lets `edit` change it and writes it back.
void RewriteSafetensors(const std::string& path, const SafetensorsEdit& edit);

// Expects LoadModel(out) to throw an error that names out/model.safetensors and contains
// every needle.
void ExpectLoadError(const std::string& out, const std::vector<std::string>& needles);

// quant_report.json without its measurements (wall-clock seconds, RSS, the memory estimate
// for the thread count, the profile, a distributed run's per-rank numbers), the only bytes of
// an output folder allowed to differ between runs (docs/determinism.md).
nlohmann::json ReportWithoutMeasurements(const std::string& path);
// Every file of folder `a` equals the one in `b` (the report up to its measurements).
void ExpectSameFolder(const std::string& a, const std::string& b);

}  // namespace quip::testing
