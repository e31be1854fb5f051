// Constrained decoding: a grammar over bytes (built from a JSON Schema, "any JSON object", or
// composed with GrammarBuilder) is compiled against a tokenizer's vocabulary once; a Matcher then
// tells, at every step, which tokens keep the output a prefix of some complete match.
//
//   auto vocab = std::make_shared<Vocabulary>(token_bytes, eos_ids, control_ids);  // per tokenizer
//   auto g = CompiledGrammar::compile(Grammar::from_json_schema(schema_text), vocab);  // cacheable
//   Matcher m(g);                                                                  // per request
//   std::vector<uint32_t> bits(vocab->mask_words());
//   while (!m.is_terminated()) {
//     m.fill_mask(bits);            // sample only among set bits (EOS is set once complete)
//     m.accept_token(sampled_id);   // always true for a token the mask allowed
//   }
// Errors in schemas and grammars are r1::Error (kUnsupported for features not implemented, kLimit
// for grammars too large to prepare, kInvalidInput otherwise).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace r1::grammar {

namespace detail {
struct GrammarData;
class IrBuilder;
class Program;
struct VocabTrie;
struct MaskCache;
class MaskMemo;
class Parser;
}  // namespace detail

// How JSON is allowed to be written (the schema says what, these say how).
struct GrammarOptions {
  // Longest run of JSON whitespace (space, tab, CR, LF) between two tokens of a JSON value.
  // Pretty-printed output needs a newline plus the indentation; the bound keeps a model from
  // emitting whitespace forever. 0 allows compact JSON only; -1 means unbounded.
  int max_whitespace = 20;
  // When true, an object schema without "additionalProperties" allows no other properties, and
  // an array schema with "prefixItems" but without "items" allows no further items (what
  // structured-output APIs mean). When false, the JSON Schema defaults (anything allowed) apply.
  bool strict = true;
};

// The tokens of one tokenizer: each id's raw bytes (byte-level BPE tokens decoded to bytes, added
// tokens as their UTF-8 text; ids without a token may be empty), which ids end a sequence, and
// which are special. Special tokens are never produced by matching text, only where a grammar names
// them with GrammarBuilder::token. Pass every control token as special, not only those flagged
// "special" in tokenizer.json: DeepSeek's <｜tool▁calls▁begin｜>, <｜User｜>, <think>... are added
// tokens with special=false, and a model must not emit them inside a JSON string. Built once per
// tokenizer and shared.
class Vocabulary {
 public:
  Vocabulary(std::vector<std::string> token_bytes, std::vector<int32_t> eos_ids,
             std::vector<int32_t> special_ids);
  ~Vocabulary();
  Vocabulary(const Vocabulary&) = delete;
  Vocabulary& operator=(const Vocabulary&) = delete;

  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }
  const std::string& token(int32_t id) const { return tokens_[id]; }
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }
  bool is_special(int32_t id) const { return special_[id] != 0; }
  bool is_eos(int32_t id) const { return eos_[id] != 0; }
  // Words of a token bitmask: bit (id % 32) of word (id / 32) stands for token id.
  size_t mask_words() const { return (tokens_.size() + 31) / 32; }
  // Seconds spent building the byte trie (reported by the benchmark).
  double build_seconds() const { return build_seconds_; }
  const detail::VocabTrie& trie() const { return *trie_; }
  // Token classifications of rules shared by many grammars (thread-safe).
  detail::MaskMemo& mask_memo() const { return *memo_; }

 private:
  std::vector<std::string> tokens_;
  std::vector<int32_t> eos_ids_;
  std::vector<uint8_t> special_, eos_;
  std::unique_ptr<detail::VocabTrie> trie_;
  std::unique_ptr<detail::MaskMemo> memo_;
  double build_seconds_ = 0;
};

// An immutable grammar over bytes. JSON Schema support (see json_schema.cpp for the details):
// type (incl. arrays of types), properties, required, additionalProperties, items, prefixItems,
// enum, const, anyOf, oneOf (compiled as anyOf), allOf with one member, $ref/$defs/definitions
// (JSON pointers into the same document, recursion allowed), minLength/maxLength, pattern (an
// ECMA-262 subset), format (date, time, date-time, uuid, email, uri, hostname, ipv4), minimum/maximum/
// exclusiveMinimum/exclusiveMaximum for numbers and integers, minItems/maxItems, nested objects.
// Object properties are written in the order of "properties" (optional ones may be left out),
// additional properties after them. Anything else that constrains values is an r1::Error naming
// the keyword (kind kUnsupported); a malformed schema is an r1::Error (kind kInvalidInput).
class Grammar {
 public:
  // `schema_text` is parsed keeping the order of object keys (that order is the output order).
  static Grammar from_json_schema(std::string_view schema_text, const GrammarOptions& options = {});
  static Grammar from_json_schema_value(const nlohmann::ordered_json& schema,
                                        const GrammarOptions& options = {});
  // Any JSON object (OpenAI response_format "json_object").
  static Grammar any_json_object(const GrammarOptions& options = {});
  // Text matching an ECMA-262 regex subset, anchored at both ends, over raw UTF-8.
  static Grammar from_regex(std::string_view pattern);

  // Rules and expressions in an EBNF-like notation, for debugging and error reports.
  std::string to_string() const;
  const detail::GrammarData& data() const { return *data_; }

 private:
  friend class GrammarBuilder;
  explicit Grammar(std::shared_ptr<const detail::GrammarData> data) : data_(std::move(data)) {}
  std::shared_ptr<const detail::GrammarData> data_;
};

