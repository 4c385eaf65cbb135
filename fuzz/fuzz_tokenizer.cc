// libFuzzer target: the llama2.c tokenizer loader and encoder (src/text/llama2c_tokenizer.cc).
// Input: a tok*.bin file for a 300-token vocabulary.
#include "fuzz_common.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = quip::fuzz::ScratchDir() + "/tok300.bin";
  quip::fuzz::WriteBytes(path, data, size);
  quip::fuzz::ExpectOnlyQuipErrors([&] {
    const auto tok = quip::LoadLlama2cTokenizer(path, 300);
    const std::vector<int> ids = tok->Encode("Once upon a time, Lily saw a caf\xc3\xa9 \xf0\x9f\x98\x80.");
    for (int id : ids) {
      if (id < 0 || id >= tok->vocab_size()) std::abort();
      (void)tok->TokenBytes(id);
    }
  });
  return 0;
}
