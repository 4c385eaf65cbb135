#include "pipeline/block_checkpoint.h"

#include <fmt/core.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "io/output_dir.h"

namespace quip {
namespace fs = std::filesystem;

namespace {
constexpr const char* kRunFile = "run.json";
}

BlockCheckpoints::BlockCheckpoints(const std::string& out_dir, const nlohmann::json& run)
    : dir_(OutputPath(out_dir).string() + ".checkpoint") {
  const std::string run_file = (fs::path(dir_) / kRunFile).string();
  if (fs::exists(run_file)) {
    const nlohmann::json saved = ReadJsonFile(run_file);
    QUIP_CHECK_INPUT(saved == run, dir_,
                     "holds the blocks of another run (other options, calibration windows or model); rerun the "
                     "command that wrote it or remove the folder");
    return;
  }
  QUIP_CHECK_INPUT(!fs::exists(dir_) || fs::is_empty(dir_), dir_, "exists but has no {} (not quip's checkpoint folder?)",
                   kRunFile);
  fs::create_directories(dir_);
  WriteFileAtomically(run_file, run.dump(1) + "\n");
}

std::string BlockCheckpoints::Path(int layer) const {
  return (fs::path(dir_) / fmt::format("block-{:05d}.safetensors", layer)).string();
}

std::vector<uint8_t> BlockCheckpoints::Load(int layer) const {
  std::ifstream in(Path(layer), std::ios::binary);
  if (!in) return {};
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void BlockCheckpoints::Save(int layer, const std::vector<uint8_t>& bytes) const {
  AtomicFile file(Path(layer));
  file.Write(bytes.data(), bytes.size());
  file.Commit();
}

std::string BlockCheckpoints::TuningPath(int layer) const {
  return (fs::path(dir_) / fmt::format("block-{:05d}.tune.json", layer)).string();
}

nlohmann::json BlockCheckpoints::LoadTuning(int layer) const {
  const std::string path = TuningPath(layer);
  return fs::exists(path) ? ReadJsonFile(path) : nlohmann::json();
}

void BlockCheckpoints::SaveTuning(int layer, const nlohmann::json& record) const {
  WriteFileAtomically(TuningPath(layer), record.dump() + "\n");
}

void BlockCheckpoints::Remove() const {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (name == kRunFile || (name.rfind("block-", 0) == 0 && (name.ends_with(".safetensors") || name.ends_with(".tune.json")))) fs::remove(e.path(), ec);
  }
  if (fs::is_empty(dir_, ec)) fs::remove(dir_, ec);
}

}  // namespace quip
