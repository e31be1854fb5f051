// Grammar IR: expressions over bytes kept in an arena (literals, byte sets, single tokens,
// sequences, alternatives, bounded repetition, rule references, small automata whose edges are
// expressions, and counted JSON-string bodies), the rules that name them, and the builder used by
// the public GrammarBuilder and the JSON Schema and regex front ends.
#pragma once

#include <bitset>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "grammar/grammar.h"

namespace r1::grammar::detail {

inline constexpr uint32_t kInf = UINT32_MAX;  // unbounded repetition or length
inline constexpr uint32_t kMaxCodePoint = 0x10FFFF;

using ByteSet = std::bitset<256>;

// A set of Unicode scalar values (surrogates excluded) as sorted, disjoint, non-adjacent ranges.
class CharSet {
 public:
  CharSet() = default;
  static CharSet all();
  static CharSet range(uint32_t lo, uint32_t hi);
  static CharSet single(uint32_t c) { return range(c, c); }
  void add(uint32_t lo, uint32_t hi);
  void add(const CharSet& other);
  CharSet complement() const;
  CharSet intersect(const CharSet& other) const;
  CharSet minus(const CharSet& other) const { return intersect(other.complement()); }
  bool contains(uint32_t c) const;
  bool empty() const { return ranges_.empty(); }
  bool is_all() const;
  const std::vector<std::pair<uint32_t, uint32_t>>& ranges() const { return ranges_; }
  bool operator==(const CharSet& o) const { return ranges_ == o.ranges_; }
  bool operator<(const CharSet& o) const { return ranges_ < o.ranges_; }
  std::string to_string() const;

 private:
  std::vector<std::pair<uint32_t, uint32_t>> ranges_;
};

enum class Op : uint8_t {
  kEmpty,    // ""
  kNothing,  // no string at all
  kBytes,    // the bytes text[first, first + count)
  kByteSet,  // one byte from byte_sets[a]
  kToken,    // one vocabulary token whose bytes are text[first, first + count)
  kSeq,      // kids[first, first + count) one after another
  kChoice,   // one of kids[first, first + count)
  kRepeat,   // kids[first] repeated lo..hi times (hi = kInf: no limit)
  kRef,      // rule a
  kGraph,    // graphs[a]: an automaton whose edges are expressions
  kString,   // JSON string body: lo..hi characters from char_sets[a] (each one the expression
             // `first`, json_char of the set), then the closing quote; only as a rule body
};

struct Node {
  Op op = Op::kEmpty;
  int32_t a = 0;
  uint32_t lo = 0, hi = 0;
  uint32_t first = 0, count = 0;
};

struct GraphEdge {
  uint32_t from, to;
  int32_t expr;
};

// An automaton over expressions: the language is every path from start to an accept state.
struct GraphDef {
  uint32_t n_states = 0;
  uint32_t start = 0;
  std::vector<uint32_t> accept;
  std::vector<GraphEdge> edges;
};

struct RuleDef {
  std::string name;
  int32_t body = -1;
  // Non-recursive rules are copied into their callers unless this is false (shared JSON string
  // rules: one precomputed token classification serves every place they are used).
  bool inline_ok = true;
};

struct GrammarData {
  GrammarOptions options;
  std::vector<Node> nodes;
  std::vector<int32_t> kids;
  std::string text;
  std::vector<ByteSet> byte_sets;
  std::vector<CharSet> char_sets;
  std::vector<GraphDef> graphs;
  std::vector<RuleDef> rules;
  int32_t root_rule = -1;

  std::string_view node_text(const Node& n) const { return {text.data() + n.first, n.count}; }
  std::string expr_to_string(int32_t expr) const;
};

// Limits that keep a hostile schema from exhausting memory or time; exceeding one is an r1::Error.
inline constexpr size_t kMaxIrNodes = 2'000'000;
inline constexpr int kMaxNesting = 128;

class IrBuilder {
 public:
  explicit IrBuilder(const GrammarOptions& options);

  const GrammarOptions& options() const { return data_->options; }
  GrammarData& data() { return *data_; }

  int32_t empty();
  int32_t nothing();
  int32_t bytes(std::string_view text);
  int32_t byte_set(const ByteSet& set);
  int32_t byte_range(uint8_t lo, uint8_t hi);
  int32_t token(std::string_view text);
  int32_t seq(std::vector<int32_t> items);
  int32_t choice(std::vector<int32_t> alternatives);
  int32_t repeat(int32_t item, uint32_t lo, uint32_t hi);
  int32_t optional(int32_t item) { return repeat(item, 0, 1); }
  int32_t ref(int32_t rule);
  int32_t graph(GraphDef graph);

  // One character from `chars`, UTF-8 encoded.
  int32_t utf8_char(const CharSet& chars);
  // One character from `chars` as it may be written inside a JSON string: raw UTF-8 where JSON
  // allows it, or any of its escapes (\n, \", \u00e9, surrogate pairs, ...).
  int32_t json_char(const CharSet& chars);
  // A whole JSON string (both quotes) of min..max characters from `chars`; one shared rule per
  // distinct (chars, min, max), counted by the matcher rather than unrolled.
  int32_t json_string(const CharSet& chars, uint32_t min, uint32_t max);
  // JSON whitespace between tokens, bounded by options().max_whitespace.
  int32_t ws();

  int32_t new_rule(std::string name, int32_t body = -1, bool inline_ok = true);
  void set_body(int32_t rule, int32_t body);
  // Shared expressions and rules by key (e.g. "value", "string:<pattern>"), created once.
  int32_t* memo(const std::string& key);

  std::shared_ptr<const GrammarData> finish(int32_t root_expr);

 private:
  int32_t add(Node n);
  int32_t add_list(Op op, const std::vector<int32_t>& items);
  int32_t hex_range(uint32_t lo, uint32_t hi, int digits);
  int32_t utf8_range(uint32_t lo, uint32_t hi);

  std::shared_ptr<GrammarData> data_;
  std::map<std::string, int32_t> memo_;
  std::map<CharSet, int32_t> json_char_memo_, utf8_char_memo_;
  std::map<std::string, int32_t> byte_set_memo_;
  bool finished_ = false;
};

// Front ends (json_schema.cpp, regex.cpp).
int32_t build_json_schema(IrBuilder& b, const nlohmann::ordered_json& schema);
int32_t build_any_json_value(IrBuilder& b);
int32_t build_any_json_object(IrBuilder& b);

enum class RegexMode {
  kRaw,         // raw UTF-8 text, anchored at both ends
  kJsonString,  // inside a JSON string (characters JSON-encoded), JSON Schema "pattern" semantics:
                // a search unless anchored with ^ / $
};
// The regex as an expression; inside a JSON string the number of characters is bounded by
// [min_chars, max_chars] as well (minLength/maxLength next to pattern). The closing quote is not
// included.
int32_t build_regex(IrBuilder& b, std::string_view pattern, RegexMode mode, uint32_t min_chars,
                    uint32_t max_chars);
// If the pattern (JSON Schema semantics) is exactly ^C{m,n}$ for a character class C, returns
// true and fills chars/min/max (so it can be matched by a counted string rule).
bool regex_as_class_repeat(std::string_view pattern, CharSet& chars, uint32_t& min, uint32_t& max);

// Decoding of UTF-8 text into code points (the regex front end reads patterns with it).
// Returns false on malformed UTF-8.
bool decode_utf8(std::string_view text, std::vector<uint32_t>& out);
void append_utf8(std::string& out, uint32_t c);

}  // namespace r1::grammar::detail
