// Stepping the pushdown parser, and the Matcher built on it: per token, the configuration advances
// byte by byte (or by one special-token symbol); masks combine each stack head's precomputed
// classification with run-time checks of the few tokens that reach into the frames below.
#include "grammar/parser.h"

#include <algorithm>

#include "core/error.h"
#include "grammar/mask_cache.h"

namespace r1::grammar {
namespace detail {

namespace {
inline uint32_t mix(int32_t state, uint32_t count, int32_t parent) {
  uint64_t h = static_cast<uint32_t>(state) * 0x9E3779B97F4A7C15ull;
  h ^= (static_cast<uint64_t>(count) + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
  h ^= static_cast<uint32_t>(parent) * 0x165667B19E3779F9ull;
  return static_cast<uint32_t>(h ^ (h >> 29));
}
}  // namespace

Stepper::Stepper(const Program& p) : p_(p), slots_(64) {}

void Stepper::begin_step() {
  if (++epoch_ == 0) {  // wrapped: forget every stamp
    std::fill(stamp_.begin(), stamp_.end(), 0);
    for (Slot& s : slots_) s.epoch = 0;
    epoch_ = 1;
  }
  used_ = 0;
}

int32_t Stepper::lookup(int32_t state, uint32_t count, int32_t parent) const {
  size_t mask = slots_.size() - 1;
  for (size_t i = mix(state, count, parent) & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.epoch != epoch_) return -1;
    if (s.state == state && s.count == count && s.parent == parent) return s.id;
  }
}

void Stepper::grow() {
  std::vector<Slot> old;
  old.swap(slots_);
  slots_.assign(old.size() * 2, Slot{});
  size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.epoch != epoch_) continue;
    size_t i = mix(s.state, s.count, s.parent) & mask;
    while (slots_[i].epoch == epoch_) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void Stepper::remember(int32_t id) {
  const StackNode& n = nodes[id];
  if ((used_ + 1) * 2 > slots_.size()) grow();
  size_t mask = slots_.size() - 1;
  for (size_t i = mix(n.state, n.count, n.parent) & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.epoch != epoch_) {
      s = {n.state, n.parent, n.count, id, epoch_};
      ++used_;
      return;
    }
    if (s.state == n.state && s.count == n.count && s.parent == n.parent) return;
  }
}

int32_t Stepper::node_for(int32_t state, uint32_t count, int32_t parent) {
  int32_t id = lookup(state, count, parent);
  if (id >= 0) return id;
  id = static_cast<int32_t>(nodes.size());
  nodes.push_back({state, count, parent});
  remember(id);
  return id;
}

void Stepper::close(int32_t id, Heads& out) {
  work_.clear();
  work_.push_back(id);
  // Stacks are not merged, so a grammar ambiguous at every nesting level (anyOf of two recursive
  // rules that accept the same arrays) doubles them per level. Past the cap the rest are dropped:
  // what remains is still valid and live, only some continuations are lost.
  while (!work_.empty() && out.ids.size() < kMaxHeads) {
    int32_t n = work_.back();
    work_.pop_back();
    if (stamp_.size() < nodes.size()) stamp_.resize(nodes.size() * 2, 0);
    if (stamp_[n] == epoch_) continue;
    stamp_[n] = epoch_;
    remember(n);
    const StackNode node = nodes[n];
    const StateInfo& st = p_.states[node.state];
    if ((st.flags & kHasBytes) || st.symbols_begin != st.symbols_end) out.ids.push_back(n);
    for (uint32_t i = st.calls_begin; i < st.calls_end; ++i) {
      const CallEdge& e = p_.calls[i];
      int32_t caller = node_for(e.ret, node.count, node.parent);
      work_.push_back(node_for(p_.rules[e.rule].first_state, 0, caller));
    }
    if (st.flags & kAccepting) {
      const RuleInfo& rule = p_.rules[st.rule];
      if (rule.counted && node.parent != kExit && node.count < rule.count_min) continue;
      if (node.parent == kBottom) {
        out.complete = true;
      } else if (node.parent == kExit) {
        out.exited = true;
        out.exit_count = std::min(out.exit_count, node.count);
      } else {
        work_.push_back(node.parent);
      }
    }
  }
}

void Stepper::step_byte(std::span<const int32_t> in, uint8_t byte, Heads& out) {
  begin_step();
  out.clear();
  for (int32_t h : in) {
    const StackNode n = nodes[h];
    int32_t t = p_.next(n.state, byte);
    if (t < 0) continue;
    uint32_t count = n.count;
    const StateInfo& from = p_.states[n.state];
    if ((from.flags & kBoundary) && byte != '"') {
      const RuleInfo& rule = p_.rules[from.rule];
      if (rule.counted) {
        ++count;
        // A walk's base frame has a symbolic count: the mask applies the bound later.
        if (count > rule.count_max && n.parent != kExit) continue;
      }
    }
    if (p_.states[t].flags & kSimple) {
      out.ids.push_back(static_cast<int32_t>(nodes.size()));
      nodes.push_back({t, count, n.parent});
      continue;
    }
    close(node_for(t, count, n.parent), out);
  }
}

void Stepper::step_symbol(std::span<const int32_t> in, int32_t symbol, Heads& out) {
  begin_step();
  out.clear();
  for (int32_t h : in) {
    const StackNode n = nodes[h];
    const StateInfo& st = p_.states[n.state];
    for (uint32_t i = st.symbols_begin; i < st.symbols_end; ++i) {
      const SymbolEdge& e = p_.symbol_edges[i];
      if (e.symbol == symbol) close(node_for(e.next, n.count, n.parent), out);
    }
  }
}

bool Stepper::accepts(int32_t head, std::string_view bytes, Heads& a, Heads& b) {
  size_t mark = nodes.size();
  Heads* cur = &a;
  Heads* next = &b;
  cur->clear();
  cur->ids.push_back(head);
  bool ok = true;
  for (size_t i = 0; i < bytes.size(); ++i) {
    step_byte(cur->ids, static_cast<uint8_t>(bytes[i]), *next);
    if (next->ids.empty() && (i + 1 < bytes.size() || !next->complete)) {
      ok = false;
      break;
    }
    std::swap(cur, next);
  }
  truncate(mark);
  return ok;
}

bool Stepper::accepts_after(int32_t caller, std::string_view bytes, Heads& a, Heads& b) {
  size_t mark = nodes.size();
  begin_step();
  a.clear();
  close(caller, a);
  bool ok = !a.ids.empty() || a.complete;
  Heads* cur = &a;
  Heads* next = &b;
  for (size_t i = 0; ok && i < bytes.size(); ++i) {
    step_byte(cur->ids, static_cast<uint8_t>(bytes[i]), *next);
    ok = !next->ids.empty() || (i + 1 == bytes.size() && next->complete);
    std::swap(cur, next);
  }
  truncate(mark);
  return ok;
}

// ---- Parser ----

Parser::Parser(std::shared_ptr<const CompiledGrammar> grammar)
    : grammar_(std::move(grammar)),
      p_(grammar_->program()),
      vocab_(grammar_->vocabulary()),
      stepper_(p_) {
  reset();
}

void Parser::reset() {
  history_.clear();
  heads_.clear();
  stepper_.truncate(0);
  stepper_.begin_step();
  Heads h;
  stepper_.close(stepper_.node_for(p_.root_start(), 0, kBottom), h);
  push_step(h, false);
}

void Parser::push_step(const Heads& h, bool terminated) {
  Step s;
  s.heads_begin = static_cast<uint32_t>(heads_.size());
  heads_.insert(heads_.end(), h.ids.begin(), h.ids.end());
  s.heads_end = static_cast<uint32_t>(heads_.size());
  s.arena_size = static_cast<uint32_t>(stepper_.nodes.size());
  s.complete = h.complete;
  s.terminated = terminated;
  history_.push_back(s);
}

bool Parser::run_bytes(std::span<const int32_t> from, std::string_view bytes, Heads& out) const {
  Heads* cur = &scratch_a_;
  Heads* next = &scratch_b_;
  cur->clear();
  cur->ids.assign(from.begin(), from.end());
  for (size_t i = 0; i < bytes.size(); ++i) {
    stepper_.step_byte(cur->ids, static_cast<uint8_t>(bytes[i]), *next);
    if (next->ids.empty() && (i + 1 < bytes.size() || !next->complete)) return false;
    std::swap(cur, next);
  }
  out.ids.assign(cur->ids.begin(), cur->ids.end());
  out.complete = cur->complete;
  return true;
}

bool Parser::accept_token(int32_t id) {
  if (id < 0 || id >= vocab_.size()) return false;
  const Step cur = history_.back();
  if (cur.terminated) return false;
  if (vocab_.is_eos(id)) {
    if (!cur.complete) return false;
    Heads none;
    none.complete = true;
    push_step(none, true);
    return true;
  }
  int32_t symbol = p_.symbol_of(id);
  const std::string& bytes = vocab_.token(id);
  bool as_text = !vocab_.is_special(id) && !bytes.empty();
  if (symbol < 0 && !as_text) return false;
  size_t mark = stepper_.nodes.size();
  Heads& result = scratch_c_;
  result.clear();
  if (as_text && !run_bytes(current(), bytes, result)) result.clear();
  if (symbol >= 0) {
    stepper_.step_symbol(current(), symbol, scratch_a_);
    result.ids.insert(result.ids.end(), scratch_a_.ids.begin(), scratch_a_.ids.end());
    result.complete |= scratch_a_.complete;
  }
  if (result.ids.empty() && !result.complete) {
    stepper_.truncate(mark);
    return false;
  }
  push_step(result, false);
  return true;
}

bool Parser::accept_bytes(std::string_view bytes) {
  const Step cur = history_.back();
  if (cur.terminated) return false;
  size_t mark = stepper_.nodes.size();
  Heads& result = scratch_c_;
  result.clear();
  if (bytes.empty()) {
    auto h = current();
    result.ids.assign(h.begin(), h.end());
    result.complete = cur.complete;
  } else if (!run_bytes(current(), bytes, result)) {
    stepper_.truncate(mark);
    return false;
  }
  push_step(result, false);
  return true;
}

void Parser::rollback(int n) {
  n = std::clamp(n, 0, steps());
  history_.resize(history_.size() - static_cast<size_t>(n));
  heads_.resize(history_.back().heads_end);
  stepper_.truncate(history_.back().arena_size);
}

void Parser::fill_mask(std::span<uint32_t> mask) const {
  R1_CHECK(mask.size() >= vocab_.mask_words(), "token bitmask has {} words, the vocabulary needs {}",
           mask.size(), vocab_.mask_words());
  std::fill(mask.begin(), mask.end(), 0u);
  const Step& cur = history_.back();
  auto set = [&](int32_t id) { mask[id >> 5] |= 1u << (id & 31); };
  auto test = [&](int32_t id) { return (mask[id >> 5] >> (id & 31)) & 1u; };
  if (!cur.terminated) {
    const MaskCache& cache = grammar_->cache();
    auto heads = current();
    for (size_t k = 0; k < heads.size(); ++k) {
      const StackNode n = stepper_.nodes[heads[k]];
      bool same_top = false, same_stack = false;
      for (size_t j = 0; j < k; ++j) {
        const StackNode& o = stepper_.nodes[heads[j]];
        if (o.state == n.state && o.count == n.count) {
          same_top = true;
          same_stack |= o.parent == n.parent;
        }
      }
      if (same_stack) continue;
      const StateInfo& st = p_.states[n.state];
      for (uint32_t i = st.symbols_begin; i < st.symbols_end; ++i) {
        for (int32_t id : p_.symbol_tokens[p_.symbol_edges[i].symbol]) set(id);
      }
      if (!(st.flags & kHasBytes)) continue;
      const StateMask& m = *cache.states[n.state];
      if (!same_top) {
        const RuleInfo& rule = p_.rules[st.rule];
        uint32_t remaining = rule.counted && rule.count_max != kInf ? rule.count_max - n.count
                                                                    : UINT32_MAX;
        apply_accepted(m, remaining, mask.data(), cache.mask_words);
      }
      for (int32_t u : m.uncertain) {
        if (!test(u) && stepper_.accepts(heads[k], vocab_.token(u), scratch_a_, scratch_b_)) set(u);
      }
      // Tokens that end this rule at a known byte: the count must fit and the caller must take the
      // rest. Sorted by that rest, so each distinct one is parsed once.
      const RuleInfo& rule = p_.rules[st.rule];
      std::string_view last_suffix;
      bool last_ok = false, have_last = false;
      for (const StateMask::Exit& e : m.exits) {
        if (test(e.token)) continue;
        if (rule.counted) {
          uint64_t total = uint64_t{n.count} + e.t;
          if (total < rule.count_min || total > rule.count_max) continue;
        }
        std::string_view suffix = std::string_view(vocab_.token(e.token)).substr(e.offset);
        if (suffix.empty()) {
          set(e.token);
          continue;
        }
        if (!have_last || suffix != last_suffix) {
          last_ok = n.parent >= 0 &&
                    stepper_.accepts_after(n.parent, suffix, scratch_a_, scratch_b_);
          last_suffix = suffix;
          have_last = true;
        }
        if (last_ok) set(e.token);
      }
    }
    if (!cur.complete) return;
  }
  for (int32_t id : vocab_.eos_ids()) set(id);
}

int64_t Parser::completion_cost(int32_t head) const {
  int64_t cost = 0;
  for (int32_t n = head; n >= 0; n = stepper_.nodes[n].parent) {
    const StackNode& node = stepper_.nodes[n];
    cost += p_.min_to_end[node.state];
    const RuleInfo& rule = p_.rule_of(node.state);
    if (rule.counted && node.count < rule.count_min) cost += rule.count_min - node.count;
  }
  return cost;
}

std::string Parser::shortest_completion() const {
  std::string out;
  if (terminated() || complete()) return out;
  size_t mark = stepper_.nodes.size();
  std::vector<int32_t> cur(current().begin(), current().end());
  Heads trial, best_heads;
  // Greedy descent on the completion cost: each step takes the byte (or special token), from any
  // stack, that leaves the cheapest continuation, and keeps only that continuation.
  for (int guard = 0; guard < 100'000 && !cur.empty(); ++guard) {
    int64_t best_cost = INT64_MAX;
    std::string best_text;
    auto consider = [&](const std::string& text) {
      int64_t c = INT64_MAX;
      if (trial.complete) {
        c = 0;
      } else {
        for (int32_t h : trial.ids) c = std::min(c, completion_cost(h));
      }
      if (c < best_cost) {
        best_cost = c;
        best_text = text;
        best_heads = trial;
      }
    };
    for (int32_t head : cur) {
      const int32_t single[] = {head};
      int32_t state = stepper_.nodes[head].state;
      for (int b = 0; b < 256; ++b) {
        if (p_.next(state, static_cast<uint8_t>(b)) < 0) continue;
        stepper_.step_byte(single, static_cast<uint8_t>(b), trial);
        consider(std::string(1, static_cast<char>(b)));
      }
      const StateInfo& st = p_.states[state];
      for (uint32_t i = st.symbols_begin; i < st.symbols_end; ++i) {
        stepper_.step_symbol(single, p_.symbol_edges[i].symbol, trial);
        consider(p_.symbol_text[p_.symbol_edges[i].symbol]);
      }
    }
    if (best_cost == INT64_MAX) break;
    out += best_text;
    if (best_heads.complete) break;
    cur = best_heads.ids;
  }
  stepper_.truncate(mark);
  return out;
}

}  // namespace detail

// ---- Matcher ----

Matcher::Matcher(std::shared_ptr<const CompiledGrammar> grammar)
    : grammar_(grammar), parser_(std::make_unique<detail::Parser>(std::move(grammar))) {}
Matcher::~Matcher() = default;
Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;

void Matcher::fill_mask(std::span<uint32_t> bitmask) const noexcept { parser_->fill_mask(bitmask); }
bool Matcher::accept_token(int32_t id) noexcept { return parser_->accept_token(id); }
bool Matcher::accept_bytes(std::string_view bytes) noexcept { return parser_->accept_bytes(bytes); }
bool Matcher::is_complete() const noexcept { return parser_->complete(); }
bool Matcher::is_terminated() const noexcept { return parser_->terminated(); }
void Matcher::rollback(int n) noexcept { parser_->rollback(n); }
int Matcher::steps() const noexcept { return parser_->steps(); }
int Matcher::stacks() const noexcept { return parser_->stacks(); }
void Matcher::reset() noexcept { parser_->reset(); }
std::string Matcher::shortest_completion() const { return parser_->shortest_completion(); }

}  // namespace r1::grammar
