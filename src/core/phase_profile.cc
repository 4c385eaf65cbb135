#include "core/phase_profile.h"

#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>

namespace quip {
namespace {

std::atomic<PhaseProfile*> g_active{nullptr};

}  // namespace

void PhaseProfile::Add(const std::string& phase, double seconds, double flop, bool thread_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first == phase; });
  if (it == entries_.end()) it = entries_.insert(entries_.end(), {phase, Entry{}});
  Entry& e = it->second;
  e.seconds += seconds;
  e.flop += flop;
  e.calls += 1;
  e.thread_seconds = thread_seconds;
}

void PhaseProfile::AddThreadSeconds(const std::string& phase, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first == phase; });
  if (it == entries_.end()) it = entries_.insert(entries_.end(), {phase, Entry{}});
  it->second.seconds += seconds;
  it->second.thread_seconds = true;
}

std::vector<std::pair<std::string, PhaseProfile::Entry>> PhaseProfile::Entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_;
}

nlohmann::json PhaseProfile::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [phase, e] : Entries()) {
    nlohmann::json row = {{"seconds", e.seconds}, {"calls", e.calls}, {"summed_over_threads", e.thread_seconds}};
    row["gflop"] = e.flop > 0 ? nlohmann::json(e.flop / 1e9) : nlohmann::json(nullptr);
    row["gflops"] = e.flop > 0 && e.seconds > 0 ? nlohmann::json(e.flop / 1e9 / e.seconds) : nlohmann::json(nullptr);
    j[phase] = row;
  }
  return j;
}

std::string PhaseProfile::Table() const {
  std::string out = fmt::format("{:<27} {:>10} {:>10} {:>9} {:>7}\n", "phase", "seconds", "GFLOP", "GFLOP/s", "calls");
  for (const auto& [phase, e] : Entries()) {
    const std::string name = phase + (e.thread_seconds ? " *" : "");
    if (e.flop > 0)
      out += fmt::format("{:<27} {:>10.3f} {:>10.2f} {:>9.2f} {:>7}\n", name, e.seconds, e.flop / 1e9,
                         e.seconds > 0 ? e.flop / 1e9 / e.seconds : 0.0, e.calls);
    else
      out += fmt::format("{:<27} {:>10.3f} {:>10} {:>9} {:>7}\n", name, e.seconds, "-", "-", e.calls);
  }
  out += "(* CPU seconds summed over worker threads; GFLOP/s per core)\n";
  return out;
}

PhaseProfile* PhaseProfile::Active() { return g_active.load(std::memory_order_acquire); }

ActiveProfile::ActiveProfile(PhaseProfile* profile) : previous_(g_active.exchange(profile)) {}
ActiveProfile::~ActiveProfile() { g_active.store(previous_); }

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double ScopedPhase::Now(Clock clock) {
  if (clock == Clock::kWall)
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  return ThreadCpuSeconds();
}

ScopedPhase::~ScopedPhase() {
  if (profile_ == nullptr) return;
  profile_->Add(phase_, Now(clock_) - start_, flop_, clock_ == Clock::kThread);
}

}  // namespace quip
