#include "io/output_dir.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>

#include "core/error.h"
#include "io/atomic_file.h"

namespace quip {
namespace fs = std::filesystem;

namespace {

// Why a dedicated marker file rather than quip's metadata in model.safetensors/config.json:
//  - it is the first file of the temp folder, so even a run killed long before the model is
//    written leaves a folder that is recognisably quip's (the metadata is written last);
//  - every command's folder has one (`ablate --out` writes no safetensors);
//  - a user's folder cannot hold a file of this name whose first line is this exact text by
//    accident, and reading it costs a few bytes, not a multi-GB header of a stranger's file;
//  - when the folder is finished it lists the files quip wrote, so a quip folder into which a
//    user has put files of their own is no longer replaced.
constexpr const char* kMarkerHeader = "quip output folder, format 1";
constexpr const char* kMarkerNote =
    "# Written by quip. `--force` replaces this folder only while this file is here and the folder\n"
    "# holds nothing but the files listed below. Remove this file to protect the folder from quip.\n";

// The file names the marker in `dir` lists, or nullopt when `dir` has no marker of quip's.
std::optional<std::set<std::string>> ReadMarker(const fs::path& dir) {
  std::error_code ec;
  const fs::path path = dir / kOutputMarker;
  if (!fs::is_regular_file(fs::symlink_status(path, ec))) return std::nullopt;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec || size > (1u << 16)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  if (!std::getline(in, line) || line != kMarkerHeader) return std::nullopt;
  std::set<std::string> names;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') names.insert(line);
  return names;
}

// A real folder (not a link) with quip's marker: finished or still being written.
bool HasMarker(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(fs::symlink_status(dir, ec)) && ReadMarker(dir).has_value();
}

// The only recursive delete in quip: `dir` must carry the marker at the moment it goes.
bool RemoveMarkedFolder(const fs::path& dir) {
  if (!HasMarker(dir)) return false;
  std::error_code ec;
  fs::remove_all(dir, ec);
  return !ec;
}

// fsync of a folder, so that the renames into and inside it survive a power cut.
void SyncDirectory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

fs::path Normal(const fs::path& p) {
  std::error_code ec;
  fs::path n = fs::absolute(p, ec).lexically_normal();
  if (!n.has_filename() && n.has_relative_path()) n = n.parent_path();  // "a/b/" -> "a/b"
  return n;
}

// A path as written (absolute, normalised) and as resolved through symbolic links.
struct Place {
  fs::path lexical, resolved;
};

Place Locate(const fs::path& p) {
  const fs::path lexical = Normal(p);
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(lexical, ec);
  return {lexical, ec ? lexical : Normal(resolved)};
}

// `inner` is `outer` or lies below it (whole components: /a/bc is not inside /a/b).
bool Within(const fs::path& inner, const fs::path& outer) {
  return std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end()).first == outer.end();
}
bool Same(const Place& a, const Place& b) { return a.lexical == b.lexical || a.resolved == b.resolved; }
bool Within(const Place& inner, const Place& outer) {
  return Within(inner.lexical, outer.lexical) || Within(inner.resolved, outer.resolved);
}

// Places quip never writes an output folder: it replaces the folder as a whole, so any of
// these would be swapped out from under the user (or hold what the run reads).
void CheckNotAProtectedPlace(const std::string& out_dir, const Place& out, const std::vector<std::string>& inputs) {
  const std::string via = out.lexical == out.resolved ? "" : fmt::format(" (it resolves to {})", out.resolved.string());
  const char* why = "quip never writes its output there (name a new folder)";
  QUIP_CHECK_INPUT(out.resolved != "/" && out.lexical != "/", out_dir, "is the root folder /{}; {}", via, why);
  std::error_code ec;
  if (const fs::path cwd_path = fs::current_path(ec); !ec) {
    const Place cwd = Locate(cwd_path);
    QUIP_CHECK_INPUT(!Same(out, cwd), out_dir, "is the current folder{}; {}", via, why);
    QUIP_CHECK_INPUT(!Within(cwd, out), out_dir, "is a parent of the current folder {}{}; {}", cwd_path.string(),
                     via, why);
  }
  if (const char* home_env = std::getenv("HOME"); home_env != nullptr && *home_env == '/') {
    const Place home = Locate(home_env);
    QUIP_CHECK_INPUT(!Same(out, home), out_dir, "is your home folder{}; {}", via, why);
    QUIP_CHECK_INPUT(!Within(home, out), out_dir, "is a parent of your home folder {}{}; {}", home_env, via, why);
  }
  for (const std::string& input : inputs) {
    if (input.empty()) continue;
    const Place in = Locate(input);
    const bool folder = fs::is_directory(input, ec);
    const char* kind = folder ? "folder" : "file";
    QUIP_CHECK_INPUT(!Same(out, in), out_dir, "is the input {} {}{}; {}", kind, input, via, why);
    QUIP_CHECK_INPUT(!Within(in, out), out_dir, "contains the input {} {}{}; {}", kind, input, via, why);
    QUIP_CHECK_INPUT(!folder || !Within(out, in), out_dir, "lies inside the input folder {}{}; {}", input, via, why);
  }
}

// What already stands at OUT_DIR, and whether quip may replace it.
void CheckExisting(const std::string& out_dir, const fs::path& target, bool force) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(target, ec);
  if (st.type() == fs::file_type::not_found) return;
  QUIP_CHECK_INPUT(!ec, out_dir, "cannot be inspected: {}", ec.message());
  const char* kept = "it is kept: quip replaces only folders it wrote itself (name a new folder)";
  if (fs::is_symlink(st)) {
    const fs::path to = fs::read_symlink(target, ec);
    Fail(out_dir, "is a {}symbolic link to {}; {}", fs::exists(target, ec) ? "" : "dangling ", to.string(), kept);
  }
  QUIP_CHECK_INPUT(fs::is_directory(st), out_dir, "is an existing file, not a folder; {}", kept);
  std::string why;
  if (IsQuipOutputFolder(target, &why)) {
    QUIP_CHECK_INPUT(force, out_dir, "already exists (pass --force to replace it)");
    return;
  }
  if (force) Fail(out_dir, "is not a folder quip wrote ({}); it is kept: --force replaces only quip's own output "
                           "folders (name a new folder)", why);
  Fail(out_dir, "already exists and is not a folder quip wrote ({}); it is kept, even with --force (name a new "
                "folder)", why);
}

