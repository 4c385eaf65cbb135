// Loading a model checks every weight (non-finite values are refused), which reads every page
// of its files; the loaders then drop those pages (core/mapped_file.h ReleaseMappedPages), so
// that what the model later uses, not the load, sets the process's memory (docs/finetune.md,
// Memory: the teacher of `quip finetune --teacher-top-k` is run one block at a time). The
// reference is the kernel's own count: the Rss of the file's mappings in /proc/self/smaps.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "model/model.h"
#include "pipeline/load.h"
#include "testing/mapped_rss.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using testing::MappedRss;

// Weights of a few hundred KB each, so that a tensor's partial edge pages are a small part.
LlamaConfig Wide() {
  LlamaConfig c = testing::TinyConfig();
  c.dim = 256;
  c.hidden_dim = 768;
  c.n_heads = 8;
  c.n_kv_heads = 4;
  c.head_dim = 32;
  c.vocab_size = 1024;
  return c;
}

double Sum(const TensorView& t) {
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i) s += t.data[i];
  return s;
}

// Loads `model_path`, whose weights live in `file`, and expects at most 1/16 of the file
// resident after the load (the header and the partial pages at the tensors' edges), and the
// weights read back (from the page cache) as written.
void ExpectLoadLeavesFileUnresident(const std::string& model_path, const std::string& file,
                                    const testing::TinyWeights& w) {
  const Model model = LoadModel(model_path);
  const int64_t size = int64_t(fs::file_size(file));
  EXPECT_LT(MappedRss(file), size / 16) << file << " of " << size << " bytes";
  const auto& [shape, values] = w.tensors.at("model.embed_tokens.weight");
  double expected = 0;
  for (float v : values) expected += v;
  EXPECT_EQ(Sum(model.token_embedding), expected);
  EXPECT_GT(MappedRss(file), int64_t(values.size()) * 4 / 2) << "the embedding is mapped in place again once read";
}

TEST(LoadResidency, F32SafetensorsFolderLeavesNoWeightResident) {
  const testing::TinyWeights w = testing::RandomWeights(Wide(), 3);
  const std::string dir = testing::MakeTempDir("residency-f32");
  testing::WriteHfFolder(w, dir);
  ExpectLoadLeavesFileUnresident(dir, dir + "/model.safetensors", w);
}

TEST(LoadResidency, Llama2cCheckpointLeavesNoWeightResident) {
  const testing::TinyWeights w = testing::RandomWeights(Wide(), 4);
  const std::string dir = testing::MakeTempDir("residency-llama2c");
  testing::WriteLlama2cFile(w, dir + "/model.bin");
  ExpectLoadLeavesFileUnresident(dir + "/model.bin", dir + "/model.bin", w);
}

// BF16 weights are converted into fp32 copies (resident by nature); the mapped source pages
// the conversion read are dropped.
TEST(LoadResidency, Bf16FolderDropsTheConvertedPages) {
  const testing::TinyWeights w = testing::RandomWeights(Wide(), 5);
  const std::string dir = testing::MakeTempDir("residency-bf16");
  testing::WriteHfFolderAs(w, dir, DType::kBF16);
  const Model model = LoadModel(dir);
  const int64_t size = int64_t(fs::file_size(dir + "/model.safetensors"));
  EXPECT_LT(MappedRss(dir + "/model.safetensors"), size / 16);
}

}  // namespace
}  // namespace quip
