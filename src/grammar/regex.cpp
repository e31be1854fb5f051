// ECMA-262 regex subset → grammar expression: literals, classes, escapes (\d \w \s and their
// negations, \t \n \xHH \uHHHH ...), quantifiers ? * + {m,n} (lazy forms match the same strings),
// groups (capturing, non-capturing, named), alternation, and ^ / $ at the ends of top-level
// alternatives. Backreferences, lookaround, word boundaries and property escapes are errors naming
// the construct. The pattern becomes a character-level automaton whose edges are character
// classes, each encoded as bytes (raw UTF-8, or JSON-string encodings inside a JSON string).
#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "grammar/ir.h"

namespace r1::grammar::detail {

namespace {

constexpr size_t kMaxRegexStates = 100'000;
constexpr uint32_t kMaxRepeat = 10'000;

enum class RKind { kEmpty, kClass, kSeq, kAlt, kRepeat };

struct RNode {
  RKind kind = RKind::kEmpty;
  CharSet chars;
  std::vector<int> kids;
  uint32_t lo = 0, hi = 0;
};

CharSet digit_chars() { return CharSet::range('0', '9'); }
CharSet word_chars() {
  CharSet s = CharSet::range('a', 'z');
  s.add('A', 'Z');
  s.add('0', '9');
  s.add('_', '_');
  return s;
}
CharSet space_chars() {
  CharSet s;
  for (uint32_t c : {0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x20u, 0xA0u, 0x1680u, 0x2028u, 0x2029u,
                     0x202Fu, 0x205Fu, 0x3000u, 0xFEFFu}) {
    s.add(c, c);
  }
  s.add(0x2000, 0x200A);
  return s;
}
CharSet dot_chars() {
  CharSet line_ends;
  for (uint32_t c : {0x0Au, 0x0Du, 0x2028u, 0x2029u}) line_ends.add(c, c);
  return line_ends.complement();
}

// One top-level alternative with its anchors.
struct TopAlt {
  int node;
  bool anchored_start, anchored_end;
};

class RegexParser {
 public:
  explicit RegexParser(std::string_view pattern) : source_(pattern) {
    if (!decode_utf8(pattern, text_)) fail("regex pattern '{}' is not valid UTF-8", source_);
  }

  std::vector<TopAlt> parse() {
    std::vector<TopAlt> alts;
    while (true) {
      TopAlt alt{};
      alt.anchored_start = eat('^');
      alt.node = parse_seq(0, &alt.anchored_end);
      alts.push_back(alt);
      if (at_end()) break;
      if (eat('|')) continue;
      error(fmt::format("unmatched ')' at offset {}", pos_));
    }
    return alts;
  }

