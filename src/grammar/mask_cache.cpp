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
      : p_(p), vocab_(vocab), trie_(vocab.trie()), cache_(cache), stepper_(p) {
    size_t depth = trie_.max_depth + 1;
    level_.resize(depth);
    arena_mark_.resize(depth);
    pending_.resize(depth);
    exit_at_.resize(depth);
    exit_t_.resize(depth);
  }

  std::shared_ptr<const StateMask> classify(int32_t state) {
    const RuleInfo& rule = p_.rule_of(state);
    bool counted = rule.counted;
    bool has_callers = rule.has_callers;
    stepper_.truncate(0);
    level_[0] = Level{};
    level_[0].state = state;
    level_[0].parent = kExit;
    arena_mark_[0] = 0;
    pending_[0] = 0;
    accepted_.clear();
    uncertain_.clear();
    exits_.clear();
    const auto& nodes = trie_.nodes;
    uint32_t i = 1, visited = 0;
    while (i < nodes.size()) {
      const VocabTrie::Node& tn = nodes[i];
      uint32_t d = tn.depth;
      ++visited;
      step(d, tn.byte);
      const Level& lv = level_[d];
      const Level& up = level_[d - 1];
      // pending: the rule ended earlier on this path and a caller could take this byte; exit_at_:
      // where, if at exactly one place (-1 when at several).
      bool from_exit = up.exited && has_callers && rule.follow.test(tn.byte);
      pending_[d] = pending_[d - 1] || from_exit;
      if (pending_[d - 1] && from_exit) {
        exit_at_[d] = -1;
      } else if (pending_[d - 1]) {
        exit_at_[d] = exit_at_[d - 1];
        exit_t_[d] = exit_t_[d - 1];
      } else if (from_exit) {
        exit_at_[d] = static_cast<int32_t>(d - 1);
        exit_t_[d] = up.exit_count;
      }
      bool live = lv.simple() || !lv.heads.ids.empty();
      if (!live && !lv.exited) {
        if (pending_[d]) {
          // Only a caller could continue from here: the whole subtree waits for run time.
          for (uint32_t k = nodes[i].tokens_begin; k < nodes[tn.end - 1].tokens_end; ++k) {
            undecided(trie_.node_tokens[k], d);
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
          } else if (lv.exited && !pending_[d]) {
            exits_.push_back({id, d, lv.exit_count});  // ends the rule exactly: the count decides
          } else {
            undecided(id, d);
          }
        }
      }
      ++i;
    }
    cache_.walk_nodes[state] = visited;
    total_steps_ += visited;
    rule_steps_ += visited;
    if (total_steps_ > kMaxWalkSteps) {
      fail(ErrorKind::kLimit,
           "grammar too expensive to prepare for this vocabulary (more than {} trie steps; "
           "simplify long bounded repetitions)", kMaxWalkSteps);
    }
    return finish(counted);
  }

  uint64_t rule_steps_ = 0;  // trie steps since the caller last reset it

 private:
  // A token whose path ended the rule earlier (pending at depth d): with a single exit point it
  // is decided at run time from the caller's side only, else by a full parse.
  void undecided(int32_t id, uint32_t d) {
    if (exit_at_[d] >= 0) {
      exits_.push_back({id, static_cast<uint32_t>(exit_at_[d]), exit_t_[d]});
    } else {
      uncertain_.push_back(id);
    }
  }

  std::shared_ptr<const StateMask> finish(bool counted) {
    auto m = std::make_shared<StateMask>();
    size_t words = cache_.mask_words;
    m->counted = counted;
    m->uncertain = uncertain_;
    std::sort(m->uncertain.begin(), m->uncertain.end());
    m->uncertain.erase(std::unique(m->uncertain.begin(), m->uncertain.end()), m->uncertain.end());
    m->exits = exits_;
    std::sort(m->exits.begin(), m->exits.end(), [&](const StateMask::Exit& a, const StateMask::Exit& b) {
      return std::string_view(vocab_.token(a.token)).substr(a.offset) <
             std::string_view(vocab_.token(b.token)).substr(b.offset);
    });
    bool dense = accepted_.size() > words / 2;
    if (!counted) {
      if (dense) {
        m->bits.assign(words, 0);
        for (auto [id, t] : accepted_) set_bit(m->bits.data(), id);
      } else {
        for (auto [id, t] : accepted_) m->ids.push_back(id);
        std::sort(m->ids.begin(), m->ids.end());
      }
      return m;
    }
    std::stable_sort(accepted_.begin(), accepted_.end(),
                     [](const auto& a, const auto& b) { return a.second < b.second; });
    m->max_t = accepted_.empty() ? 0 : accepted_.back().second;
    if (!dense) {
      m->by_count = accepted_;
      return m;
    }
    m->bits.assign(words, 0);
    m->levels.assign(words * kCountLevels, 0);
    for (auto [id, t] : accepted_) {
      set_bit(m->bits.data(), id);
      if (t >= kCountLevels) {
        m->by_count.push_back({id, t});
        continue;
      }
      for (uint32_t r = t; r < kCountLevels; ++r) set_bit(m->levels.data() + r * words, id);
    }
    return m;
  }

  // The parser configuration after a prefix: while it is a single stack whose top is a state
  // with byte transitions only (most of the walk), it is kept as plain fields; otherwise as heads
  // in the stepper's arena.
  struct Level {
    int32_t state = -1;  // >= 0: the single stack (state, count, parent); < 0: see heads
    uint32_t count = 0;
    int32_t parent = kExit;
    bool exited = false;
    uint32_t exit_count = UINT32_MAX;
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
    out.exit_count = UINT32_MAX;
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
    out.exit_count = out.heads.exit_count;
    arena_mark_[d] = stepper_.nodes.size();
  }

  const Program& p_;
  const Vocabulary& vocab_;
  const VocabTrie& trie_;
  MaskCache& cache_;
  Stepper stepper_;
  std::vector<Level> level_;
  std::vector<size_t> arena_mark_;
  std::vector<uint8_t> pending_;
  std::vector<int32_t> exit_at_;
  std::vector<uint32_t> exit_t_;
  std::vector<StateMask::Exit> exits_;
  std::vector<std::pair<int32_t, uint32_t>> accepted_;
  std::vector<int32_t> uncertain_;
  uint64_t total_steps_ = 0;
};

}  // namespace

