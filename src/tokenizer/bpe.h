// Byte-pair-encoding model: ranked merges over the token ids of a word, with a per-word result
// cache shared by all threads. Words arrive either as raw bytes (the pre-tokenizer ended with the
// byte-level mapping, so each byte stands for one alphabet character) or as vocabulary text.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/token_map.h"

namespace r1 {

// The GPT-2 byte-level alphabet: every byte maps to one printable code point (space -> U+0120 'Ġ').
class ByteAlphabet {
 public:
  static const ByteAlphabet& get();
  // UTF-8 of the character standing for byte b.
  std::string_view encode(uint8_t b) const { return {chars_[b].data(), lens_[b]}; }
  // The byte a code point stands for, or -1 when it is not in the alphabet.
  int decode(char32_t cp) const { return cp < 324 ? rev_[cp] : -1; }
  // Raw bytes of a string written in the alphabet; false if some character is outside it.
  bool decode_string(std::string_view s, std::string& out) const;
  // Appends the alphabet form of raw bytes.
  void encode_string(std::string_view bytes, std::string& out) const;

 private:
  ByteAlphabet();
  std::array<std::array<char, 2>, 256> chars_{};
  std::array<uint8_t, 256> lens_{};
  std::array<int16_t, 324> rev_{};
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct BpeOptions {
  bool ignore_merges = false;
  int32_t unk_id = -1;  // -1: characters missing from the vocabulary are dropped (reference)
  bool fuse_unk = false;
  bool raw_bytes = false;  // words are raw bytes to be read through the byte-level alphabet
};

class Bpe {
 public:
  // vocab: token text -> id; merges: pairs of token texts in rank order (a later duplicate
  // takes the later rank, as the reference's map does). Throws r1::Error naming a merge whose
  // parts or result are not in the vocabulary.
  Bpe(const TokenMap& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
      BpeOptions options);
  ~Bpe();

  // Appends the ids of one word.
  void encode(std::string_view word, std::vector<int32_t>& out) const;

 private:
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    uint32_t rank;  // rank of the pair (this, next); kNoMerge if none
  };
  struct MergeTable;
  struct Cache;

  void initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const;
  void merge(std::vector<Symbol>& symbols) const;

  BpeOptions options_;
  const TokenMap* vocab_;  // text -> id (owned by the tokenizer)
  TokenMap raw_vocab_;     // raw bytes -> id, for ignore_merges on raw-byte words
  std::array<int32_t, 256> byte_ids_{};
  std::unique_ptr<MergeTable> merges_;
  std::unique_ptr<Cache> cache_;
};

}  // namespace r1