// Composes grammars: literal text, single tokens, sequences, alternatives, repetition, regexes,
// JSON values (optionally matching a schema) and named rules (for recursion). For example, a
// DeepSeek tool call is
//   b.seq({b.token("<｜tool▁calls▁begin｜>"), b.repeat(call, 1, -1), b.token("<｜tool▁calls▁end｜>")})
// with call = b.seq({b.token("<｜tool▁call▁begin｜>"), b.literal("function"),
//   b.token("<｜tool▁sep｜>"), b.choice({b.seq({b.literal("get_weather\n```json\n"),
//   b.json_schema(args)}), ...}), b.literal("\n```"), b.token("<｜tool▁call▁end｜>")}).
class GrammarBuilder {
 public:
  struct Expr {
    int32_t id = -1;
  };
  struct Rule {
    int32_t id = -1;
  };
  static constexpr int kUnbounded = -1;

  explicit GrammarBuilder(const GrammarOptions& options = {});
  ~GrammarBuilder();
  GrammarBuilder(const GrammarBuilder&) = delete;
  GrammarBuilder& operator=(const GrammarBuilder&) = delete;

  Expr empty();
  // These exact bytes (any tokens that spell them, never a special token).
  Expr literal(std::string_view text);
  // Exactly one vocabulary token whose bytes are `text` (e.g. a special token); compiling against
  // a vocabulary without such a token is an error.
  Expr token(std::string_view text);
  Expr seq(std::vector<Expr> items);
  Expr choice(std::vector<Expr> alternatives);
  // `item` repeated min..max times (max = kUnbounded for no limit).
  Expr repeat(Expr item, int min, int max);
  Expr optional(Expr item) { return repeat(item, 0, 1); }
  // Raw UTF-8 text matching an ECMA-262 regex subset, anchored at both ends.
  Expr regex(std::string_view pattern);
  // A JSON value matching `schema`; $ref pointers resolve inside `schema`.
  Expr json_schema(const nlohmann::ordered_json& schema);
  // Any JSON value.
  Expr json_value();

  // Named rules allow recursion: declare, refer to it, define it once.
  Rule declare(std::string name);
  void define(Rule rule, Expr body);
  Expr ref(Rule rule);

  // The grammar matching `root`. The builder can't be used afterwards.
  Grammar build(Expr root);

 private:
  std::unique_ptr<detail::IrBuilder> ir_;
};

struct CompileStats {
  int32_t rules = 0;
  int32_t states = 0;        // automaton states over all rules
  int32_t mask_states = 0;   // states with a precomputed token classification
  size_t cache_bytes = 0;    // memory of the precomputed classifications
  double automaton_seconds = 0;
  double mask_seconds = 0;
};

// A grammar compiled for one vocabulary: the automata plus, for each automaton state, which tokens
// are accepted without looking at the parser stack, which are rejected, and the few that depend on
// it. Immutable and shareable between requests (and threads).
class CompiledGrammar {
 public:
  static std::shared_ptr<const CompiledGrammar> compile(const Grammar& grammar,
                                                        std::shared_ptr<const Vocabulary> vocab);
  ~CompiledGrammar();
  const Vocabulary& vocabulary() const { return *vocab_; }
  const CompileStats& stats() const { return stats_; }
  const detail::Program& program() const { return *program_; }
  const detail::MaskCache& cache() const { return *cache_; }

 private:
  CompiledGrammar() = default;
  std::shared_ptr<const Vocabulary> vocab_;
  std::unique_ptr<detail::Program> program_;
  std::unique_ptr<detail::MaskCache> cache_;
  CompileStats stats_;
};

// Per-request state: the set of parser stacks after the tokens accepted so far. Not thread-safe;
// fill_mask, accept_token and is_complete do not allocate once warmed up (amortized growth only).
class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const CompiledGrammar> grammar);
  ~Matcher();
  Matcher(Matcher&&) noexcept;
  Matcher& operator=(Matcher&&) noexcept;

  // Sets bit id of `bitmask` (Vocabulary::mask_words() words) for every token that keeps the
  // output a prefix of a complete match, plus the end-of-sequence tokens when it is complete.
  // Every allowed token leaves at least one way to complete the match.
  void fill_mask(std::span<uint32_t> bitmask) const noexcept;
  // Advances by one token; false (and no change) if the token is not allowed. An end-of-sequence
  // token is allowed when the output is complete and terminates the matcher.
  bool accept_token(int32_t id) noexcept;
  // Advances by forced text (e.g. a prefix the caller inserts); false and no change if not allowed.
  bool accept_bytes(std::string_view bytes) noexcept;
  // The output so far is a complete match (end-of-sequence would be accepted).
  bool is_complete() const noexcept;
  // An end-of-sequence token was accepted.
  bool is_terminated() const noexcept;
  // Undoes the last n accepted tokens or accept_bytes calls (n <= steps()).
  void rollback(int n) noexcept;
  int steps() const noexcept;
  void reset() noexcept;
  // The shortest bytes that complete the match from here (empty when complete). For a caller that
  // must end the output now, e.g. at a token limit.
  std::string shortest_completion() const;
  // Diagnostics: parser stacks alive now (above 1 only where the grammar is ambiguous; stacks are
  // not merged, and past 1024 in one step the surplus is dropped, losing some continuations).
  int stacks() const noexcept;

 private:
  std::shared_ptr<const CompiledGrammar> grammar_;
  std::unique_ptr<detail::Parser> parser_;
};

}  // namespace r1::grammar