std::string SealedMarker(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name != kOutputMarker && name.find('\n') == std::string::npos) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  std::string text = std::string(kMarkerHeader) + "\n" + kMarkerNote;
  for (const std::string& name : names) text += name + "\n";
  return text;
}

bool ProcessIsGone(pid_t pid) { return pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH; }

}  // namespace

fs::path OutputPath(const std::string& out_dir) {
  return Normal(out_dir);  // without the trailing separator of "out/" the temp folder would land inside
}

bool IsQuipOutputFolder(const fs::path& dir, std::string* why) {
  std::string reason;
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir, ec);
  std::optional<std::set<std::string>> listed;
  if (fs::is_symlink(st)) {
    reason = "it is a symbolic link";
  } else if (!fs::is_directory(st)) {
    reason = "it is not a folder";
  } else if (!(listed = ReadMarker(dir))) {
    reason = fmt::format("it has no quip marker file {}", kOutputMarker);
  } else {
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name == kOutputMarker) continue;
      std::error_code kind_ec;
      if (!listed->count(name) || !fs::is_regular_file(it->symlink_status(kind_ec))) {
        reason = fmt::format("it holds '{}', which quip did not write", name);
        break;
      }
    }
    if (ec && reason.empty()) reason = "it cannot be listed: " + ec.message();
  }
  if (why != nullptr) *why = reason;
  return reason.empty();
}

StagedOutputDir::StagedOutputDir(const std::string& out_dir, const std::vector<std::string>& inputs, bool force)
    : out_dir_(out_dir), force_(force) {
  QUIP_CHECK_INPUT(!out_dir.empty(), "output folder", "the name is empty");
  target_ = OutputPath(out_dir);
  CheckNotAProtectedPlace(out_dir, Locate(target_), inputs);
  CheckExisting(out_dir, target_, force);
  RemoveStaleTemporaries(out_dir);
  try {
    // Missing parents are created (as `mkdir -p` would), after every check has passed.
    std::vector<fs::path> missing;
    for (fs::path p = target_.parent_path();; p = p.parent_path()) {
      std::error_code ec;
      const fs::file_status st = fs::status(p, ec);
      if (fs::is_directory(st)) break;
      if (st.type() != fs::file_type::not_found)
        Fail(out_dir, "cannot create the output folder: {} is {}", p.string(),
             ec ? ec.message() : "a file, not a folder");
      QUIP_CHECK_INPUT(!fs::is_symlink(fs::symlink_status(p, ec)), out_dir,
                       "cannot create the output folder: {} is a dangling symbolic link", p.string());
      missing.push_back(p);
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      if (::mkdir(it->c_str(), 0777) != 0)
        Fail(out_dir, "cannot create folder {}: {}", it->string(), std::strerror(errno));
      created_parents_.push_back(*it);
    }
    temp_ = target_.string() + ".tmp." + std::to_string(::getpid());
    int made = ::mkdir(temp_.c_str(), 0777);
    if (made != 0 && errno == EEXIST && RemoveMarkedFolder(temp_)) made = ::mkdir(temp_.c_str(), 0777);  // pid reused
    if (made != 0) {
      const int err = errno;
      temp_.clear();
      Fail(out_dir, "cannot write into {}: {}", target_.parent_path().string(), std::strerror(err));
    }
    // The marker goes in first, so that whatever a killed run leaves here is recognisably quip's.
    std::ofstream marker(temp_ / kOutputMarker, std::ios::binary);
    marker << kMarkerHeader << "\n" << kMarkerNote;
    marker.close();
    QUIP_CHECK_INPUT(marker.good(), out_dir, "cannot write into {}: {}", temp_.string(), std::strerror(errno));
  } catch (...) {
    Discard();  // a throwing constructor runs no destructor
    throw;
  }
}

