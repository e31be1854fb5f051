// Tokenizer: loads a Hugging Face tokenizer.json (byte-level BPE) and reproduces the tokenizers
// library's encode/decode byte for byte. Also the streaming detokenizer used by generation.
// All const methods are thread-safe; copies share one immutable implementation.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

struct ModelParts;

struct AddedTokenSpec {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool normalized = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

// A byte-level BPE tokenizer described by its parts (what a GGUF file carries), for
// Tokenizer::from_spec.
struct BpeTokenizerSpec {
  std::vector<std::string> vocab;  // index = id; text in the byte-level alphabet
  std::vector<std::pair<std::string, std::string>> merges;  // rank order
  std::vector<AddedTokenSpec> added_tokens;
  std::vector<std::string> split_regexes;  // Split(Isolated) steps in order, then ByteLevel
  bool ignore_merges = false;
  bool nfc = false;                       // NFC normalizer
  std::vector<int32_t> bos_ids;           // prepended when add_special_tokens (template)
  std::vector<int32_t> eos_ids;           // appended when add_special_tokens
};

// Settings from tokenizer_config.json (transformers' side); absent fields stay empty.
struct TokenizerConfig {
  std::optional<std::string> bos_token, eos_token, pad_token, unk_token;
  std::optional<int32_t> bos_id, eos_id, pad_id;
  bool add_bos_token = false;
  bool add_eos_token = false;
  std::string chat_template;                           // the default template ("" if none)
  std::map<std::string, std::string> named_templates;  // when chat_template is a list
};

class Tokenizer {
 public:
  // dir/tokenizer.json, plus dir/tokenizer_config.json when present.
  static Tokenizer from_dir(const std::string& dir);
  // tokenizer_config may be null. Throws r1::Error naming any malformed or unsupported part.
  static Tokenizer from_json(const nlohmann::json& tokenizer_json,
                             const nlohmann::json* tokenizer_config);
  static Tokenizer from_spec(const BpeTokenizerSpec& spec);
  // The tokenizer.json that from_spec loads.
  static nlohmann::json spec_to_json(const BpeTokenizerSpec& spec);

  // `text` must be valid UTF-8 (r1::Error otherwise). add_special_tokens runs the
  // post-processor (e.g. a BOS template), as the reference's encode(text, add_special_tokens).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;
  // Ids outside the vocabulary are skipped, as the reference does; invalid UTF-8 in the joined
  // bytes becomes U+FFFD.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  // Number of ids: one more than the largest id of the vocabulary and the added tokens.
  int32_t vocab_size() const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The token's text as stored in tokenizer.json ("" for an unused id).
  const std::string& id_to_token(int32_t id) const;
  // Raw bytes the token stands for (byte-level alphabet decoded; added tokens: their text).
  const std::string& token_bytes(int32_t id) const;
  bool is_special(int32_t id) const;  // an added token with special: true
  bool is_added(int32_t id) const;
  bool is_valid_id(int32_t id) const;

  const TokenizerConfig& config() const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  // parts: vocab/merges already taken out of the tree by the fast file reader, or null.
  static Tokenizer build(const nlohmann::json& tokenizer_json, ModelParts* parts,
                         const nlohmann::json* tokenizer_config);
  std::shared_ptr<const Impl> impl_;
  friend class StreamDecoder;
};

// Turns ids produced one at a time into text: push() returns only complete UTF-8 characters
// (a character split across tokens is held back), finish() flushes what is left, an unfinished
// sequence becoming U+FFFD. The concatenation of all outputs equals Tokenizer::decode of the ids.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  std::string push(int32_t id);
  std::string finish();

 private:
  Tokenizer tokenizer_;
  bool skip_special_;
  std::string pending_;  // bytes of an incomplete character
};

}  // namespace r1