  std::vector<RNode> nodes;

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(ErrorKind::kUnsupported, "regex pattern '{}': {}", source_, what);
  }
  bool at_end() const { return pos_ >= text_.size(); }
  uint32_t peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : 0xFFFFFFFF;
  }
  bool eat(uint32_t c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  int add(RNode n) {
    nodes.push_back(std::move(n));
    return static_cast<int>(nodes.size() - 1);
  }
  int add_class(CharSet s) {
    RNode n;
    n.kind = RKind::kClass;
    n.chars = std::move(s);
    return add(std::move(n));
  }

  int parse_alt(int depth) {
    std::vector<int> alts{parse_seq(depth, nullptr)};
    while (eat('|')) alts.push_back(parse_seq(depth, nullptr));
    if (alts.size() == 1) return alts[0];
    RNode n;
    n.kind = RKind::kAlt;
    n.kids = std::move(alts);
    return add(std::move(n));
  }

  // `anchored_end` is non-null only for top-level alternatives, where a final $ is allowed.
  int parse_seq(int depth, bool* anchored_end) {
    std::vector<int> items;
    while (!at_end() && peek() != '|' && peek() != ')') {
      if (peek() == '$') {
        ++pos_;
        if (anchored_end && (at_end() || peek() == '|')) {
          *anchored_end = true;
          break;
        }
        error("'$' is only supported at the end of the pattern");
      }
      if (peek() == '^') error("'^' is only supported at the start of the pattern");
      items.push_back(parse_term(depth));
    }
    if (items.size() == 1) return items[0];
    RNode n;
    n.kind = items.empty() ? RKind::kEmpty : RKind::kSeq;
    n.kids = std::move(items);
    return add(std::move(n));
  }

  bool parse_number(uint32_t& value) {
    size_t start = pos_;
    value = 0;
    while (peek() >= '0' && peek() <= '9') {
      value = std::min<uint32_t>(value * 10 + (peek() - '0'), kMaxRepeat + 1);
      ++pos_;
    }
    return pos_ > start;
  }

  // A {m,n} quantifier at pos_ (just after '{'); restores pos_ and returns false when the brace
  // does not start one (then it is a literal, as in ECMA-262 Annex B).
  bool parse_braces(uint32_t& lo, uint32_t& hi) {
    size_t save = pos_;
    if (!parse_number(lo)) {
      pos_ = save;
      return false;
    }
    hi = lo;
    if (eat(',')) {
      if (!parse_number(hi)) hi = kInf;
    }
    if (!eat('}')) {
      pos_ = save;
      return false;
    }
    if ((lo > kMaxRepeat) || (hi != kInf && hi > kMaxRepeat)) {
      error(fmt::format("repetition count above {}", kMaxRepeat));
    }
    if (hi != kInf && lo > hi) error(fmt::format("repetition {{{},{}}} out of order", lo, hi));
    return true;
  }

  int parse_term(int depth) {
    int atom = parse_atom(depth);
    while (true) {
      uint32_t lo, hi;
      if (eat('*')) {
        lo = 0, hi = kInf;
      } else if (eat('+')) {
        lo = 1, hi = kInf;
      } else if (eat('?')) {
        lo = 0, hi = 1;
      } else if (peek() == '{') {
        ++pos_;
        if (!parse_braces(lo, hi)) {
          --pos_;
          return atom;
        }
      } else {
        return atom;
      }
      eat('?');  // lazy: same language
      if (peek() == '*' || peek() == '+' || peek() == '?') error("nothing to repeat");
      RNode n;
      n.kind = RKind::kRepeat;
      n.kids = {atom};
      n.lo = lo;
      n.hi = hi;
      atom = add(std::move(n));
    }
  }

  int parse_atom(int depth) {
    if (depth > kMaxNesting) error("groups nested too deeply");
    uint32_t c = peek();
    if (c == '(') {
      ++pos_;
      if (eat('?')) {
        if (eat(':')) {
        } else if (peek() == '=' || peek() == '!') {
          error("lookahead assertions are not supported");
        } else if (peek() == '<' && (peek(1) == '=' || peek(1) == '!')) {
          error("lookbehind assertions are not supported");
        } else if (eat('<')) {
          while (!at_end() && peek() != '>') ++pos_;
          if (!eat('>')) error("unterminated group name");
        } else {
          error("unsupported group syntax '(?'");
        }
      }
      int inner = parse_alt(depth + 1);
      if (!eat(')')) error("missing ')'");
      return inner;
    }
    if (c == '[') {
      ++pos_;
      return add_class(parse_class());
    }
    if (c == '.') {
      ++pos_;
      return add_class(dot_chars());
    }
    if (c == '*' || c == '+' || c == '?') error("nothing to repeat");
    if (c == '\\') {
      ++pos_;
      CharSet s;
      if (!parse_escape(false, s)) error("unsupported escape");
      return add_class(std::move(s));
    }
    ++pos_;
    return add_class(CharSet::single(c));
  }

  uint32_t parse_hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      uint32_t d = peek();
      int x = d >= '0' && d <= '9' ? d - '0' : d >= 'a' && d <= 'f' ? d - 'a' + 10
              : d >= 'A' && d <= 'F' ? d - 'A' + 10 : -1;
      if (x < 0) error("malformed hex escape");
      v = v * 16 + x;
      ++pos_;
    }
    return v;
  }

  // After a backslash. Fills `out`; in a class, \b is a backspace and \B, \k... are errors.
  bool parse_escape(bool in_class, CharSet& out) {
    if (at_end()) error("pattern ends with a backslash");
    uint32_t c = peek();
    ++pos_;
    switch (c) {
      case 'd': out = digit_chars(); return true;
      case 'D': out = digit_chars().complement(); return true;
      case 'w': out = word_chars(); return true;
      case 'W': out = word_chars().complement(); return true;
      case 's': out = space_chars(); return true;
      case 'S': out = space_chars().complement(); return true;
      case 't': out = CharSet::single('\t'); return true;
      case 'n': out = CharSet::single('\n'); return true;
      case 'r': out = CharSet::single('\r'); return true;
      case 'v': out = CharSet::single('\v'); return true;
      case 'f': out = CharSet::single('\f'); return true;
      case 'b':
        if (in_class) {
          out = CharSet::single('\b');
          return true;
        }
        error("word boundary assertions (\\b) are not supported");
      case 'B': error("word boundary assertions (\\B) are not supported");
      case 'p':
      case 'P': error("unicode property escapes (\\p, \\P) are not supported");
      case 'k': error("backreferences (\\k) are not supported");
      case '0':
        if (peek() >= '0' && peek() <= '9') error("octal escapes are not supported");
        out = CharSet::single(0);
        return true;
      case 'x': out = CharSet::single(parse_hex(2)); return true;
      case 'u': {
        uint32_t v;
        if (eat('{')) {
          v = 0;
          int n = 0;
          while (!at_end() && peek() != '}') {
            v = v * 16 + parse_hex(1);
            if (++n > 6 || v > kMaxCodePoint) error("\\u{...} escape out of range");
          }
          if (!eat('}') || n == 0) error("malformed \\u{...} escape");
        } else {
          v = parse_hex(4);
          // A surrogate pair written as two escapes is one character.
          if (v >= 0xD800 && v <= 0xDBFF && peek() == '\\' && peek(1) == 'u') {
            size_t save = pos_;
            pos_ += 2;
            uint32_t low = parse_hex(4);
            if (low >= 0xDC00 && low <= 0xDFFF) {
              v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00);
            } else {
              pos_ = save;
            }
          }
        }
        if (v >= 0xD800 && v <= 0xDFFF) error("lone surrogate escape");
        out = CharSet::single(v);
        return true;
      }
      case 'c': {
        uint32_t l = peek();
        if (!((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z'))) error("malformed \\c escape");
        ++pos_;
        out = CharSet::single(l % 32);
        return true;
      }
      default: break;
    }
    if (c >= '1' && c <= '9') error("backreferences are not supported");
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      std::string letter;
      append_utf8(letter, c);
      error("unsupported escape \\" + letter);
    }
    out = CharSet::single(c);  // identity escape: \. \/ \- \\ ...
    return true;
  }

  CharSet parse_class() {
    bool negate = eat('^');
    CharSet s;
    bool first = true;
    while (true) {
      if (at_end()) error("missing ']'");
      if (peek() == ']') {
        ++pos_;
        break;
      }
      first = false;
      CharSet lo_set;
      bool lo_single = class_atom(lo_set);
      if (peek() == '-' && peek(1) != ']' && peek(1) != 0xFFFFFFFF) {
        ++pos_;
        CharSet hi_set;
        bool hi_single = class_atom(hi_set);
        if (!lo_single || !hi_single) error("character class escape used as a range bound");
        uint32_t a = lo_set.ranges()[0].first, b = hi_set.ranges()[0].first;
        if (a > b) error("character class range out of order");
        s.add(a, b);
      } else {
        s.add(lo_set);
      }
    }
    (void)first;
    return negate ? s.complement() : s;
  }

  // One class member; true if it is a single character (usable as a range bound).
  bool class_atom(CharSet& out) {
    uint32_t c = peek();
    ++pos_;
    if (c == '\\') {
      parse_escape(true, out);
      return out.ranges().size() == 1 && out.ranges()[0].first == out.ranges()[0].second;
    }
    out = CharSet::single(c);
    return true;
  }

  std::string_view source_;
  std::vector<uint32_t> text_;
  size_t pos_ = 0;
};

