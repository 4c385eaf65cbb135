// libFuzzer target: the quantized-model loader (src/io/quip_format.h) through LoadModel,
// then one forward step of the loaded model. Input: model.safetensors of a quip folder
// whose config.json is fixed to the tiny model of tools/make_bad_inputs.py (seeds: that
// script's quantized/ cases), so mutations reach the codes/scale/zero/rescale checks.
#include <fstream>

#include "fuzz_common.h"
#include "model/forward.h"
#include "pipeline/load.h"

namespace {

constexpr const char* kConfig = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_act": "silu", "hidden_size": 16, "intermediate_size": 40, "num_hidden_layers": 1,
  "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "max_position_embeddings": 64,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "rope_scaling": null, "tie_word_embeddings": false,
  "vocab_size": 300, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
  "quantization_config": {"quant_method": "quip", "format_version": "1"}})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    const std::string d = quip::fuzz::ScratchDir() + "/quip-model";
    std::filesystem::create_directories(d);
    std::ofstream(d + "/config.json") << kConfig;
    quip::SetThreads(1);
    return d;
  }();
  quip::fuzz::WriteBytes(dir + "/model.safetensors", data, size);
  quip::fuzz::ExpectOnlyQuipErrors([&] {
    const quip::Model model = quip::LoadModel(dir);
    quip::Session session(model, 2);
    const int tokens[2] = {1, 42};
    const auto logits = session.Feed(tokens, false);
    if (logits.size() != 300) std::abort();
  });
  return 0;
}
