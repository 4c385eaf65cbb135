// libFuzzer target: the safetensors header parser and tensor reader (src/io/safetensors.h).
// Input: a whole .safetensors file.
#include "fuzz_common.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = quip::fuzz::ScratchDir() + "/model.safetensors";
  quip::fuzz::WriteBytes(path, data, size);
  quip::fuzz::ExpectOnlyQuipErrors([&] {
    const quip::SafetensorsFile file(path);
    for (const auto& t : file.tensors()) {
      if (file.Find(t.name) == nullptr) std::abort();  // every parsed tensor is found by name
      std::vector<quip::StorageOwner> owners;
      quip::fuzz::ExpectOnlyQuipErrors([&] {
        const quip::TensorView v = file.ReadF32(t, owners);
        volatile float sum = 0;
        for (int64_t i = 0; i < v.numel(); ++i) sum += v.data[i];  // touch every element
      });
    }
  });
  return 0;
}
