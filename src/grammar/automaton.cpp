// Grammar IR → Program: per rule, a Thompson NFA over byte sets, rule calls and single-token
// symbols (non-recursive references inlined, large repeated items hoisted into rules of their
// own), made deterministic by subset construction over the rule's byte classes; then dead and
// unreachable states are trimmed, left recursion is rejected, and the bytes that may follow each
// rule and the shortest completion of each state are computed.
#include <algorithm>
#include <deque>
#include <map>
#include <unordered_map>

#include "core/error.h"
#include "grammar/program.h"
#include "grammar/vocab_trie.h"

namespace r1::grammar::detail {

namespace {

constexpr uint64_t kInlineSize = 4000;     // rules up to this size are inlined wherever used
constexpr uint64_t kHoistProduct = 20000;  // repeat copies × item size above this → a rule
constexpr int kMaxBuildDepth = 2000;

enum class EdgeKind : uint8_t { kEps, kByte, kCall, kSymbol };

struct NfaEdge {
  uint32_t from, to;
  int32_t label;  // byte set / program rule / symbol
  EdgeKind kind;
};

struct Nfa {
  uint32_t n_states = 0;
  std::vector<NfaEdge> edges;
  uint32_t start = 0, accept = 0;
  int64_t boundary = -1;  // counted rules: the state between characters

  uint32_t add() {
    if (n_states >= kMaxNfaStates) {
      fail(ErrorKind::kLimit, "grammar too large (more than {} automaton states)", kMaxNfaStates);
    }
    return n_states++;
  }
  void edge(uint32_t a, uint32_t b, EdgeKind k, int32_t label) { edges.push_back({a, b, label, k}); }
};

// A rule's deterministic automaton with local state numbers.
struct Dfa {
  std::vector<uint8_t> class_map = std::vector<uint8_t>(256, 0);
  int n_classes = 0;
  int n_states = 0;
  std::vector<int32_t> trans;  // [state * n_classes + class] → state or -1
  std::vector<uint8_t> accepting, boundary;
  std::vector<std::vector<CallEdge>> calls;
  std::vector<std::vector<SymbolEdge>> symbols;
};

struct RuleSource {
  int32_t ir_rule = -1;  // a grammar rule, or
  int32_t expr = -1;     // an expression hoisted out of a repeat
  std::string name;
};

class Compiler {
 public:
  Compiler(const GrammarData& g, const Vocabulary& vocab, Program& p) : g_(g), vocab_(vocab), p_(p) {
    byte_sets_ = g.byte_sets;
    analyze_rules();
  }

  void run() {
    program_rule_for_ir(g_.root_rule);
    for (size_t r = 0; r < sources_.size(); ++r) dfas_.push_back(determinize(build_nfa(r)));
    layout();
  }

 private:
  // ---- IR analysis: recursion, reference counts, sizes ----

  void collect_refs(int32_t expr, std::vector<int32_t>& out, std::vector<uint8_t>& seen) {
    if (seen[expr]) return;
    seen[expr] = 1;
    const Node& n = g_.nodes[expr];
    switch (n.op) {
      case Op::kRef: out.push_back(n.a); break;
      case Op::kSeq:
      case Op::kChoice:
      case Op::kRepeat:
        for (uint32_t i = 0; i < n.count; ++i) collect_refs(g_.kids[n.first + i], out, seen);
        break;
      case Op::kGraph:
        for (const GraphEdge& e : g_.graphs[n.a].edges) collect_refs(e.expr, out, seen);
        break;
      case Op::kString: collect_refs(static_cast<int32_t>(n.first), out, seen); break;
      default: break;
    }
  }

