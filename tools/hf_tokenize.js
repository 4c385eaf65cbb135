// Reference token ids for quip's tokenizer.json tests, from tokenizers.js
// (@huggingface/tokenizers, the JavaScript port of Hugging Face tokenizers; nobody here
// wrote it). Fetched by scripts/setup.sh; runs offline under Node >= 18.
//   node tools/hf_tokenize.js TOKENIZERS_JS TOKENIZER_DIR TEXT...
// TOKENIZERS_JS: the package's dist/tokenizers.cjs; TOKENIZER_DIR: tokenizer.json and
// tokenizer_config.json. Prints one JSON line per text: {"ids": encode(text).ids (with the
// special tokens the tokenizer adds, as Hugging Face's encode does), "decoded": decode of
// those ids after the leading ones encode adds to every text (BOS), special tokens kept,
// no clean-up}. Texts are read as UTF-8 with invalid bytes replaced by U+FFFD.
"use strict";
const fs = require("fs");
const path = require("path");

const [lib, dir, ...texts] = process.argv.slice(2);
if (!lib || !dir || texts.length === 0) {
  console.error("usage: node hf_tokenize.js TOKENIZERS_JS TOKENIZER_DIR TEXT...");
  process.exit(2);
}
const { Tokenizer } = require(path.resolve(lib));
const readJson = (name) => JSON.parse(fs.readFileSync(path.join(dir, name), "utf8"));
const configPath = path.join(dir, "tokenizer_config.json");
const tokenizer = new Tokenizer(readJson("tokenizer.json"), fs.existsSync(configPath) ? readJson("tokenizer_config.json") : {});
const added = tokenizer.encode("").ids.length;  // the post-processor's prefix
for (const file of texts) {
  const ids = tokenizer.encode(fs.readFileSync(file, "utf8")).ids;
  const body = ids.slice(added);
  const decoded = body.length ? tokenizer.decode(body, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : "";
  process.stdout.write(JSON.stringify({ ids, decoded }) + "\n");
}
