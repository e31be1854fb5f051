// Building the per-state token classification by a depth-first walk over the vocabulary trie:
// the parser configuration after each prefix is kept per depth, so siblings share their parent's
// work, and a rejected prefix skips its whole subtree. The walk starts from the state alone (its
// caller unknown); when the state's rule ends inside a token, the rest of the token is left to a
// run-time check unless the next byte can never follow the rule.
#include "grammar/mask_cache.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "grammar/parser.h"
#include "grammar/vocab_trie.h"

namespace r1::grammar {
namespace detail {

namespace {

inline void set_bit(uint32_t* mask, int32_t id) { mask[id >> 5] |= 1u << (id & 31); }

class Classifier {
 public:
  Classifier(const Program& p, const Vocabulary& vocab, MaskCache& cache)
      : p_(p), trie_(vocab.trie()), cache_(cache), stepper_(p) {
    size_t depth = trie_.max_depth + 1;
    level_.resize(depth);
    arena_mark_.resize(depth);
    pending_.resize(depth);
    exited_.resize(depth);
  }

  void classify(int32_t state) {
    const RuleInfo& rule = p_.rule_of(state);
    bool counted = rule.counted;
    bool has_callers = rule.has_callers;
    stepper_.truncate(0);
    level_[0] = Level{};
    level_[0].state = state;
    level_[0].parent = kExit;
    arena_mark_[0] = 0;
    pending_[0] = exited_[0] = 0;
    accepted_.clear();
    uncertain_.clear();
    const auto& nodes = trie_.nodes;
    uint32_t i = 1, visited = 0;
    while (i < nodes.size()) {
      const VocabTrie::Node& tn = nodes[i];
      uint32_t d = tn.depth;
      ++visited;
      step(d, tn.byte);
      const Level& lv = level_[d];
      bool pend = pending_[d - 1] || (exited_[d - 1] && has_callers && rule.follow.test(tn.byte));
      pending_[d] = pend;
      exited_[d] = lv.exited;
      bool live = lv.simple() || !lv.heads.ids.empty();
      if (!live && !lv.exited) {
        if (pend) {
          // Only a caller could continue from here: the whole subtree waits for run time.
          for (uint32_t k = nodes[i].tokens_begin; k < nodes[tn.end - 1].tokens_end; ++k) {
            uncertain_.push_back(trie_.node_tokens[k]);
          }
        }
        i = tn.end;
        continue;
      }
      if (tn.tokens_begin != tn.tokens_end) {
        uint32_t t = 0;
        if (live && counted) {
          if (lv.simple()) {
            t = lv.count;
          } else {
            t = UINT32_MAX;
            for (int32_t h : lv.heads.ids) t = std::min(t, stepper_.nodes[h].count);
          }
        }
        for (uint32_t k = tn.tokens_begin; k < tn.tokens_end; ++k) {
          int32_t id = trie_.node_tokens[k];
          if (live || (lv.exited && !counted)) {
            accepted_.push_back({id, t});
          } else {
            uncertain_.push_back(id);
          }
        }
      }
      ++i;
    }
    cache_.walk_nodes[state] = visited;
    total_steps_ += visited;
    if (total_steps_ > kMaxWalkSteps) {
      fail(ErrorKind::kLimit,
           "grammar too expensive to prepare for this vocabulary (more than {} trie steps; "
           "simplify long bounded repetitions)", kMaxWalkSteps);
    }
    finish(state, counted);
  }

 private:
  int32_t new_bitset() {
    int32_t index = static_cast<int32_t>(cache_.words.size() / cache_.mask_words);
    cache_.words.resize(cache_.words.size() + cache_.mask_words, 0);
    return index;
  }

  void finish(int32_t state, bool counted) {
    StateMask& m = cache_.states[state];
    m.counted = counted;
    m.uncertain = uncertain_;
    std::sort(m.uncertain.begin(), m.uncertain.end());
    m.uncertain.erase(std::unique(m.uncertain.begin(), m.uncertain.end()), m.uncertain.end());
    bool dense = accepted_.size() > cache_.mask_words / 2;
    if (!counted) {
      if (dense) {
        m.bitset = new_bitset();
        uint32_t* bits = cache_.words.data() + size_t(m.bitset) * cache_.mask_words;
        for (auto [id, t] : accepted_) set_bit(bits, id);
      } else {
        for (auto [id, t] : accepted_) m.ids.push_back(id);
        std::sort(m.ids.begin(), m.ids.end());
      }
      return;
    }
    std::stable_sort(accepted_.begin(), accepted_.end(),
                     [](const auto& a, const auto& b) { return a.second < b.second; });
    m.max_t = accepted_.empty() ? 0 : accepted_.back().second;
    if (!dense) {
      m.by_count = accepted_;
      return;
    }
    m.bitset = new_bitset();
    m.levels = new_bitset();
    for (uint32_t r = 1; r < kCountLevels; ++r) new_bitset();
    uint32_t* all = cache_.words.data() + size_t(m.bitset) * cache_.mask_words;
    for (auto [id, t] : accepted_) {
      set_bit(all, id);
      if (t >= kCountLevels) {
        m.by_count.push_back({id, t});
        continue;
      }
      for (uint32_t r = t; r < kCountLevels; ++r) {
        set_bit(cache_.words.data() + size_t(m.levels + r) * cache_.mask_words, id);
      }
    }
  }

