// libFuzzer target: the Hugging Face config.json parser (src/io/hf_model.h) and
// LlamaConfig::Validate. Input: the config.json text.
#include "fuzz_common.h"
#include "io/hf_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = quip::fuzz::ScratchDir() + "/config.json";
  quip::fuzz::WriteBytes(path, data, size);
  quip::fuzz::ExpectOnlyQuipErrors([&] {
    const quip::LlamaConfig c = quip::ParseHfConfig(path);
    // A validated config must be safe to size things with.
    volatile int64_t n = c.ParameterCount() + int64_t{c.q_dim()} * c.kv_dim();
    (void)n;
    (void)quip::HfConfigJson(c);
  });
  return 0;
}