StagedOutputDir::~StagedOutputDir() { Discard(); }

void StagedOutputDir::Discard() {
  if (committed_) return;
  std::error_code ec;
  if (!temp_.empty() && !RemoveMarkedFolder(temp_)) {
    fs::remove(temp_ / kOutputMarker, ec);  // a marker that could not be completed
    ::rmdir(temp_.c_str());
  }
  temp_.clear();
  // rmdir removes only empty folders: a parent someone else filled meanwhile stays.
  for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it) ::rmdir(it->c_str());
  created_parents_.clear();
}

// A fresh OUT_DIR is created with RENAME_NOREPLACE (a folder that appeared meanwhile is never
// replaced); an existing one (force) is swapped with RENAME_EXCHANGE, so OUT_DIR is always a
// complete folder, old or new, and the old one is then deleted from the temp name -- only
// after checking, once more, that it is a folder quip wrote. Filesystems without renameat2
// flags fall back to plain renames (a crash between them leaves OUT_DIR absent and the old
// folder at "<OUT_DIR>.old.<pid>", which the next run removes).
void StagedOutputDir::Commit() {
  QUIP_ASSERT(!committed_ && !temp_.empty());
  WriteFileAtomically((temp_ / kOutputMarker).string(), SealedMarker(temp_));
  SyncDirectory(temp_);
  CheckExisting(out_dir_, target_, force_);  // hours may have passed since the constructor
  std::error_code ec;
  const bool exists = fs::symlink_status(target_, ec).type() != fs::file_type::not_found;
  const char* changed = "changed while quip was working and is no longer a folder quip wrote; it is kept";
  if (::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, target_.c_str(), exists ? RENAME_EXCHANGE : RENAME_NOREPLACE) ==
      0) {
    committed_ = true;
    if (exists) {  // temp_ now holds the old folder
      if (!IsQuipOutputFolder(temp_, nullptr)) {
        ::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE);
        committed_ = false;
        Fail(out_dir_, "{}", changed);
      }
      RemoveMarkedFolder(temp_);
    }
    SyncDirectory(target_.parent_path());
    return;
  }
  const int err = errno;
  QUIP_CHECK_INPUT(err != EEXIST && err != ENOTEMPTY, out_dir_,
                   "appeared while quip was working; it is kept (nothing was written)");
  QUIP_CHECK_INPUT(err == EINVAL || err == ENOSYS, out_dir_, "cannot rename {} into place: {}", temp_.string(),
                   std::strerror(err));
  if (exists) {
    const fs::path old = target_.string() + ".old." + std::to_string(::getpid());
    QUIP_CHECK_INPUT(fs::symlink_status(old, ec).type() == fs::file_type::not_found, out_dir_,
                     "cannot move the old folder aside: {} exists", old.string());
    fs::rename(target_, old);
    if (!IsQuipOutputFolder(old, nullptr)) {
      fs::rename(old, target_);
      Fail(out_dir_, "{}", changed);
    }
    fs::rename(temp_, target_);
    committed_ = true;
    RemoveMarkedFolder(old);
  } else {
    fs::rename(temp_, target_);
    committed_ = true;
  }
  SyncDirectory(target_.parent_path());
}

void CheckOutputDir(const std::string& out_dir, const std::vector<std::string>& inputs, bool force) {
  StagedOutputDir probe(out_dir, inputs, force);  // proves the temp folder can be made; dropped unused
}

std::vector<std::string> RemoveStaleTemporaries(const std::string& out_dir) {
  const fs::path target = OutputPath(out_dir);
  std::vector<std::string> removed;
  std::error_code ec;
  const std::string prefix = target.filename().string();
  for (const auto& entry : fs::directory_iterator(target.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    for (const char* tag : {".tmp.", ".old."}) {
      if (name.rfind(prefix + tag, 0) != 0) continue;
      // Exactly the names quip makes: the decimal pid, nothing before or after it.
      const std::string digits = name.substr(prefix.size() + std::strlen(tag));
      if (digits.empty() || digits.size() > 9 || digits[0] == '0' ||
          !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        continue;
      const pid_t pid = static_cast<pid_t>(std::stol(digits));
      // Only folders of processes that are gone (a live pid may be another run writing now),
      // and only those that carry quip's marker (a user's "out.old.20241130" does not) or are
      // empty: a run killed between making its folder and writing the marker, or between
      // deleting the marker and the folder, leaves one, and rmdir removes nothing but it.
      if (!ProcessIsGone(pid) || (!RemoveMarkedFolder(entry.path()) && ::rmdir(entry.path().c_str()) != 0)) continue;
      removed.push_back(entry.path().string());
      fmt::print(stderr, "quip: note: removed {} left by an interrupted run (pid {})\n", entry.path().string(), pid);
    }
  }
  return removed;
}

}  // namespace quip
