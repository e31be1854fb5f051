// Fuzz target for the grammar compiler and matcher: the input is a JSON Schema (or, when the
// first byte is odd, a regex) followed by nothing else; every input either fails with r1::Error or
// yields a matcher that is walked along pseudo-random allowed tokens, checking that an allowed token
// is always accepted, that there is never a dead end, and that the shortest completion completes.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "grammar/grammar.h"

using namespace r1::grammar;

namespace {

std::shared_ptr<const Vocabulary> small_vocab() {
  static std::shared_ptr<const Vocabulary> v = [] {
    std::vector<std::string> t;
    for (int b = 0; b < 256; ++b) t.emplace_back(1, static_cast<char>(b));
    t.push_back("<eos>");
    t.push_back("<|special|>");
    for (const char* s : {"\",", "\"}", "\":", "{\"", "\": \"", "\\u00", "12", "null", "true", "  ",
                          "\n  ", "ab", "é", "],", "}]", ", \"", "[[", "]]", "0.", "e+", "\\\"",
                          "\xC3", "\xA9", "\xF0\x9F", "\x98\x80", "\\uD83D", "\\uDE00", "ab\""}) {
      t.push_back(s);
    }
    return std::make_shared<Vocabulary>(std::move(t), std::vector<int32_t>{256},
                                        std::vector<int32_t>{256, 257});
  }();
  return v;
}

[[noreturn]] void bug(const char* what) {
  std::fprintf(stderr, "fuzz_grammar: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t mode = data[0];
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::shared_ptr<const CompiledGrammar> g;
  try {
    GrammarOptions o;
    o.max_whitespace = (mode >> 1) % 4 == 3 ? -1 : (mode >> 1) % 4;
    o.strict = (mode >> 3) & 1;
    Grammar grammar = (mode & 1) ? Grammar::from_regex(text) : Grammar::from_json_schema(text, o);
    g = CompiledGrammar::compile(grammar, small_vocab());
  } catch (const r1::Error&) {
    return 0;
  }
  const Vocabulary& v = *small_vocab();
  Matcher m(g);
  std::vector<uint32_t> mask(v.mask_words());
  uint32_t rng = 2166136261u;
  for (size_t i = 0; i < size; ++i) rng = (rng ^ data[i]) * 16777619u;
  auto next = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
  };
  for (int step = 0; step < 48; ++step) {
    m.fill_mask(mask);
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < v.size(); ++id) {
      if ((mask[id >> 5] >> (id & 31)) & 1u) allowed.push_back(id);
    }
    if (allowed.empty()) bug("dead end: no token allowed");
    // A few tokens checked against accept_token, unless the grammar is ambiguous enough for the
    // stack cap to drop continuations (see Matcher::stacks).
    for (int k = 0; k < 4 && m.stacks() <= 8; ++k) {
      int32_t id = static_cast<int32_t>(next() % v.size());
      bool ok = m.accept_token(id);
      if (ok) m.rollback(1);
      if (ok != (((mask[id >> 5] >> (id & 31)) & 1u) != 0)) bug("mask and accept_token disagree");
    }
    int32_t id = allowed[next() % allowed.size()];
    if (id == 256) {
      if (!m.is_complete()) bug("end of sequence allowed before completion");
      break;
    }
    if (!m.accept_token(id) && m.stacks() <= 8) bug("allowed token rejected");
    if (next() % 16 == 0) m.rollback(1);
  }
  if (!m.is_terminated()) {
    std::string rest = m.shortest_completion();
    if (rest.size() < 100000 && !m.accept_bytes(rest)) bug("completion rejected");
    if (rest.size() < 100000 && !m.is_complete()) bug("completion does not complete");
  }
  return 0;
}
