#include "pipeline/linear_exchange.h"

#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "io/quip_format.h"
#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "model/incoherent_linear.h"

namespace quip {
namespace {
namespace fs = std::filesystem;

constexpr const char* kReportsKey = "quip.exchange_reports";

// A folder of this process under the system's temporary folder, removed when done.
class ScratchFolder {
 public:
  ScratchFolder() : path_(fs::temp_directory_path() / fmt::format("quip-exchange-{}", ::getpid())) {
    fs::create_directories(path_);
  }
  ~ScratchFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

std::vector<uint8_t> PackRoundedLinears(const std::vector<LinearRef>& linears) {
  SafetensorsWriter writer;
  nlohmann::json stored = nlohmann::json::object(), reports = nlohmann::json::array();
  for (const LinearRef& l : linears) {
    const StoredLinear* s = l.linear.stored_linear();
    QUIP_ASSERT(s != nullptr);
    AddStoredLinear(writer, stored, l.name, *s);
    reports.push_back({{"name", l.name}, {"rows", s->rows}, {"cols", s->cols}, {"report", l.report}});
  }
  writer.SetMetadata("quip.format_version", kQuipFormatVersion);
  writer.SetMetadata(kQuipLinearsKey, stored.dump());
  writer.SetMetadata(kReportsKey, reports.dump());
  const ScratchFolder scratch;
  const fs::path file = scratch.path() / "model.safetensors";
  writer.Write(file.string());
  std::ifstream in(file, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<RoundedLinear> UnpackRoundedLinears(const std::vector<uint8_t>& bytes, const std::string& where) {
  const ScratchFolder scratch;
  {
    std::ofstream out(scratch.path() / "model.safetensors", std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    QUIP_CHECK_INPUT(out.good(), scratch.path().string(), "cannot write a copy of {}", where);
  }
  TensorSource source(scratch.path().string());
  Model holder;  // keeps the mapping alive while the codes are copied
  std::vector<RoundedLinear> out;
  const auto& metadata = source.metadata();
  QUIP_CHECK_INPUT(metadata.count(kReportsKey), where, "lacks __metadata__ '{}'", kReportsKey);
  const nlohmann::json reports = nlohmann::json::parse(metadata.at(kReportsKey), nullptr, false);
  QUIP_CHECK_INPUT(reports.is_array(), where, "__metadata__ '{}' is not a JSON array", kReportsKey);
  for (const nlohmann::json& r : reports) {
    QUIP_CHECK_INPUT(r.is_object() && r.contains("name") && r["name"].is_string() && r.contains("rows") &&
                         r["rows"].is_number_integer() && r.contains("cols") && r["cols"].is_number_integer() &&
                         r.contains("report"),
                     where, "__metadata__ '{}' has an entry without name, rows, cols and report", kReportsKey);
    const std::string name = r.at("name").get<std::string>();
    StoredLinear s = ReadStoredLinear(source, name, r.at("rows").get<int>(), r.at("cols").get<int>(), holder);
    s.owned_codes.assign(s.codes(), s.codes() + size_t(s.rows) * size_t(s.RowBytes()));
    s.borrowed_codes = nullptr;
    out.push_back({name, std::make_unique<IncoherentLinear>(std::move(s)), r.at("report")});
  }
  return out;
}

void ShareRoundedLinears(ProcessGroup& group, std::vector<RoundedLinear>& linears, const std::vector<int>& owner) {
  QUIP_ASSERT(owner.size() == linears.size());
  for (int root = 0; root < group.size(); ++root) {
    size_t count = 0;
    for (size_t i = 0; i < linears.size(); ++i) count += owner[i] == root;
    if (count == 0) continue;
    std::vector<uint8_t> bytes;
    if (group.rank() == root) {
      std::vector<LinearRef> refs;
      for (size_t i = 0; i < linears.size(); ++i)
        if (owner[i] == root) refs.push_back({linears[i].name, *linears[i].linear, linears[i].report});
      bytes = PackRoundedLinears(refs);
    }
    group.Broadcast(bytes, root);
    if (group.rank() == root) continue;
    std::vector<RoundedLinear> received = UnpackRoundedLinears(bytes, fmt::format("the linears rank {} sent", root));
    QUIP_ASSERT(received.size() == count);
    for (size_t i = 0, k = 0; i < linears.size(); ++i)
      if (owner[i] == root) {
        QUIP_ASSERT(received[k].name == linears[i].name);
        linears[i] = std::move(received[k++]);
      }
  }
}

}  // namespace quip
