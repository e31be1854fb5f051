// Shared helpers for the grammar tests: a byte-level vocabulary (one token per byte plus an
// end-of-sequence token) and shortcuts to compile a grammar and run bytes through a matcher.
#pragma once

#include <memory>
#include <random>
#include <string>

#include "grammar/grammar.h"

namespace r1::grammar::testing {

// Ids 0..255 are the single bytes, 256 is the end-of-sequence token, then `extra` tokens.
inline std::shared_ptr<const Vocabulary> byte_vocab(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.emplace_back(1, static_cast<char>(b));
  tokens.push_back("<eos>");
  for (const std::string& t : extra) tokens.push_back(t);
  return std::make_shared<Vocabulary>(std::move(tokens), std::vector<int32_t>{256},
                                      std::vector<int32_t>{256});
}

inline std::shared_ptr<const CompiledGrammar> compile(const Grammar& g,
                                                      std::shared_ptr<const Vocabulary> v = nullptr) {
  static std::shared_ptr<const Vocabulary> bytes = byte_vocab();
  return CompiledGrammar::compile(g, v ? v : bytes);
}

inline std::shared_ptr<const CompiledGrammar> compile_schema(const std::string& schema,
                                                             const GrammarOptions& o = {}) {
  return compile(Grammar::from_json_schema(schema, o));
}

// The whole text is a complete match.
inline bool matches(const std::shared_ptr<const CompiledGrammar>& g, const std::string& text) {
  Matcher m(g);
  return m.accept_bytes(text) && m.is_complete();
}

// The text is a prefix of some complete match.
inline bool prefix_ok(const std::shared_ptr<const CompiledGrammar>& g, const std::string& text) {
  Matcher m(g);
  return m.accept_bytes(text);
}

inline bool mask_has(const std::vector<uint32_t>& mask, int32_t id) {
  return (mask[id >> 5] >> (id & 31)) & 1u;
}

}  // namespace r1::grammar::testing
