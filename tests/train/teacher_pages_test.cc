// Fine-tuning's default mode runs the fp32 teacher on every window through tuning; each block's
// mapped pages are dropped once it has run (train/teacher_pages.h), so about one block of the
// teacher is resident, not all of it (docs/finetune.md, Memory). Checked with the kernel's own
// count (the Rss of the teacher file's mappings, /proc/self/smaps) on a tiny fp32 teacher whose
// weights are a few hundred KB each, against the plain inference forward for the numbers. A BF16
// teacher, whose linears are converted to fp32 when used (model/half_linear.h), holds the fp32
// copies of one block at a time and gives the bytes of the teacher converted at load.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "model/forward.h"
#include "model/half_linear.h"
#include "pipeline/load.h"
#include "testing/mapped_rss.h"
#include "testing/quantized_folder.h"
#include "testing/tiny_model.h"
#include "train/finetune.h"
#include "train/teacher_pages.h"
#include "train/teacher_targets.h"

namespace quip::train {
namespace {
namespace fs = std::filesystem;
using testing::MappedRss;

// 4 blocks of 3.1 MB, embedding and head of 1 MB each: 14.7 MB of weights.
LlamaConfig Wide() {
  LlamaConfig c = testing::TinyConfig();
  c.dim = 256;
  c.hidden_dim = 768;
  c.n_layers = 4;
  c.n_heads = 8;
  c.n_kv_heads = 4;
  c.head_dim = 32;
  c.vocab_size = 1024;
  return c;
}

int64_t BlockBytes(const LayerWeights& w) {
  int64_t bytes = 0;
  for (const Linear* l : w.linears()) bytes += l->WeightBytes();
  return bytes;
}

std::vector<int> RandomTokens(int n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int> t{1};
  while (int(t.size()) < n) t.push_back(int(rng() % uint64_t(vocab)));
  return t;
}

// The teacher's targets are the inference forward's bytes, and after them none of the teacher
// is left resident; inside the pass, at most one block is.
TEST(TeacherPagesTest, TeacherLogProbsStreamsTheTeacher) {
  const testing::TinyWeights w = testing::RandomWeights(Wide(), 21);
  const std::string dir = testing::MakeTempDir("teacher-pages");
  testing::WriteHfFolder(w, dir);
  const std::string file = dir + "/model.safetensors";
  const int64_t size = int64_t(fs::file_size(file));
  const Model teacher = LoadModel(dir);
  const int64_t block = BlockBytes(teacher.layers[0]);
  const std::vector<int> window = RandomTokens(40, teacher.config.vocab_size, 22);

  Session plain(teacher, int(window.size()));
  const std::span<const float> logits = plain.Feed(window, /*all_logits=*/true);
  const Mat<float> reference = LogSoftmax(logits.data(), int(window.size()), teacher.config.vocab_size);
  // The measurement sees a teacher run without release: all of its blocks are resident.
  EXPECT_GT(MappedRss(file), teacher.config.n_layers * block);

  const Mat<float> streamed = TeacherLogProbs(teacher, window);
  ASSERT_EQ(streamed.size(), reference.size());
  EXPECT_EQ(std::memcmp(streamed.data(), reference.data(), size_t(reference.size()) * sizeof(float)), 0);
  // Left: the header, norms and partial pages at the tensors' edges.
  EXPECT_LT(MappedRss(file), size / 16) << "of " << size << " bytes";

  // Inside the pass (after each block has run, before its release): that block and the
  // embedding rows read (the kernel maps the cached pages around each faulting one too:
  // measured 4.4 MB with the 1 MB embedding and the 3.1 MB block), not the blocks before it.
  int64_t worst = 0;
  Session session(teacher, int(window.size()));
  session.Feed(window, true, [&](int layer) {
    worst = std::max(worst, MappedRss(file));
    ReleaseTeacherBlock(teacher.layers[size_t(layer)]);
  });
  ReleaseTeacherEnds(teacher);
  EXPECT_GT(worst, block * 3 / 4);
  const int64_t embedding = teacher.token_embedding.numel() * 4;
  EXPECT_LT(worst, block + embedding + size / 16);
  EXPECT_LT(block + embedding + size / 16, 2 * block);  // so two blocks would fail
  EXPECT_LT(MappedRss(file), size / 16);
}

// Through the default tuning (teacher per window), the teacher file stays unresident between
// steps; the student, a dense copy of the same weights in another file, only has its norms tuned.
TEST(TeacherPagesTest, DefaultFinetuneKeepsTheTeacherUnresident) {
  const testing::TinyWeights w = testing::RandomWeights(Wide(), 23);
  const std::string root = testing::MakeTempDir("teacher-pages-finetune");
  testing::WriteHfFolder(w, root + "/student");
  testing::WriteHfFolder(w, root + "/teacher");
  const std::string file = root + "/teacher/model.safetensors";
  const int64_t size = int64_t(fs::file_size(file));
  Model student = LoadModel(root + "/student");
  const Model teacher = LoadModel(root + "/teacher");
  std::vector<std::vector<int>> train_windows, valid_windows{RandomTokens(24, Wide().vocab_size, 30)};
  for (int i = 0; i < 3; ++i) train_windows.push_back(RandomTokens(24, Wide().vocab_size, 31 + i));
  FinetuneOptions options;
  options.steps = 3;
  options.eval_every = 1;
  int64_t worst = 0;
  int steps = 0;
  Finetune(student, teacher, train_windows, valid_windows, options, [&](int, int, double, double) {
    worst = std::max(worst, MappedRss(file));
    ++steps;
  });
  EXPECT_EQ(steps, 3);
  EXPECT_LT(worst, size / 16) << "of " << size << " bytes: the teacher stays resident through tuning";
}

// The layers of `model` holding an fp32 copy of their 16-bit weights, as "layer.index" (-1: the
// head); throws when a linear is not a HalfLinear.
std::vector<std::string> Converted(const Model& model) {
  std::vector<std::string> out;
  auto visit = [&](const Linear* l, const std::string& name) {
    const auto* half = dynamic_cast<const HalfLinear*>(l);
    QUIP_ASSERT(half != nullptr);
    if (half->converted()) out.push_back(name);
  };
  for (size_t b = 0; b < model.layers.size(); ++b) {
    const std::vector<const Linear*> all = model.layers[b].linears();
    for (size_t i = 0; i < all.size(); ++i) visit(all[i], std::to_string(b) + "." + std::to_string(i));
  }
  visit(model.lm_head.get(), "-1");
  return out;
}

TEST(TeacherPagesTest, Bf16TeacherIsConvertedOneBlockAtATime) {
  const testing::TinyWeights w = testing::RandomWeights(Wide(), 24);
  const std::string dir = testing::MakeTempDir("teacher-pages-bf16");
  testing::WriteHfFolderAs(w, dir, DType::kBF16);
  const Model at_load = LoadModel(dir);  // fp32 copies of everything at load: the reference
  const Model teacher = LoadModel(dir, {.half_linears_on_use = true});
  EXPECT_EQ(teacher.layers[2].down->Format(), "bf16");
  EXPECT_TRUE(Converted(teacher).empty());
  const std::vector<int> window = RandomTokens(40, teacher.config.vocab_size, 25);

  const Mat<float> reference = TeacherLogProbs(at_load, window);
  const Mat<float> streamed = TeacherLogProbs(teacher, window);
  ASSERT_EQ(streamed.size(), reference.size());
  EXPECT_EQ(std::memcmp(streamed.data(), reference.data(), size_t(reference.size()) * sizeof(float)), 0);
  EXPECT_TRUE(Converted(teacher).empty());

  // Inside the pass, after block l has run: its 7 linears' fp32 copies and no others.
  Session session(teacher, int(window.size()));
  session.Feed(window, true, [&](int layer) {
    std::vector<std::string> expected;
    for (int i = 0; i < 7; ++i) expected.push_back(std::to_string(layer) + "." + std::to_string(i));
    EXPECT_EQ(Converted(teacher), expected) << "after block " << layer;
    ReleaseTeacherBlock(teacher.layers[size_t(layer)]);
  });
  ReleaseTeacherEnds(teacher);
  EXPECT_TRUE(Converted(teacher).empty());

  // The targets computed ahead (the head built per chunk, converted and dropped each time).
  std::vector<std::vector<int>> windows;
  for (int i = 0; i < 3; ++i) windows.push_back(RandomTokens(20, teacher.config.vocab_size, 26 + i));
  const std::vector<TopKTarget> a = TeacherTopK(at_load, windows, 5, /*chunk=*/2);
  const std::vector<TopKTarget> b = TeacherTopK(teacher, windows, 5, /*chunk=*/2);
  for (size_t i = 0; i < windows.size(); ++i) {
    EXPECT_EQ(a[i].ids, b[i].ids);
    EXPECT_EQ(a[i].log_probs, b[i].log_probs);
  }
  EXPECT_TRUE(Converted(teacher).empty());
}

// Converted when used, a 16-bit weight is still checked at load: NaN is refused naming the file
// and the tensor.
TEST(TeacherPagesTest, Bf16TeacherWithNanIsRefusedAtLoad) {
  const testing::TinyWeights w = testing::RandomWeights(Wide(), 27);
  const std::string dir = testing::MakeTempDir("teacher-pages-bf16-nan");
  testing::WriteHfFolderAs(w, dir, DType::kBF16);
  const std::string tensor = "model.layers.3.mlp.gate_proj.weight";
  testing::RewriteSafetensors(dir + "/model.safetensors", [&](auto&, std::map<std::string, testing::StoredTensor>& t) {
    const uint16_t nan = 0x7fc0;  // a bfloat16 quiet NaN
    std::memcpy(t.at(tensor).bytes.data() + 1000, &nan, 2);
  });
  try {
    LoadModel(dir, {.half_linears_on_use = true});
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(dir + "/model.safetensors"), std::string::npos) << what;
    EXPECT_NE(what.find(tensor), std::string::npos) << what;
    EXPECT_NE(what.find("non-finite value (NaN or Inf) at element 500"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace quip::train