  void analyze_rules() {
    size_t n = g_.rules.size();
    std::vector<std::vector<int32_t>> refs(n);
    ref_count_.assign(n, 0);
    for (size_t r = 0; r < n; ++r) {
      std::vector<uint8_t> seen(g_.nodes.size(), 0);
      collect_refs(g_.rules[r].body, refs[r], seen);
    }
    for (const Node& node : g_.nodes) {
      if (node.op == Op::kRef) ++ref_count_[node.a];
    }
    // Tarjan's SCCs (iterative): a rule is recursive if its component has a cycle.
    recursive_.assign(n, 0);
    std::vector<int32_t> index(n, -1), low(n, 0), comp_stack;
    std::vector<uint8_t> on_stack(n, 0);
    int32_t counter = 0;
    for (size_t root = 0; root < n; ++root) {
      if (index[root] >= 0) continue;
      std::vector<std::pair<int32_t, size_t>> work{{static_cast<int32_t>(root), 0}};
      while (!work.empty()) {
        auto& [v, i] = work.back();
        if (i == 0 && index[v] < 0) {
          index[v] = low[v] = counter++;
          comp_stack.push_back(v);
          on_stack[v] = 1;
        }
        if (i < refs[v].size()) {
          int32_t w = refs[v][i++];
          if (index[w] < 0) {
            work.push_back({w, 0});
          } else if (on_stack[w]) {
            low[v] = std::min(low[v], index[w]);
          }
          continue;
        }
        if (low[v] == index[v]) {
          std::vector<int32_t> comp;
          int32_t w;
          do {
            w = comp_stack.back();
            comp_stack.pop_back();
            on_stack[w] = 0;
            comp.push_back(w);
          } while (w != v);
          bool self = std::find(refs[v].begin(), refs[v].end(), v) != refs[v].end();
          if (comp.size() > 1 || self) {
            for (int32_t c : comp) recursive_[c] = 1;
          }
        }
        int32_t done = v;
        work.pop_back();
        if (!work.empty()) low[work.back().first] = std::min(low[work.back().first], low[done]);
      }
    }
    size_memo_.assign(g_.nodes.size(), UINT64_MAX);
  }

  bool is_string_rule(int32_t r) const { return g_.nodes[g_.rules[r].body].op == Op::kString; }

  bool inlinable(int32_t r) {
    if (recursive_[r] || !g_.rules[r].inline_ok || is_string_rule(r)) return false;
    return ref_count_[r] <= 1 || size(g_.rules[r].body) <= kInlineSize;
  }

  // Approximate NFA size of an expression (saturating), to decide inlining and hoisting.
  uint64_t size(int32_t expr) {
    uint64_t& memo = size_memo_[expr];
    if (memo != UINT64_MAX) return memo;
    const Node& n = g_.nodes[expr];
    auto sat = [](uint64_t v) { return std::min<uint64_t>(v, uint64_t{1} << 40); };
    uint64_t s = 1;
    switch (n.op) {
      case Op::kBytes: s = n.count; break;
      case Op::kSeq:
      case Op::kChoice:
        for (uint32_t i = 0; i < n.count; ++i) s = sat(s + size(g_.kids[n.first + i]));
        break;
      case Op::kRepeat: {
        uint64_t copies = n.hi == kInf ? uint64_t{n.lo} + 1 : n.hi;
        s = sat(copies * (size(g_.kids[n.first]) + 1));
        break;
      }
      case Op::kRef: s = inlinable(n.a) ? size(g_.rules[n.a].body) : 1; break;
      case Op::kGraph:
        s = g_.graphs[n.a].n_states;
        for (const GraphEdge& e : g_.graphs[n.a].edges) s = sat(s + size(e.expr));
        break;
      default: break;
    }
    return memo = s;
  }

  int32_t program_rule_for_ir(int32_t ir_rule) {
    auto it = ir_to_program_.find(ir_rule);
    if (it != ir_to_program_.end()) return it->second;
    int32_t id = static_cast<int32_t>(sources_.size());
    sources_.push_back({ir_rule, -1, g_.rules[ir_rule].name});
    ir_to_program_[ir_rule] = id;
    return id;
  }

  int32_t program_rule_for_expr(int32_t expr) {
    auto it = hoisted_.find(expr);
    if (it != hoisted_.end()) return it->second;
    int32_t id = static_cast<int32_t>(sources_.size());
    sources_.push_back({-1, expr, "item" + std::to_string(id)});
    hoisted_[expr] = id;
    return id;
  }

