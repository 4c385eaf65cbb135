// Linked into every test binary (quip_add_test): before any test runs, each shipped model
// and text must have its expected size, or the binary fails naming the file.
#include <gtest/gtest.h>

#include "testing/shipped_files.h"

namespace quip::testing {
namespace {

class ShippedFilesSizeCheck : public ::testing::Environment {
 public:
  void SetUp() override {
    // Non-fatal: a fatal failure here makes gtest skip every test, which CTest would
    // count as skipped instead of failed.
    for (const ShippedFile& file : ShippedFiles()) {
      const std::string problem = CheckShippedFileSize(file);
      if (!problem.empty()) ADD_FAILURE() << problem;
    }
  }
};

[[maybe_unused]] ::testing::Environment* const kCheck = ::testing::AddGlobalTestEnvironment(new ShippedFilesSizeCheck);

}  // namespace
}  // namespace quip::testing
