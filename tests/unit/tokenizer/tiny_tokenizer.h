// Small tokenizer.json documents for unit tests: the 256-character byte-level alphabet as the
// vocabulary plus chosen merges, with the pipeline parts a test wants to exercise.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

#include "tokenizer/bpe.h"

namespace r1::test {

// Byte-level text of raw bytes ("a b" -> "aĠb").
inline std::string bl(std::string_view raw) {
  std::string out;
  ByteAlphabet::get().encode_string(raw, out);
  return out;
}

// tokenizer.json with vocab = alphabet (id = byte value) + one token per merge (ids from 256 in
// order). merges are raw-byte pairs.
inline nlohmann::json tiny_json(const std::vector<std::pair<std::string, std::string>>& merges,
                                nlohmann::json pre_tokenizer = nullptr) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[bl(std::string(1, static_cast<char>(b)))] = b;
  nlohmann::json m = nlohmann::json::array();
  int next = 256;
  for (const auto& [a, b] : merges) {
    const std::string joined = bl(a + b);
    if (!vocab.contains(joined)) vocab[joined] = next++;
    m.push_back(bl(a) + " " + bl(b));
  }
  if (pre_tokenizer.is_null())
    pre_tokenizer = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", nlohmann::json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre_tokenizer},
          {"post_processor", nullptr},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", m}}}};
}

inline nlohmann::json byte_level_step() {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
}

inline nlohmann::json split_step(const std::string& literal, const std::string& behavior,
                                 bool invert = false) {
  return {{"type", "Split"}, {"pattern", {{"String", literal}}}, {"behavior", behavior},
          {"invert", invert}};
}

inline nlohmann::json sequence(std::vector<nlohmann::json> steps) {
  return {{"type", "Sequence"}, {"pretokenizers", steps}};
}

inline nlohmann::json added_token(int id, const std::string& content, bool special,
                                  bool normalized, bool lstrip = false, bool rstrip = false,
                                  bool single_word = false) {
  return {{"id", id},         {"content", content}, {"special", special},
          {"normalized", normalized}, {"lstrip", lstrip}, {"rstrip", rstrip},
          {"single_word", single_word}};
}

inline std::string data_dir(const std::string& model) {
  return std::string(R1_TEST_DATA) + "/tokenizers/" + model;
}

}  // namespace r1::test