// Character-level automaton: edges carry a class index, or -1 for an empty move.
struct CharNfa {
  struct Edge {
    uint32_t to;
    int32_t cls;
  };
  std::vector<std::vector<Edge>> out;
  std::vector<CharSet> classes;

  uint32_t state() {
    if (out.size() >= kMaxRegexStates) {
      fail(ErrorKind::kLimit, "regex pattern too complex (more than {} states)", kMaxRegexStates);
    }
    out.emplace_back();
    return static_cast<uint32_t>(out.size() - 1);
  }
  void eps(uint32_t a, uint32_t b) { out[a].push_back({b, -1}); }
  void edge(uint32_t a, uint32_t b, const CharSet& s) {
    if (s.empty()) return;
    auto it = std::find(classes.begin(), classes.end(), s);
    int32_t index = static_cast<int32_t>(it - classes.begin());
    if (it == classes.end()) classes.push_back(s);
    out[a].push_back({b, index});
  }

  void build(const std::vector<RNode>& nodes, int id, uint32_t from, uint32_t to) {
    const RNode& n = nodes[id];
    switch (n.kind) {
      case RKind::kEmpty: eps(from, to); return;
      case RKind::kClass: edge(from, to, n.chars); return;
      case RKind::kSeq: {
        uint32_t cur = from;
        for (size_t i = 0; i < n.kids.size(); ++i) {
          uint32_t next = i + 1 == n.kids.size() ? to : state();
          build(nodes, n.kids[i], cur, next);
          cur = next;
        }
        return;
      }
      case RKind::kAlt:
        for (int kid : n.kids) {
          uint32_t a = state(), b = state();
          eps(from, a);
          build(nodes, kid, a, b);
          eps(b, to);
        }
        return;
      case RKind::kRepeat: {
        uint32_t cur = from;
        for (uint32_t i = 0; i < n.lo; ++i) {
          uint32_t next = state();
          build(nodes, n.kids[0], cur, next);
          cur = next;
        }
        if (n.hi == kInf) {
          uint32_t head = state(), in = state(), back = state();
          eps(cur, head);
          eps(head, in);
          build(nodes, n.kids[0], in, back);
          eps(back, head);
          eps(head, to);
          return;
        }
        for (uint32_t i = n.lo; i < n.hi; ++i) {
          eps(cur, to);
          uint32_t in = state(), next = state();
          eps(cur, in);
          build(nodes, n.kids[0], in, next);
          cur = next;
        }
        eps(cur, to);
        return;
      }
    }
  }
};

}  // namespace

