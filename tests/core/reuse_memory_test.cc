// ReuseFreedMemory (core/resources.h): after it, a freed 64 MB block is reused by the next
// allocation of that size, so touching the new block takes (almost) no page faults.
// Reference: the kernel's count of this process's minor page faults (getrusage); without
// the call glibc serves such a block with a fresh mmap(), 16384 faults of 4 KiB pages.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>

#include "core/resources.h"

namespace quip {
namespace {

long MinorFaults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Allocates, touches and frees `bytes`; returns the page faults the touching took.
long FaultsToTouch(size_t bytes) {
  char* p = static_cast<char*>(std::malloc(bytes));
  EXPECT_NE(p, nullptr);
  const long before = MinorFaults();
  std::memset(p, 1, bytes);
  const long faults = MinorFaults() - before;
  volatile char keep = p[bytes / 2];
  (void)keep;
  std::free(p);
  return faults;
}

TEST(ReuseFreedMemory, ASecondBigBlockReusesTheFirst) {
  const size_t bytes = size_t(64) << 20;
  ReuseFreedMemory();
  FaultsToTouch(bytes);  // the heap grows once
  const long again = FaultsToTouch(bytes);
  EXPECT_LT(again, 64) << "of " << bytes / 4096 << " pages";  // 16384 when each block is a fresh mapping
}

}  // namespace
}  // namespace quip
