// The stages of tokenizer.json around the model: added-token matching, normalizers and
// pre-tokenizers. Each is built from its JSON and rejects components it does not implement.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace r1 {

// A part of a string: text [begin, end), or an added token when id >= 0.
struct Segment {
  uint32_t begin, end;
  int32_t id;
};

// Leftmost-longest matching of added-token strings with their lstrip/rstrip/single_word rules.
class AddedMatcher {
 public:
  AddedMatcher();
  void add(std::string_view pattern, const AddedTokenSpec& token);
  bool empty() const { return tokens_.empty(); }
  // Splits `text` into token and text segments (empty text segments omitted).
  void split(std::string_view text, std::vector<Segment>& out) const;

 private:
  struct Node {
    int32_t token = -1;  // index into tokens_ when a pattern ends here
    std::vector<std::pair<uint8_t, int32_t>> children;
  };
  int32_t child(int32_t node, uint8_t b) const;

  std::vector<Node> nodes_;
  std::array<int32_t, 256> root_{};  // first byte -> node (-1: no pattern starts with it)
  std::vector<AddedTokenSpec> tokens_;
};

class Normalizer {
 public:
  // null JSON = no normalizer. Supports Sequence, NFC, NFD, NFKC, NFKD.
  explicit Normalizer(const nlohmann::json& j);
  bool empty() const { return forms_.empty(); }
  // Returns `text` itself when nothing changes, else a view of `storage`.
  std::string_view apply(std::string_view text, std::string& storage) const;

 private:
  std::vector<unicode::NormalForm> forms_;
};

// A word produced by pre-tokenization: [begin, end) of the work buffer.
struct Piece {
  uint32_t begin, end;
};

class PreTokenizer {
 public:
  // null JSON = the whole text is one word. Supports Sequence, Split, ByteLevel, Digits.
  explicit PreTokenizer(const nlohmann::json& j);
  ~PreTokenizer();
  // Splits buf (whole) into pieces; steps may append transformed text to buf.
  void run(std::string& buf, std::vector<Piece>& pieces) const;
  // True when the pipeline ends with the byte-level mapping, left to the model: pieces are raw
  // bytes that the model reads through the byte-level alphabet.
  bool raw_bytes_out() const { return raw_bytes_out_; }
  bool has_byte_level() const { return has_byte_level_; }

  enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
  struct Step;

 private:
  void add_json(const nlohmann::json& j);
  std::vector<Step> steps_;
  bool raw_bytes_out_ = false;
  bool has_byte_level_ = false;
};

}  // namespace r1
