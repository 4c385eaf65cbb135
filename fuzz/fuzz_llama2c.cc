// libFuzzer target: the llama2.c checkpoint loader (src/io/llama2c.h) and format sniffing.
// Input: a whole .bin checkpoint.
#include "fuzz_common.h"
#include "io/llama2c.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = quip::fuzz::ScratchDir() + "/model.bin";
  quip::fuzz::WriteBytes(path, data, size);
  quip::fuzz::ExpectOnlyQuipErrors([&] {
    const bool looks = quip::LooksLikeLlama2cCheckpoint(path);
    const quip::Model model = quip::LoadLlama2cModel(path);
    if (!looks) std::abort();  // a loadable checkpoint must also be recognised in a folder
    for (const auto& t : model.tensors) (void)t;
  });
  return 0;
}
