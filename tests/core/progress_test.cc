// Progress: what reaches the stream in each mode. The reference is the contract in
// core/progress.h: plain lines without '\r' off a terminal (one per interval, a final
// one for steps at least quiet_below long), a live '\r' line on a terminal, nothing
// for quick steps or while an exception unwinds (so an error stays the only line).
#include "core/progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "core/error.h"

namespace quip {
namespace {
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Everything written to a temp FILE* by `body`.
template <class Body>
std::string Captured(Body&& body) {
  std::FILE* f = std::tmpfile();
  body(f);
  std::string out(size_t(std::ftell(f)), '\0');
  std::rewind(f);
  out.resize(std::fread(out.data(), 1, out.size(), f));
  std::fclose(f);
  return out;
}

Progress::Options Lines(std::FILE* f, double interval, double quiet) {
  return {Progress::Mode::kLines, f, interval, quiet};
}

int CountLines(const std::string& s) { return int(std::count(s.begin(), s.end(), '\n')); }

TEST(Progress, LinesModeWritesOneLinePerIntervalAndAFinalLineWithoutCarriageReturns) {
  const std::string out = Captured([](std::FILE* f) {
    Progress p("quantize layer", Lines(f, /*interval=*/0, /*quiet=*/0));
    for (int i = 1; i <= 3; ++i) p.Update(i, 3);
  });
  EXPECT_EQ(out.find('\r'), std::string::npos) << out;
  EXPECT_EQ(out.find('\033'), std::string::npos) << out;
  EXPECT_EQ(CountLines(out), 4) << out;  // three updates, then the final line from the destructor
  EXPECT_THAT(out, StartsWith("quantize layer 1/3, 0 s elapsed, ETA 0 s\n"));
  EXPECT_THAT(out, HasSubstr("quantize layer 2/3, "));
  EXPECT_THAT(out, HasSubstr("\nquantize layer 3/3 ("));
  EXPECT_EQ(out.back(), '\n');
}

TEST(Progress, LinesModeIsSilentBetweenIntervalsAndForQuickSteps) {
  EXPECT_EQ(Captured([](std::FILE* f) {
              Progress p("ppl window", Lines(f, /*interval=*/3600, /*quiet=*/3600));
              for (int i = 1; i <= 100; ++i) p.Update(i, 100);
            }),
            "");
  // Only the final line when the step counts as long but no interval has passed.
  const std::string out = Captured([](std::FILE* f) {
    Progress p("ppl window", Lines(f, /*interval=*/3600, /*quiet=*/0));
    for (int i = 1; i <= 100; ++i) p.Update(i, 100);
  });
  EXPECT_EQ(CountLines(out), 1) << out;
  EXPECT_THAT(out, StartsWith("ppl window 100/100 ("));
}

TEST(Progress, FinishWithSummaryAndRunStep) {
  EXPECT_THAT(Captured([](std::FILE* f) {
                Progress p("tokenizing calib.txt", Lines(f, 0, 0));
                p.Finish("32 windows");
                p.Finish("again");  // a second Finish, and the destructor, add nothing
              }),
              ::testing::MatchesRegex(R"(tokenizing calib\.txt: 32 windows \([0-9]+\.[0-9] s\)
)"));
  EXPECT_EQ(RunStep("step", [] { return 42; }), 42);
}

TEST(Progress, NothingWhileAnExceptionUnwindsInLinesMode) {
  const std::string out = Captured([](std::FILE* f) {
    try {
      Progress p("loading", Lines(f, 0, 0));
      p.Update(1, 2);
      throw std::runtime_error("bad file");
    } catch (const std::runtime_error&) {
    }
  });
  EXPECT_EQ(out, "loading 1/2, 0 s elapsed, ETA 0 s\n") << "no final line for a step that failed";
}

TEST(Progress, TerminalModeRedrawsOneLineAndEndsIt) {
  const std::string out = Captured([](std::FILE* f) {
    Progress p("ppl window", {Progress::Mode::kTerminal, f, 5.0, /*quiet=*/0});
    p.Update(1, 2);
    p.Update(2, 2);
  });
  EXPECT_THAT(out, StartsWith("\rppl window ...\033[K"));  // drawn at once
  EXPECT_THAT(out, HasSubstr("\rppl window 2/2, "));      // the last update always draws
  EXPECT_EQ(CountLines(out), 1) << "one live line, ended once";
  EXPECT_EQ(out.back(), '\n');
}

TEST(Progress, TerminalModeErasesAQuickStepAndEndsTheLineOnAnError) {
  const std::string quick = Captured([](std::FILE* f) {
    Progress p("loading", {Progress::Mode::kTerminal, f, 5.0, /*quiet=*/3600});
  });
  EXPECT_EQ(quick, "\rloading ...\033[K\r\033[K");
  const std::string failed = Captured([](std::FILE* f) {
    try {
      Progress p("loading", {Progress::Mode::kTerminal, f, 5.0, 0});
      throw std::runtime_error("bad file");
    } catch (const std::runtime_error&) {
    }
  });
  EXPECT_EQ(failed, "\rloading ...\033[K\n") << "the error message must start on its own line";
}

TEST(Progress, EnvironmentSelectsTheMode) {
  ::setenv("QUIP_PROGRESS", "off", 1);
  EXPECT_EQ(Progress::FromEnvironment().mode, Progress::Mode::kOff);
  ::setenv("QUIP_PROGRESS", "all", 1);
  EXPECT_EQ(Progress::FromEnvironment().mode, Progress::Mode::kLines);
  EXPECT_EQ(Progress::FromEnvironment().quiet_below_s, 0.0);
  ::setenv("QUIP_PROGRESS", "loud", 1);
  EXPECT_THROW(Progress::FromEnvironment(), Error);
  ::unsetenv("QUIP_PROGRESS");
  EXPECT_EQ(Progress::FromEnvironment().mode, Progress::Mode::kAuto);
  EXPECT_EQ(Captured([](std::FILE* f) {
              Progress p("x", {Progress::Mode::kOff, f, 0, 0});
              p.Update(1, 1);
            }),
            "");
}

}  // namespace
}  // namespace quip
