// The compiled form of a grammar: one deterministic automaton per rule over bytes, with edges that
// call other rules (a pushdown automaton) and edges that consume one special token. Non-recursive
// rules are inlined into their callers, so most grammars are a handful of automata; recursion
// ($ref cycles, "any JSON value") and shared JSON string rules stay separate.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "grammar/ir.h"

namespace r1::grammar::detail {

struct CallEdge {
  int32_t rule;
  int32_t ret;  // state of the caller to continue in once the callee ends
};

struct SymbolEdge {
  int32_t symbol;
  int32_t next;
};

enum StateFlag : uint8_t {
  kAccepting = 1,  // the rule may end here
  kBoundary = 2,   // counted rule, between two characters: a byte other than '"' starts one
  kHasBytes = 4,   // has at least one byte transition
  kSimple = 8,     // only byte transitions (no calls, symbols, not accepting)
};

struct StateInfo {
  int32_t rule = 0;
  uint8_t flags = 0;
  uint32_t row = 0;  // transitions: trans[row + class_map[rule][byte]]
  uint32_t calls_begin = 0, calls_end = 0;
  uint32_t symbols_begin = 0, symbols_end = 0;
};

struct RuleInfo {
  std::string name;
  int32_t first_state = 0, n_states = 0;  // states first_state.. (the first one is the start)
  bool counted = false;  // a JSON string body whose characters are counted
  uint32_t count_min = 0, count_max = kInf;
  bool nullable = false;
  bool has_callers = false;
  ByteSet follow;  // bytes that may come right after the rule ends, in any context
  uint32_t class_map = 0;  // offset of its 256-entry byte → class table
  int32_t min_length = 0;  // shortest completion from the start, in bytes
  int32_t n_classes = 0;   // byte classes of its automaton
};

class Program {
 public:
  // Builds the automata. `vocab` resolves the texts of single-token expressions to token ids.
  Program(const GrammarData& grammar, const Vocabulary& vocab);

  int32_t root_start() const { return rules[root_rule].first_state; }
  int32_t next(int32_t state, uint8_t byte) const {
    const StateInfo& s = states[state];
    return trans[s.row + class_maps[rules[s.rule].class_map + byte]];
  }
  const RuleInfo& rule_of(int32_t state) const { return rules[states[state].rule]; }

  std::vector<StateInfo> states;
  std::vector<RuleInfo> rules;
  std::vector<CallEdge> calls;
  std::vector<SymbolEdge> symbol_edges;
  std::vector<uint8_t> class_maps;
  std::vector<int32_t> trans;
  int32_t root_rule = 0;

  // Single-token expressions: the text of each symbol and the token ids spelling it.
  std::vector<std::string> symbol_text;
  std::vector<std::vector<int32_t>> symbol_tokens;
  std::vector<std::pair<int32_t, int32_t>> token_symbols;  // (token id, symbol), sorted
  int32_t symbol_of(int32_t token) const;

  // Shortest number of bytes from each state to the end of its rule (calls included).
  std::vector<int32_t> min_to_end;
};

// Limits on automaton size and on the precomputation (steps through the vocabulary trie, about
// 10-20 ns each): a grammar beyond them is an r1::Error (kind kLimit). Real schemas stay far below
// (a few thousand states, a few million steps).
inline constexpr size_t kMaxNfaStates = 2'000'000;
inline constexpr size_t kMaxDfaStates = 200'000;
inline constexpr uint64_t kMaxWalkSteps = 150'000'000;

}  // namespace r1::grammar::detail
