// Per automaton state, the vocabulary split into tokens accepted whatever lies below the state's
// frame on the parser stack, tokens rejected, and the few whose fate depends on the frames below
// (they end the rule and continue in a caller). Built once per grammar × vocabulary by walking the
// vocabulary trie from each state; a mask step then costs a bitset copy plus a handful of checks.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "grammar/grammar.h"
#include "grammar/program.h"

namespace r1::grammar::detail {

// Counted rules keep, besides all accepted tokens, the tokens with at most r characters for each
// r below this (near a maxLength only short tokens fit).
inline constexpr uint32_t kCountLevels = 16;

// Immutable once built; shared between states, and between grammars compiled for the same
// vocabulary when their rules are identical (JSON string rules are the same in every schema).
struct StateMask {
  std::vector<uint32_t> bits;  // accepted tokens as a bitset, or
  std::vector<int32_t> ids;    // as a list when there are few
  // Counted rules: a token is accepted only if the characters it adds fit (t <= remaining).
  bool counted = false;
  uint32_t max_t = 0;
  std::vector<uint32_t> levels;  // dense: bitset r holds the tokens with t <= r, r < kCountLevels
  std::vector<std::pair<int32_t, uint32_t>> by_count;  // (token, t), ascending t: all of them
                                                       // (sparse) or those with t >= kCountLevels
  std::vector<int32_t> uncertain;  // decided at run time by parsing from the actual stack
  // Tokens that end the rule after `offset` bytes (having added t characters, for counted rules),
  // at no other place: accepted if the count fits and the caller takes the rest of the token.
  // Sorted by that rest.
  struct Exit {
    int32_t token;
    uint32_t offset;
    uint32_t t;
  };
  std::vector<Exit> exits;
};

struct MaskCache {
  size_t mask_words = 0;
  std::vector<std::shared_ptr<const StateMask>> states;  // per program state; null without bytes
  std::vector<uint32_t> walk_nodes;  // trie nodes visited per state while building (statistics)
  size_t bytes() const;
};

// Token classifications of rules without calls, by rule content, kept per vocabulary so that
// later grammars reuse them (bounded; oldest dropped first).
class MaskMemo {
 public:
  std::vector<std::shared_ptr<const StateMask>> find(const std::string& key);
  void insert(const std::string& key, std::vector<std::shared_ptr<const StateMask>> masks);

 private:
  static constexpr size_t kMaxRules = 64;
  std::mutex mutex_;
  std::map<std::string, std::vector<std::shared_ptr<const StateMask>>> rules_;
  std::deque<std::string> order_;
};

void build_mask_cache(const Program& p, const Vocabulary& vocab, MaskCache& cache);

// ORs into `mask` the tokens a state accepts whatever lies below it, for a frame that may still
// add `remaining` characters (counted rules; ignored otherwise).
void apply_accepted(const StateMask& m, uint32_t remaining, uint32_t* mask, size_t words);

}  // namespace r1::grammar::detail