  // The parser configuration after a prefix: while it is a single stack whose top is a state
  // with byte transitions only (most of the walk), it is kept as plain fields; otherwise as heads
  // in the stepper's arena.
  struct Level {
    int32_t state = -1;  // >= 0: the single stack (state, count, parent); < 0: see heads
    uint32_t count = 0;
    int32_t parent = kExit;
    bool exited = false;
    Heads heads;
    bool simple() const { return state >= 0; }
  };

  // The arena node standing for a simple level (made on demand, kept with that level).
  void materialize(uint32_t d) {
    Level& lv = level_[d];
    stepper_.truncate(arena_mark_[d]);
    lv.heads.clear();
    lv.heads.ids.push_back(static_cast<int32_t>(stepper_.nodes.size()));
    stepper_.nodes.push_back({lv.state, lv.count, lv.parent});
    lv.state = -1;
    arena_mark_[d] = stepper_.nodes.size();
  }

  void step(uint32_t d, uint8_t byte) {
    Level& prev = level_[d - 1];
    Level& out = level_[d];
    out.exited = false;
    if (prev.simple()) {
      int32_t t = p_.next(prev.state, byte);
      if (t < 0) {
        out.state = -1;
        out.heads.clear();
        arena_mark_[d] = arena_mark_[d - 1];
        return;
      }
      const StateInfo& from = p_.states[prev.state];
      uint32_t count = prev.count;
      bool bounded = false;
      if ((from.flags & kBoundary) && byte != '"' && p_.rules[from.rule].counted) {
        ++count;
        bounded = prev.parent != kExit && count > p_.rules[from.rule].count_max;
      }
      if (!bounded && (p_.states[t].flags & kSimple)) {
        out.state = t;
        out.count = count;
        out.parent = prev.parent;
        arena_mark_[d] = arena_mark_[d - 1];
        return;
      }
      materialize(d - 1);
    }
    stepper_.truncate(arena_mark_[d - 1]);
    out.state = -1;
    stepper_.step_byte(prev.heads.ids, byte, out.heads);
    out.exited = out.heads.exited;
    arena_mark_[d] = stepper_.nodes.size();
  }

  const Program& p_;
  const VocabTrie& trie_;
  MaskCache& cache_;
  Stepper stepper_;
  std::vector<Level> level_;
  std::vector<size_t> arena_mark_;
  std::vector<uint8_t> pending_, exited_;
  std::vector<std::pair<int32_t, uint32_t>> accepted_;
  std::vector<int32_t> uncertain_;
  uint64_t total_steps_ = 0;
};

}  // namespace

size_t MaskCache::bytes() const {
  size_t total = words.size() * sizeof(uint32_t) + states.size() * sizeof(StateMask);
  for (const StateMask& m : states) {
    total += m.ids.size() * sizeof(int32_t) + m.uncertain.size() * sizeof(int32_t) +
             m.by_count.size() * sizeof(m.by_count[0]);
  }
  return total;
}

void build_mask_cache(const Program& p, const Vocabulary& vocab, MaskCache& cache) {
  cache.mask_words = vocab.mask_words();
  cache.states.assign(p.states.size(), StateMask{});
  cache.walk_nodes.assign(p.states.size(), 0);
  Classifier classifier(p, vocab, cache);
  for (size_t s = 0; s < p.states.size(); ++s) {
    if (p.states[s].flags & kHasBytes) classifier.classify(static_cast<int32_t>(s));
  }
}

void apply_accepted(const MaskCache& cache, const StateMask& m, uint32_t remaining,
                    uint32_t* mask) {
  auto or_bitset = [&](int32_t index) {
    const uint32_t* bits = cache.bitset(index);
    for (size_t w = 0; w < cache.mask_words; ++w) mask[w] |= bits[w];
  };
  if (!m.counted || remaining >= m.max_t) {
    if (m.bitset >= 0) {
      or_bitset(m.bitset);
    } else {
      for (int32_t id : m.ids) set_bit(mask, id);
      for (auto [id, t] : m.by_count) set_bit(mask, id);
    }
    return;
  }
  if (m.levels >= 0) {
    or_bitset(m.levels + static_cast<int32_t>(std::min(remaining, kCountLevels - 1)));
    if (remaining < kCountLevels) return;
  }
  for (auto [id, t] : m.by_count) {
    if (t > remaining) break;
    set_bit(mask, id);
  }
}

}  // namespace detail

std::shared_ptr<const CompiledGrammar> CompiledGrammar::compile(
    const Grammar& grammar, std::shared_ptr<const Vocabulary> vocab) {
  R1_CHECK(vocab != nullptr);
  auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<CompiledGrammar> g(new CompiledGrammar());
  g->vocab_ = std::move(vocab);
  g->program_ = std::make_unique<detail::Program>(grammar.data(), *g->vocab_);
  auto t1 = std::chrono::steady_clock::now();
  g->cache_ = std::make_unique<detail::MaskCache>();
  detail::build_mask_cache(*g->program_, *g->vocab_, *g->cache_);
  auto t2 = std::chrono::steady_clock::now();
  CompileStats& s = g->stats_;
  s.rules = static_cast<int32_t>(g->program_->rules.size());
  s.states = static_cast<int32_t>(g->program_->states.size());
  for (const detail::StateInfo& st : g->program_->states) s.mask_states += (st.flags & detail::kHasBytes) != 0;
  s.cache_bytes = g->cache_->bytes();
  s.automaton_seconds = std::chrono::duration<double>(t1 - t0).count();
  s.mask_seconds = std::chrono::duration<double>(t2 - t1).count();
  return g;
}

CompiledGrammar::~CompiledGrammar() = default;

}  // namespace r1::grammar