int32_t build_regex(IrBuilder& b, std::string_view pattern, RegexMode mode, uint32_t min_chars,
                    uint32_t max_chars) {
  RegexParser parser(pattern);
  std::vector<TopAlt> alts = parser.parse();
  CharNfa nfa;
  uint32_t start = nfa.state(), accept = nfa.state();
  bool search = mode == RegexMode::kJsonString;
  uint32_t prefix = 0, suffix = 0;
  if (search) {
    prefix = nfa.state();
    suffix = nfa.state();
    nfa.eps(start, prefix);
    nfa.edge(prefix, prefix, CharSet::all());
    nfa.edge(suffix, suffix, CharSet::all());
    nfa.eps(suffix, accept);
  }
  for (const TopAlt& alt : alts) {
    uint32_t in = nfa.state(), out = nfa.state();
    nfa.eps(search && !alt.anchored_start ? prefix : start, in);
    nfa.build(parser.nodes, alt.node, in, out);
    nfa.eps(out, search && !alt.anchored_end ? suffix : accept);
  }

  // Bound the number of characters by pairing each state with a count (saturating at min when
  // there is no max), then drop pairs that are unreachable or cannot reach the end.
  bool counted = min_chars > 0 || max_chars != kInf;
  uint32_t cap = !counted ? 0 : max_chars != kInf ? max_chars : min_chars;
  size_t n_states = nfa.out.size();
  if (static_cast<uint64_t>(n_states) * (cap + 1) > kMaxRegexStates) {
    fail(ErrorKind::kLimit,
         "pattern '{}' with minLength/maxLength {}..{} is too complex to compile", pattern,
         min_chars, max_chars == kInf ? std::string("∞") : std::to_string(max_chars));
  }
  size_t total = n_states * (cap + 1);
  auto id = [&](uint32_t q, uint32_t c) { return static_cast<uint32_t>(c * n_states + q); };
  auto next_count = [&](uint32_t c) -> int64_t {
    if (!counted) return 0;
    if (max_chars == kInf) return std::min(c + 1, cap);
    return c + 1 <= cap ? int64_t{c + 1} : -1;
  };
  std::vector<std::vector<std::pair<uint32_t, int32_t>>> fwd(total), rev(total);
  for (uint32_t c = 0; c <= cap; ++c) {
    for (uint32_t q = 0; q < n_states; ++q) {
      for (const CharNfa::Edge& e : nfa.out[q]) {
        int64_t c2 = e.cls < 0 ? c : next_count(c);
        if (c2 < 0) continue;
        uint32_t a = id(q, c), z = id(e.to, static_cast<uint32_t>(c2));
        fwd[a].push_back({z, e.cls});
        rev[z].push_back({a, e.cls});
      }
    }
  }
  auto sweep = [&](std::vector<uint32_t> seeds, const auto& graph) {
    std::vector<uint8_t> seen(total, 0);
    for (uint32_t s : seeds) seen[s] = 1;
    while (!seeds.empty()) {
      uint32_t s = seeds.back();
      seeds.pop_back();
      for (auto [t, cls] : graph[s]) {
        if (!seen[t]) {
          seen[t] = 1;
          seeds.push_back(t);
        }
      }
    }
    return seen;
  };
  std::vector<uint32_t> finals;
  for (uint32_t c = counted ? min_chars : 0; c <= cap; ++c) finals.push_back(id(accept, c));
  std::vector<uint8_t> reach = sweep({id(start, 0)}, fwd), live = sweep(finals, rev);
  if (!reach[id(start, 0)] || !live[id(start, 0)]) return b.nothing();

  std::vector<int32_t> class_expr(nfa.classes.size());
  for (size_t i = 0; i < nfa.classes.size(); ++i) {
    class_expr[i] = search ? b.json_char(nfa.classes[i]) : b.utf8_char(nfa.classes[i]);
  }
  std::vector<int32_t> renumber(total, -1);
  GraphDef g;
  for (size_t s = 0; s < total; ++s) {
    if (reach[s] && live[s]) renumber[s] = static_cast<int32_t>(g.n_states++);
  }
  int32_t eps_expr = b.empty();
  for (size_t s = 0; s < total; ++s) {
    if (renumber[s] < 0) continue;
    for (auto [t, cls] : fwd[s]) {
      if (renumber[t] < 0) continue;
      g.edges.push_back({static_cast<uint32_t>(renumber[s]), static_cast<uint32_t>(renumber[t]),
                         cls < 0 ? eps_expr : class_expr[cls]});
    }
  }
  g.start = static_cast<uint32_t>(renumber[id(start, 0)]);
  for (uint32_t f : finals) {
    if (renumber[f] >= 0) g.accept.push_back(static_cast<uint32_t>(renumber[f]));
  }
  return b.graph(std::move(g));
}

bool regex_as_class_repeat(std::string_view pattern, CharSet& chars, uint32_t& min,
                           uint32_t& max) {
  RegexParser parser(pattern);
  std::vector<TopAlt> alts = parser.parse();
  if (alts.size() != 1 || !alts[0].anchored_start || !alts[0].anchored_end) return false;
  const RNode* n = &parser.nodes[alts[0].node];
  min = max = 1;
  if (n->kind == RKind::kRepeat) {
    min = n->lo;
    max = n->hi;
    n = &parser.nodes[n->kids[0]];
  }
  if (n->kind != RKind::kClass) return false;
  chars = n->chars;
  return true;
}

}  // namespace r1::grammar::detail
