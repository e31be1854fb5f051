// Test and benchmark helper: the raw bytes of every token of a Hugging Face byte-level BPE
// tokenizer.json (each character of a vocabulary entry maps back to one byte through the GPT-2
// bytes-to-unicode table; added tokens are their UTF-8 text), independent of src/tokenizer.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace r1::grammar::testing {

struct HfVocab {
  std::vector<std::string> tokens;  // index = id; ids without a token are empty
  // Every added token, whatever its "special" flag: DeepSeek's chat and tool-call markers are
  // added tokens with special=false, and a grammar must never let a model spell one out as text
  // inside a JSON value.
  std::vector<int32_t> special_ids;
  std::vector<int32_t> eos_ids;
};

inline std::map<uint32_t, uint8_t> gpt2_unicode_to_byte() {
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<int> cs = bs;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
      bs.push_back(b);
      cs.push_back(256 + n++);
    }
  }
  std::map<uint32_t, uint8_t> out;
  for (size_t i = 0; i < bs.size(); ++i) out[static_cast<uint32_t>(cs[i])] = static_cast<uint8_t>(bs[i]);
  return out;
}

// Loads tokenizer.json; `vocab_size` pads the id space (a model's embedding may have more rows
// than the tokenizer has tokens). `eos_text` names the end-of-sequence token.
inline HfVocab load_hf_vocab(const std::string& path, int32_t vocab_size,
                             const std::string& eos_text) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  nlohmann::json j = nlohmann::json::parse(in);
  auto table = gpt2_unicode_to_byte();
  HfVocab v;
  v.tokens.resize(static_cast<size_t>(vocab_size));
  for (auto it = j["model"]["vocab"].begin(); it != j["model"]["vocab"].end(); ++it) {
    int32_t id = it.value().get<int32_t>();
    const std::string& s = it.key();
    std::string bytes;
    bool ok = true;
    for (size_t i = 0; i < s.size() && ok;) {
      auto b0 = static_cast<uint8_t>(s[i]);
      int len = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
      uint32_t c = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
      for (int k = 1; k < len; ++k) c = (c << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
      auto t = table.find(c);
      if (t == table.end()) ok = false; else bytes += static_cast<char>(t->second);
      i += len;
    }
    if (ok && id >= 0 && id < vocab_size) v.tokens[id] = bytes;
  }
  for (const auto& a : j["added_tokens"]) {
    int32_t id = a["id"].get<int32_t>();
    if (id < 0 || id >= vocab_size) continue;
    v.tokens[id] = a["content"].get<std::string>();
    v.special_ids.push_back(id);
    if (a["content"].get<std::string>() == eos_text) v.eos_ids.push_back(id);
  }
  return v;
}

inline std::string deepseek_r1_tokenizer_path() {
  return std::string(R1_TEST_DATA) + "/tokenizers/deepseek-r1/tokenizer.json";
}

}  // namespace r1::grammar::testing