size_t MaskCache::bytes() const {
  size_t total = states.size() * sizeof(states[0]);
  std::vector<const StateMask*> seen;
  for (const auto& m : states) {
    if (!m) continue;
    seen.push_back(m.get());
  }
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  for (const StateMask* m : seen) {
    total += sizeof(StateMask) + (m->bits.size() + m->levels.size()) * sizeof(uint32_t) +
             (m->ids.size() + m->uncertain.size()) * sizeof(int32_t) +
             m->by_count.size() * sizeof(m->by_count[0]) + m->exits.size() * sizeof(m->exits[0]);
  }
  return total;
}

std::vector<std::shared_ptr<const StateMask>> MaskMemo::find(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = rules_.find(key);
  return it == rules_.end() ? std::vector<std::shared_ptr<const StateMask>>{} : it->second;
}

void MaskMemo::insert(const std::string& key,
                      std::vector<std::shared_ptr<const StateMask>> masks) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!rules_.emplace(key, std::move(masks)).second) return;
  order_.push_back(key);
  while (order_.size() > kMaxRules) {
    rules_.erase(order_.front());
    order_.pop_front();
  }
}

namespace {

// Everything a call-free rule's classification depends on: its automaton, whether it counts
// characters, whether a caller may continue after it, and the bytes that may follow it.
std::string rule_key(const Program& p, int32_t r) {
  const RuleInfo& rule = p.rules[r];
  std::string key;
  auto put = [&](const void* data, size_t n) { key.append(static_cast<const char*>(data), n); };
  uint8_t head[3] = {rule.counted, rule.has_callers, 0};
  put(head, sizeof(head));
  for (int b = 0; b < 256; ++b) {
    uint8_t f = rule.follow.test(b);
    put(&f, 1);
  }
  put(&p.class_maps[rule.class_map], 256);
  put(&rule.n_states, sizeof(rule.n_states));
  for (int32_t s = rule.first_state; s < rule.first_state + rule.n_states; ++s) {
    const StateInfo& st = p.states[s];
    put(&st.flags, 1);
    for (int32_t c = 0; c < rule.n_classes; ++c) {
      int32_t t = p.trans[st.row + c];
      int32_t local = t < 0 ? -1 : t - rule.first_state;
      put(&local, sizeof(local));
    }
  }
  return key;
}

bool call_free(const Program& p, int32_t r) {
  const RuleInfo& rule = p.rules[r];
  for (int32_t s = rule.first_state; s < rule.first_state + rule.n_states; ++s) {
    const StateInfo& st = p.states[s];
    if (st.calls_begin != st.calls_end || st.symbols_begin != st.symbols_end) return false;
  }
  return true;
}

// Rules whose preparation took at least this many trie steps are worth keeping per vocabulary.
constexpr uint64_t kMemoMinSteps = 50'000;

}  // namespace

void build_mask_cache(const Program& p, const Vocabulary& vocab, MaskCache& cache) {
  cache.mask_words = vocab.mask_words();
  cache.states.assign(p.states.size(), nullptr);
  cache.walk_nodes.assign(p.states.size(), 0);
  Classifier classifier(p, vocab, cache);
  std::map<std::string, std::vector<std::shared_ptr<const StateMask>>> local;
  for (int32_t r = 0; r < static_cast<int32_t>(p.rules.size()); ++r) {
    const RuleInfo& rule = p.rules[r];
    std::string key;
    std::vector<std::shared_ptr<const StateMask>> masks;
    if (call_free(p, r)) {
      key = rule_key(p, r);
      auto it = local.find(key);
      masks = it != local.end() ? it->second : vocab.mask_memo().find(key);
    }
    if (masks.empty()) {
      masks.assign(rule.n_states, nullptr);
      classifier.rule_steps_ = 0;
      for (int32_t k = 0; k < rule.n_states; ++k) {
        if (p.states[rule.first_state + k].flags & kHasBytes) {
          masks[k] = classifier.classify(rule.first_state + k);
        }
      }
      if (!key.empty()) {
        local[key] = masks;
        if (classifier.rule_steps_ >= kMemoMinSteps) vocab.mask_memo().insert(key, masks);
      }
    }
    for (int32_t k = 0; k < rule.n_states; ++k) cache.states[rule.first_state + k] = masks[k];
  }
}

void apply_accepted(const StateMask& m, uint32_t remaining, uint32_t* mask, size_t words) {
  auto or_bits = [&](const uint32_t* bits) {
    for (size_t w = 0; w < words; ++w) mask[w] |= bits[w];
  };
  if (!m.counted || remaining >= m.max_t) {
    if (!m.bits.empty()) {
      or_bits(m.bits.data());
    } else {
      for (int32_t id : m.ids) set_bit(mask, id);
      for (auto [id, t] : m.by_count) set_bit(mask, id);
    }
    return;
  }
  if (!m.levels.empty()) {
    or_bits(m.levels.data() + std::min(remaining, kCountLevels - 1) * words);
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