  int32_t symbol(std::string_view text) {
    for (size_t i = 0; i < p_.symbol_text.size(); ++i) {
      if (p_.symbol_text[i] == text) return static_cast<int32_t>(i);
    }
    std::vector<int32_t> ids = vocab_.trie().find(text);
    if (ids.empty()) {
      fail("grammar token '{}' is not a single token of this vocabulary", std::string(text));
    }
    p_.symbol_text.emplace_back(text);
    p_.symbol_tokens.push_back(ids);
    return static_cast<int32_t>(p_.symbol_text.size() - 1);
  }

  int32_t singleton(uint8_t byte) {
    if (singleton_[byte] < 0) {
      ByteSet s;
      s.set(byte);
      singleton_[byte] = static_cast<int32_t>(byte_sets_.size());
      byte_sets_.push_back(s);
    }
    return singleton_[byte];
  }

  // ---- NFA construction ----

  void build(Nfa& nfa, int32_t expr, uint32_t from, uint32_t to, int depth) {
    if (depth > kMaxBuildDepth) fail(ErrorKind::kLimit, "grammar nested too deeply");
    const Node& n = g_.nodes[expr];
    switch (n.op) {
      case Op::kEmpty: nfa.edge(from, to, EdgeKind::kEps, 0); return;
      case Op::kNothing: return;
      case Op::kBytes: {
        std::string_view text = g_.node_text(n);
        uint32_t cur = from;
        for (size_t i = 0; i < text.size(); ++i) {
          uint32_t next = i + 1 == text.size() ? to : nfa.add();
          nfa.edge(cur, next, EdgeKind::kByte, singleton(static_cast<uint8_t>(text[i])));
          cur = next;
        }
        return;
      }
      case Op::kByteSet: nfa.edge(from, to, EdgeKind::kByte, n.a); return;
      case Op::kToken: nfa.edge(from, to, EdgeKind::kSymbol, symbol(g_.node_text(n))); return;
      case Op::kSeq: {
        uint32_t cur = from;
        for (uint32_t i = 0; i < n.count; ++i) {
          uint32_t next = i + 1 == n.count ? to : nfa.add();
          build(nfa, g_.kids[n.first + i], cur, next, depth + 1);
          cur = next;
        }
        return;
      }
      case Op::kChoice:
        for (uint32_t i = 0; i < n.count; ++i) build(nfa, g_.kids[n.first + i], from, to, depth + 1);
        return;
      case Op::kRepeat: {
        int32_t item = g_.kids[n.first];
        uint64_t copies = n.hi == kInf ? uint64_t{n.lo} + 1 : n.hi;
        uint64_t item_size = size(item);
        bool hoist = copies > 1 && item_size >= 32 && item_size * copies > kHoistProduct;
        int32_t hoisted = hoist ? program_rule_for_expr(item) : -1;
        auto emit = [&](uint32_t a, uint32_t b) {
          if (hoist) {
            nfa.edge(a, b, EdgeKind::kCall, hoisted);
          } else {
            build(nfa, item, a, b, depth + 1);
          }
        };
        uint32_t cur = from;
        for (uint32_t i = 0; i < n.lo; ++i) {
          uint32_t next = nfa.add();
          emit(cur, next);
          cur = next;
        }
        if (n.hi == kInf) {
          uint32_t head = nfa.add(), in = nfa.add(), back = nfa.add();
          nfa.edge(cur, head, EdgeKind::kEps, 0);
          nfa.edge(head, in, EdgeKind::kEps, 0);
          emit(in, back);
          nfa.edge(back, head, EdgeKind::kEps, 0);
          nfa.edge(head, to, EdgeKind::kEps, 0);
          return;
        }
        for (uint32_t i = n.lo; i < n.hi; ++i) {
          nfa.edge(cur, to, EdgeKind::kEps, 0);
          uint32_t next = nfa.add();
          emit(cur, next);
          cur = next;
        }
        nfa.edge(cur, to, EdgeKind::kEps, 0);
        return;
      }
      case Op::kRef:
        if (inlinable(n.a)) {
          build(nfa, g_.rules[n.a].body, from, to, depth + 1);
        } else {
          nfa.edge(from, to, EdgeKind::kCall, program_rule_for_ir(n.a));
        }
        return;
      case Op::kGraph: {
        const GraphDef& gd = g_.graphs[n.a];
        uint32_t base = nfa.n_states;
        for (uint32_t i = 0; i < gd.n_states; ++i) nfa.add();
        nfa.edge(from, base + gd.start, EdgeKind::kEps, 0);
        for (uint32_t a : gd.accept) nfa.edge(base + a, to, EdgeKind::kEps, 0);
        for (const GraphEdge& e : gd.edges) build(nfa, e.expr, base + e.from, base + e.to, depth + 1);
        return;
      }
      case Op::kString:
        R1_CHECK(false, "a JSON string body is only valid as a whole rule");
    }
  }

