// Per automaton state, the vocabulary split into tokens accepted whatever lies below the state's
// frame on the parser stack, tokens rejected, and the few whose fate depends on the frames below
// (they end the rule and continue in a caller). Built once per grammar × vocabulary by walking the
// vocabulary trie from each state; a mask step then costs a bitset copy plus a handful of checks.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "grammar/grammar.h"
#include "grammar/program.h"

namespace r1::grammar::detail {

// Counted rules keep, besides all accepted tokens, the tokens with at most r characters for each
// r below this (near a maxLength only short tokens fit).
inline constexpr uint32_t kCountLevels = 16;

struct StateMask {
  int32_t bitset = -1;       // accepted tokens as a bitset (index into MaskCache::words), or
  std::vector<int32_t> ids;  // as a list when there are few
  // Counted rules: a token is accepted only if the characters it adds fit (t <= remaining).
  bool counted = false;
  uint32_t max_t = 0;
  int32_t levels = -1;  // dense: bitsets levels + r hold the tokens with t <= r, r < kCountLevels
  std::vector<std::pair<int32_t, uint32_t>> by_count;  // (token, t): all (sparse) or t >= kCountLevels
                                                       // (dense), ascending t
  std::vector<int32_t> uncertain;  // decided at run time by parsing from the actual stack
};

struct MaskCache {
  size_t mask_words = 0;
  std::vector<StateMask> states;  // per program state
  std::vector<uint32_t> words;
  std::vector<uint32_t> walk_nodes;  // trie nodes visited per state while building (statistics)

  const uint32_t* bitset(int32_t index) const { return words.data() + size_t(index) * mask_words; }
  size_t bytes() const;
};

void build_mask_cache(const Program& p, const Vocabulary& vocab, MaskCache& cache);

// ORs into `mask` the tokens a state accepts whatever lies below it, for a frame that may still
// add `remaining` characters (counted rules; ignored otherwise).
void apply_accepted(const MaskCache& cache, const StateMask& m, uint32_t remaining,
                    uint32_t* mask);

}  // namespace r1::grammar::detail
