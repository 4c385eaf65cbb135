// Where quip may write an output folder, and the only folders it may replace or delete.
// Every command that writes a folder (`quantize -o`, `ablate --out`) goes through here:
//
//  * Refused before any work (one error naming OUT_DIR, nothing touched): OUT_DIR is, contains
//    or lies inside an input folder (or is / contains an input file); it is the current
//    folder or one of its parents, `/`, $HOME or a parent of it -- also when it only resolves
//    to one of these through symbolic links; it is a symbolic link, a file, or an existing
//    folder that quip did not write; its parent cannot be created or written.
//  * A folder quip wrote carries the marker file kOutputMarker (see output_dir.cc for why a
//    dedicated file). `force` replaces an existing OUT_DIR only when it carries the marker
//    and holds nothing but the files the marker lists.
//  * The folder is built in "<OUT_DIR>.tmp.<pid>" (the marker is its first file) and renamed
//    into place; a killed run's leftovers are removed by a later run only when they carry the
//    marker, match that exact name and their process is gone.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace quip {

inline constexpr const char* kOutputMarker = ".quip-output";

// The absolute, normalised output folder (a trailing separator dropped).
std::filesystem::path OutputPath(const std::string& out_dir);

// True when `dir` is a folder quip finished writing: a real folder (not a link) whose marker
// lists every entry it holds. Otherwise false, with the reason in `why` (may be null).
bool IsQuipOutputFolder(const std::filesystem::path& dir, std::string* why);

// Builds an output folder atomically. The constructor validates `out_dir` against the rules
// above (`inputs`: the command's input files and folders; empty strings are ignored), removes
// stale temporaries of dead runs, creates missing parents and the temp folder with the
// marker. Write the files into path(), then Commit(). Dropped without Commit(), it removes
// the temp folder and the parents it created (which hold nothing else).
class StagedOutputDir {
 public:
  StagedOutputDir(const std::string& out_dir, const std::vector<std::string>& inputs, bool force);
  ~StagedOutputDir();
  StagedOutputDir(const StagedOutputDir&) = delete;
  StagedOutputDir& operator=(const StagedOutputDir&) = delete;

  const std::filesystem::path& path() const { return temp_; }
  // Seals the marker with the folder's file list, syncs, and renames it to OUT_DIR
  // (replacing an old quip folder there only when `force`).
  void Commit();

 private:
  void Discard();  // removes what an uncommitted run made

  std::string out_dir_;  // as the user spelled it, for messages
  std::filesystem::path target_, temp_;
  std::vector<std::filesystem::path> created_parents_;  // deepest last
  bool force_;
  bool committed_ = false;
};

// Run by each command before any work: everything StagedOutputDir's constructor checks,
// including that the temp folder can be created (it is removed again). Throws quip::Error.
void CheckOutputDir(const std::string& out_dir, const std::vector<std::string>& inputs, bool force);

// Removes "<out_dir>.tmp.<pid>" and "<out_dir>.old.<pid>" folders that carry the marker and
// whose process is gone (a note on stderr each); returns their paths. Anything else beside
// OUT_DIR is left alone.
std::vector<std::string> RemoveStaleTemporaries(const std::string& out_dir);

}  // namespace quip