  Nfa build_nfa(size_t r) {
    const RuleSource& src = sources_[r];
    Nfa nfa;
    nfa.start = nfa.add();
    nfa.accept = nfa.add();
    int32_t body = src.ir_rule >= 0 ? g_.rules[src.ir_rule].body : src.expr;
    const Node& n = g_.nodes[body];
    RuleInfo info;
    info.name = src.name;
    if (n.op == Op::kString) {
      // chars* then the closing quote, with a marked state between characters for counting.
      uint32_t between = nfa.add();
      nfa.boundary = between;
      nfa.edge(nfa.start, between, EdgeKind::kEps, 0);
      build(nfa, static_cast<int32_t>(n.first), between, between, 0);
      nfa.edge(between, nfa.accept, EdgeKind::kByte, singleton('"'));
      info.counted = n.lo > 0 || n.hi != kInf;
      info.count_min = n.lo;
      info.count_max = n.hi;
    } else {
      build(nfa, body, nfa.start, nfa.accept, 0);
    }
    p_.rules.push_back(info);
    return nfa;
  }

  // ---- subset construction ----

  Dfa determinize(const Nfa& nfa) {
    // Adjacency (CSR) per edge kind.
    std::vector<uint32_t> offsets(nfa.n_states + 1, 0);
    for (const NfaEdge& e : nfa.edges) ++offsets[e.from + 1];
    for (uint32_t i = 0; i < nfa.n_states; ++i) offsets[i + 1] += offsets[i];
    std::vector<NfaEdge> sorted(nfa.edges.size());
    {
      std::vector<uint32_t> fill(offsets.begin(), offsets.end() - 1);
      for (const NfaEdge& e : nfa.edges) sorted[fill[e.from]++] = e;
    }
    Dfa d;
    // Byte classes: bytes no byte set of this rule tells apart share a class.
    std::vector<int32_t> used;
    for (const NfaEdge& e : nfa.edges) {
      if (e.kind == EdgeKind::kByte) used.push_back(e.label);
    }
    std::sort(used.begin(), used.end());
    used.erase(std::unique(used.begin(), used.end()), used.end());
    std::vector<int> cls(256, 0);
    int n_classes = 1;
    for (int32_t set : used) {
      std::map<std::pair<int, bool>, int> remap;
      for (int b = 0; b < 256; ++b) {
        auto key = std::make_pair(cls[b], static_cast<bool>(byte_sets_[set].test(b)));
        auto [it, inserted] = remap.emplace(key, static_cast<int>(remap.size()));
        cls[b] = it->second;
      }
      n_classes = static_cast<int>(remap.size());
    }
    d.n_classes = n_classes;
    std::vector<int> representative(n_classes, -1);
    for (int b = 0; b < 256; ++b) {
      d.class_map[b] = static_cast<uint8_t>(cls[b]);
      if (representative[cls[b]] < 0) representative[cls[b]] = b;
    }
    std::unordered_map<int32_t, std::vector<int>> set_classes;
    for (int32_t set : used) {
      for (int c = 0; c < n_classes; ++c) {
        if (byte_sets_[set].test(representative[c])) set_classes[set].push_back(c);
      }
    }

    std::vector<uint8_t> important(nfa.n_states, 0);
    for (const NfaEdge& e : nfa.edges) important[e.from] |= e.kind != EdgeKind::kEps;
    important[nfa.accept] = 1;
    if (nfa.boundary >= 0) important[nfa.boundary] = 1;
    std::vector<uint32_t> mark(nfa.n_states, 0);
    uint32_t epoch = 0;
    auto closure = [&](std::vector<uint32_t>& set) {
      ++epoch;
      std::vector<uint32_t> stack;
      for (uint32_t s : set) {
        if (mark[s] != epoch) {
          mark[s] = epoch;
          stack.push_back(s);
        }
      }
      set.clear();
      while (!stack.empty()) {
        uint32_t s = stack.back();
        stack.pop_back();
        // States with only empty moves don't change what can follow: leaving them out of the
        // subset merges DFA states that differ only by them (e.g. a rule's start and a loop head).
        if (important[s]) set.push_back(s);
        for (uint32_t i = offsets[s]; i < offsets[s + 1]; ++i) {
          const NfaEdge& e = sorted[i];
          if (e.kind == EdgeKind::kEps && mark[e.to] != epoch) {
            mark[e.to] = epoch;
            stack.push_back(e.to);
          }
        }
      }
      std::sort(set.begin(), set.end());
    };
    std::unordered_map<std::string, int32_t> ids;
    std::vector<std::vector<uint32_t>> subsets;
    auto intern = [&](std::vector<uint32_t>& set) -> int32_t {
      closure(set);
      std::string key(reinterpret_cast<const char*>(set.data()), set.size() * sizeof(uint32_t));
      auto [it, inserted] = ids.emplace(std::move(key), static_cast<int32_t>(subsets.size()));
      if (inserted) {
        if (subsets.size() >= kMaxDfaStates) {
          fail(ErrorKind::kLimit, "grammar too large (rule '{}' needs more than {} states)",
               p_.rules.back().name, kMaxDfaStates);
        }
        subsets.push_back(set);
      }
      return it->second;
    };
    std::vector<uint32_t> start{nfa.start};
    intern(start);
    std::vector<std::vector<uint32_t>> by_class(n_classes);
    for (size_t cur = 0; cur < subsets.size(); ++cur) {
      std::vector<uint32_t> set = subsets[cur];
      for (auto& v : by_class) v.clear();
      std::map<int32_t, std::vector<uint32_t>> calls, symbols;
      bool accepting = false, boundary = false;
      for (uint32_t s : set) {
        accepting |= s == nfa.accept;
        boundary |= static_cast<int64_t>(s) == nfa.boundary;
        for (uint32_t i = offsets[s]; i < offsets[s + 1]; ++i) {
          const NfaEdge& e = sorted[i];
          if (e.kind == EdgeKind::kByte) {
            for (int c : set_classes[e.label]) by_class[c].push_back(e.to);
          } else if (e.kind == EdgeKind::kCall) {
            calls[e.label].push_back(e.to);
          } else if (e.kind == EdgeKind::kSymbol) {
            symbols[e.label].push_back(e.to);
          }
        }
      }
      d.accepting.push_back(accepting);
      d.boundary.push_back(boundary);
      for (int c = 0; c < n_classes; ++c) {
        d.trans.push_back(by_class[c].empty() ? -1 : intern(by_class[c]));
      }
      d.calls.emplace_back();
      for (auto& [rule, rets] : calls) d.calls.back().push_back({rule, intern(rets)});
      d.symbols.emplace_back();
      for (auto& [sym, tos] : symbols) d.symbols.back().push_back({sym, intern(tos)});
    }
    d.n_states = static_cast<int>(subsets.size());
    return d;
  }

