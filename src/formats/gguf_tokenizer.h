// The tokenizer a GGUF file carries (`tokenizer.ggml.*`, `tokenizer.chat_template`) as the
// Hugging Face files the tokenizer module loads (tokenizer.json + tokenizer_config.json), and
// the reverse for `r1 quantize`. Only byte-level BPE (`tokenizer.ggml.model = "gpt2"`) exists
// in the R1 family; the pre-tokenizer is named by `tokenizer.ggml.pre` and mapped to the split
// regexes of the matching Hugging Face tokenizer.json.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "formats/gguf.h"

namespace r1 {

struct HfTokenizerFiles {
  nlohmann::json tokenizer;         // tokenizer.json
  nlohmann::json tokenizer_config;  // tokenizer_config.json
};

// GGUF token types (tokenizer.ggml.token_type).
enum class GgufTokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// nullopt when the file has no tokenizer (no `tokenizer.ggml.model`). Throws r1::Error naming
// the file and key for an unsupported model or `pre` name, or inconsistent arrays.
std::optional<HfTokenizerFiles> hf_tokenizer_from_gguf(const GgufFile& g);

// GGUF tokenizer metadata for a Hugging Face tokenizer. `vocab_size` (the model's, which may
// exceed the tokenizer's) sets the length of the token list; ids without a token are padded
// as "[PAD<id>]" of type UNUSED, as llama.cpp's converter does. `model_config` supplies
// bos/eos ids when tokenizer_config.json lacks them. `source` names the files in errors.
std::vector<std::pair<std::string, GgufValue>> gguf_tokenizer_from_hf(const nlohmann::json& tokenizer_json,
                                                                      const nlohmann::json* tokenizer_config,
                                                                      const nlohmann::json& model_config,
                                                                      int64_t vocab_size, const std::string& source);

// The `tokenizer.ggml.pre` names r1 knows, for messages and tests.
std::vector<std::string> known_gguf_pre_tokenizers();

}  // namespace r1
