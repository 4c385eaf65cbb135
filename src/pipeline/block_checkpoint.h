// `quip quantize --resume`: every finished block's linears (codes, scales, transforms and
// report entries: pipeline/linear_exchange.h's bytes, a quip safetensors file) are kept in
// "<OUT_DIR>.checkpoint/block-00012.safetensors", each written atomically, next to run.json,
// which says which run they belong to. The same command with --resume, after the run was
// interrupted (killed, out of time, a rank lost), loads the finished blocks, replays their
// forward pass to rebuild the calibration streams, and continues with the first missing
// block: the output folder is byte-identical to an uninterrupted run's. The folder is
// removed once OUT_DIR is written. Only rank 0 of a distributed run reads and writes it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace quip {

class BlockCheckpoints {
 public:
  // The folder for OUT_DIR `out_dir`. `run`: what makes this run's blocks (options,
  // calibration windows, model); a folder of another run is refused with an error naming it.
  BlockCheckpoints(const std::string& out_dir, const nlohmann::json& run);

  const std::string& dir() const { return dir_; }
  // Block `layer`'s bytes, empty when it was not finished.
  std::vector<uint8_t> Load(int layer) const;
  void Save(int layer, const std::vector<uint8_t>& bytes) const;
  // --block-tune: what a tuned block adds (its norms and report entry), saved before the block's
  // linears; null when absent.
  nlohmann::json LoadTuning(int layer) const;
  void SaveTuning(int layer, const nlohmann::json& record) const;
  // Removes the block files and run.json it wrote, then the folder if nothing else is in it.
  void Remove() const;

 private:
  std::string Path(int layer) const;
  std::string TuningPath(int layer) const;
  std::string dir_;
};

}  // namespace quip