  // ---- trimming, layout, analyses ----

  void layout();

  const GrammarData& g_;
  const Vocabulary& vocab_;
  Program& p_;
  std::vector<ByteSet> byte_sets_;
  int32_t singleton_[256] = {
#define R1_M1 -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
      R1_M1, R1_M1, R1_M1, R1_M1, R1_M1, R1_M1, R1_M1, R1_M1,
      R1_M1, R1_M1, R1_M1, R1_M1, R1_M1, R1_M1, R1_M1, R1_M1
#undef R1_M1
  };
  std::vector<uint8_t> recursive_;
  std::vector<uint32_t> ref_count_;
  std::vector<uint64_t> size_memo_;
  std::vector<RuleSource> sources_;
  std::map<int32_t, int32_t> ir_to_program_, hoisted_;
  std::vector<Dfa> dfas_;
};

void Compiler::layout() {
  size_t n_rules = dfas_.size();
  // Productive rules: the end is reachable from the start using calls to productive rules only.
  std::vector<uint8_t> productive(n_rules, 0);
  auto usable_edges = [&](const Dfa& d, int s, auto&& visit) {
    for (int c = 0; c < d.n_classes; ++c) {
      int32_t t = d.trans[s * d.n_classes + c];
      if (t >= 0) visit(t);
    }
    for (const SymbolEdge& e : d.symbols[s]) visit(e.next);
    for (const CallEdge& e : d.calls[s]) {
      if (productive[e.rule]) visit(e.ret);
    }
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n_rules; ++r) {
      if (productive[r]) continue;
      const Dfa& d = dfas_[r];
      std::vector<uint8_t> seen(d.n_states, 0);
      std::vector<int> stack{0};
      seen[0] = 1;
      while (!stack.empty() && !productive[r]) {
        int s = stack.back();
        stack.pop_back();
        if (d.accepting[s]) productive[r] = 1;
        usable_edges(d, s, [&](int t) {
          if (!seen[t]) {
            seen[t] = 1;
            stack.push_back(t);
          }
        });
      }
      changed |= productive[r] != 0;
    }
  }
  if (!productive[0]) {
    fail("the grammar matches nothing (the schema allows no value)");
  }
  // Keep, per rule, the states reachable from the start that can still reach the end; keep the
  // rules reachable from the root.
  std::vector<std::vector<int32_t>> keep(n_rules);
  std::vector<uint8_t> rule_used(n_rules, 0);
  std::vector<int> rule_queue{0};
  rule_used[0] = 1;
  for (size_t qi = 0; qi < rule_queue.size(); ++qi) {
    int r = rule_queue[qi];
    const Dfa& d = dfas_[r];
    std::vector<std::vector<int>> rev(d.n_states);
    for (int s = 0; s < d.n_states; ++s) usable_edges(d, s, [&](int t) { rev[t].push_back(s); });
    std::vector<uint8_t> live(d.n_states, 0), reach(d.n_states, 0);
    std::vector<int> stack;
    for (int s = 0; s < d.n_states; ++s) {
      if (d.accepting[s]) live[s] = 1, stack.push_back(s);
    }
    while (!stack.empty()) {
      int s = stack.back();
      stack.pop_back();
      for (int t : rev[s]) {
        if (!live[t]) live[t] = 1, stack.push_back(t);
      }
    }
    stack = {0};
    reach[0] = 1;
    while (!stack.empty()) {
      int s = stack.back();
      stack.pop_back();
      usable_edges(d, s, [&](int t) {
        if (live[t] && !reach[t]) reach[t] = 1, stack.push_back(t);
      });
    }
    keep[r].assign(d.n_states, -1);
    int32_t n_kept = 0;
    for (int s = 0; s < d.n_states; ++s) {
      if (reach[s] && live[s]) keep[r][s] = n_kept++;
    }
    for (int s = 0; s < d.n_states; ++s) {
      if (keep[r][s] < 0) continue;
      for (const CallEdge& e : d.calls[s]) {
        if (productive[e.rule] && keep[r][e.ret] >= 0 && !rule_used[e.rule]) {
          rule_used[e.rule] = 1;
          rule_queue.push_back(e.rule);
        }
      }
    }
  }
  // Program rule numbers: used rules in discovery order (the root first).
  std::vector<int32_t> new_rule(n_rules, -1);
  for (size_t i = 0; i < rule_queue.size(); ++i) new_rule[rule_queue[i]] = static_cast<int32_t>(i);
  std::vector<RuleInfo> rules;
  std::vector<int32_t> first(n_rules, 0);
  int32_t total = 0;
  for (int r : rule_queue) {
    first[r] = total;
    int32_t kept = 0;
    for (int32_t k : keep[r]) kept += k >= 0;
    RuleInfo info = p_.rules[r];
    info.first_state = total;
    info.n_states = kept;
    info.class_map = static_cast<uint32_t>(p_.class_maps.size());
    info.n_classes = dfas_[r].n_classes;
    p_.class_maps.insert(p_.class_maps.end(), dfas_[r].class_map.begin(), dfas_[r].class_map.end());
    rules.push_back(info);
    total += kept;
  }
  if (static_cast<size_t>(total) > kMaxDfaStates) {
    fail(ErrorKind::kLimit, "grammar too large ({} automaton states, the limit is {})", total,
         kMaxDfaStates);
  }
  p_.rules = std::move(rules);
  p_.root_rule = 0;
  p_.states.assign(total, StateInfo{});
  for (int r : rule_queue) {
    const Dfa& d = dfas_[r];
    auto global = [&](int s) { return first[r] + keep[r][s]; };
    for (int s = 0; s < d.n_states; ++s) {
      if (keep[r][s] < 0) continue;
      StateInfo& st = p_.states[global(s)];
      st.rule = new_rule[r];
      st.row = static_cast<uint32_t>(p_.trans.size());
      bool has_bytes = false;
      for (int c = 0; c < d.n_classes; ++c) {
        int32_t t = d.trans[s * d.n_classes + c];
        int32_t g = t >= 0 && keep[r][t] >= 0 ? global(t) : -1;
        has_bytes |= g >= 0;
        p_.trans.push_back(g);
      }
      st.calls_begin = static_cast<uint32_t>(p_.calls.size());
      for (const CallEdge& e : d.calls[s]) {
        if (productive[e.rule] && keep[r][e.ret] >= 0) {
          p_.calls.push_back({new_rule[e.rule], global(e.ret)});
        }
      }
      st.calls_end = static_cast<uint32_t>(p_.calls.size());
      st.symbols_begin = static_cast<uint32_t>(p_.symbol_edges.size());
      for (const SymbolEdge& e : d.symbols[s]) {
        if (keep[r][e.next] >= 0) p_.symbol_edges.push_back({e.symbol, global(e.next)});
      }
      st.symbols_end = static_cast<uint32_t>(p_.symbol_edges.size());
      st.flags = (d.accepting[s] ? kAccepting : 0) | (d.boundary[s] ? kBoundary : 0) |
                 (has_bytes ? kHasBytes : 0);
      if (has_bytes && !d.accepting[s] && st.calls_begin == st.calls_end &&
          st.symbols_begin == st.symbols_end) {
        st.flags |= kSimple;
      }
    }
  }
  dfas_.clear();
}

// Nullable rules, left recursion, follow sets, shortest completions.
void analyze(Program& p) {
  size_t n_rules = p.rules.size();
  auto start = [&](int32_t r) { return p.rules[r].first_state; };
  // States reachable from a rule's start without consuming anything (through nullable calls).
  auto zero_reach = [&](int32_t r) {
    std::vector<int32_t> out{start(r)}, stack{start(r)};
    std::vector<uint8_t> seen(p.rules[r].n_states, 0);
    seen[0] = 1;
    while (!stack.empty()) {
      int32_t s = stack.back();
      stack.pop_back();
      for (uint32_t i = p.states[s].calls_begin; i < p.states[s].calls_end; ++i) {
        const CallEdge& e = p.calls[i];
        if (p.rules[e.rule].nullable && !seen[e.ret - start(r)]) {
          seen[e.ret - start(r)] = 1;
          out.push_back(e.ret);
          stack.push_back(e.ret);
        }
      }
    }
    return out;
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n_rules; ++r) {
      if (p.rules[r].nullable) continue;
      for (int32_t s : zero_reach(static_cast<int32_t>(r))) {
        if (p.states[s].flags & kAccepting) {
          p.rules[r].nullable = true;
          changed = true;
          break;
        }
      }
    }
  }
  // Left recursion: a rule that can call itself before consuming anything never terminates.
  std::vector<std::vector<int32_t>> left(n_rules);
  for (size_t r = 0; r < n_rules; ++r) {
    for (int32_t s : zero_reach(static_cast<int32_t>(r))) {
      for (uint32_t i = p.states[s].calls_begin; i < p.states[s].calls_end; ++i) {
        left[r].push_back(p.calls[i].rule);
      }
    }
  }
  std::vector<uint8_t> color(n_rules, 0);
  for (size_t root = 0; root < n_rules; ++root) {
    if (color[root]) continue;
    std::vector<std::pair<int32_t, size_t>> work{{static_cast<int32_t>(root), 0}};
    color[root] = 1;
    while (!work.empty()) {
      auto& [r, i] = work.back();
      if (i < left[r].size()) {
        int32_t t = left[r][i++];
        if (color[t] == 1) {
          fail("grammar rule '{}' can reach itself without consuming input (left recursion)",
               p.rules[t].name);
        }
        if (color[t] == 0) {
          color[t] = 1;
          work.push_back({t, 0});
        }
        continue;
      }
      color[r] = 2;
      work.pop_back();
    }
  }
  for (const CallEdge& e : p.calls) p.rules[e.rule].has_callers = true;
  // Follow sets by fixpoint over first sets.
  size_t n = p.states.size();
  std::vector<ByteSet> first(n);
  for (size_t s = 0; s < n; ++s) {
    for (int b = 0; b < 256; ++b) {
      if (p.next(static_cast<int32_t>(s), static_cast<uint8_t>(b)) >= 0) first[s].set(b);
    }
  }
  std::vector<ByteSet> base = first;
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t s = 0; s < n; ++s) {
      ByteSet f = base[s];
      const StateInfo& st = p.states[s];
      for (uint32_t i = st.calls_begin; i < st.calls_end; ++i) {
        const CallEdge& e = p.calls[i];
        f |= first[start(e.rule)];
        if (p.rules[e.rule].nullable) f |= first[e.ret];
        ByteSet fo = p.rules[e.rule].follow | first[e.ret];
        if (fo != p.rules[e.rule].follow) {
          p.rules[e.rule].follow = fo;
          changed = true;
        }
      }
      if (st.flags & kAccepting) f |= p.rules[st.rule].follow;
      if (f != first[s]) {
        first[s] = f;
        changed = true;
      }
    }
  }
  // Shortest completion per state by relaxation (calls cost their callee's shortest match).
  constexpr int32_t kFar = INT32_MAX / 4;
  p.min_to_end.assign(n, kFar);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t k = n; k-- > 0;) {
      const StateInfo& st = p.states[k];
      int32_t best = st.flags & kAccepting ? 0 : kFar;
      if (st.flags & kHasBytes) {
        for (int c = 0; c < p.rules[st.rule].n_classes; ++c) {
          int32_t t = p.trans[st.row + c];
          if (t >= 0) best = std::min(best, 1 + p.min_to_end[t]);
        }
      }
      for (uint32_t i = st.symbols_begin; i < st.symbols_end; ++i) {
        const SymbolEdge& e = p.symbol_edges[i];
        best = std::min<int32_t>(best, static_cast<int32_t>(p.symbol_text[e.symbol].size()) +
                                           p.min_to_end[e.next]);
      }
      for (uint32_t i = st.calls_begin; i < st.calls_end; ++i) {
        const CallEdge& e = p.calls[i];
        best = std::min(best, p.min_to_end[start(e.rule)] + p.min_to_end[e.ret]);
      }
      best = std::min(best, kFar);
      if (best < p.min_to_end[k]) {
        p.min_to_end[k] = best;
        changed = true;
      }
    }
  }
  for (RuleInfo& r : p.rules) r.min_length = p.min_to_end[r.first_state];
}

}  // namespace

int32_t Program::symbol_of(int32_t token) const {
  auto it = std::lower_bound(token_symbols.begin(), token_symbols.end(),
                             std::make_pair(token, INT32_MIN));
  return it != token_symbols.end() && it->first == token ? it->second : -1;
}

Program::Program(const GrammarData& grammar, const Vocabulary& vocab) {
  Compiler compiler(grammar, vocab, *this);
  compiler.run();
  analyze(*this);
  for (size_t s = 0; s < symbol_tokens.size(); ++s) {
    for (int32_t id : symbol_tokens[s]) token_symbols.push_back({id, static_cast<int32_t>(s)});
  }
  std::sort(token_symbols.begin(), token_symbols.end());
}

}  // namespace r1::grammar::detail
