// llama2.c checkpoints (Karpathy's "version 0" export), little-endian:
//   int32 header[7] = {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len}
//   float32 arrays: token_embedding[vocab][dim], rms_att[L][dim], wq[L][q][dim], wk[L][kv][dim],
//   wv[L][kv][dim], wo[L][dim][q], rms_ffn[L][dim], w1[L][hidden][dim], w2[L][dim][hidden],
//   w3[L][hidden][dim], rms_final[dim], freq_cis_real[seq][head/2], freq_cis_imag[seq][head/2],
//   then wcls[vocab][dim] only when vocab_size < 0 (unshared classifier).
// llama2.c rotates interleaved pairs (2i, 2i+1); we permute wq/wk rows once at load
// so the single forward pass uses the Hugging Face rotate_half pairing (i, i+head/2).
#pragma once

#include <string>

#include "model/model.h"

namespace quip {

Model LoadLlama2cModel(const std::string& path);

// True if `path` is a file whose size matches a llama2.c header (used to tell a
// checkpoint from a tokenizer .bin in the same folder).
bool LooksLikeLlama2cCheckpoint(const std::string& path);
// True if `path` starts with a plausible llama2.c header, whatever its size (a
// truncated checkpoint is still a checkpoint, and is reported as truncated).
bool HasLlama2cHeader(const std::string& path);

}  // namespace quip
