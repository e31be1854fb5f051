// The grammar IR builder: character sets, the UTF-8 and JSON-string encodings of a character
// class as byte-level expressions, bounded whitespace, shared JSON string rules, and the public
// Grammar / GrammarBuilder entry points.
#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "grammar/ir.h"

namespace r1::grammar {
namespace detail {

namespace {
constexpr uint32_t kSurrogateLo = 0xD800, kSurrogateHi = 0xDFFF;
}

// ---- CharSet ----

CharSet CharSet::all() {
  CharSet s;
  s.ranges_ = {{0, kSurrogateLo - 1}, {kSurrogateHi + 1, kMaxCodePoint}};
  return s;
}

CharSet CharSet::range(uint32_t lo, uint32_t hi) {
  CharSet s;
  s.add(lo, hi);
  return s;
}

void CharSet::add(uint32_t lo, uint32_t hi) {
  hi = std::min(hi, kMaxCodePoint);
  if (lo > hi) return;
  // Surrogates are not characters: cut them out, so equal sets have equal ranges.
  if (lo <= kSurrogateHi && hi >= kSurrogateLo) {
    if (lo < kSurrogateLo) add(lo, kSurrogateLo - 1);
    if (hi > kSurrogateHi) add(kSurrogateHi + 1, hi);
    return;
  }
  ranges_.push_back({lo, hi});
  std::sort(ranges_.begin(), ranges_.end());
  std::vector<std::pair<uint32_t, uint32_t>> merged;
  merged.reserve(ranges_.size());
  for (auto r : ranges_) {
    if (!merged.empty() && merged.back().second + 1 >= r.first) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  ranges_ = std::move(merged);
}

void CharSet::add(const CharSet& other) {
  for (auto [a, b] : other.ranges_) add(a, b);
}

CharSet CharSet::complement() const {
  CharSet s;
  uint32_t next = 0;
  for (auto [a, b] : ranges_) {
    if (a > next) s.add(next, a - 1);
    next = b + 1;
  }
  if (next <= kMaxCodePoint) s.add(next, kMaxCodePoint);
  return s;
}

CharSet CharSet::intersect(const CharSet& other) const {
  CharSet s;
  size_t i = 0, j = 0;
  while (i < ranges_.size() && j < other.ranges_.size()) {
    uint32_t lo = std::max(ranges_[i].first, other.ranges_[j].first);
    uint32_t hi = std::min(ranges_[i].second, other.ranges_[j].second);
    if (lo <= hi) s.add(lo, hi);
    if (ranges_[i].second < other.ranges_[j].second) ++i; else ++j;
  }
  return s;
}

bool CharSet::contains(uint32_t c) const {
  for (auto [a, b] : ranges_) {
    if (c < a) return false;
    if (c <= b) return true;
  }
  return false;
}

bool CharSet::is_all() const { return *this == all(); }

std::string CharSet::to_string() const {
  std::string s = "[";
  for (auto [a, b] : ranges_) {
    s += a == b ? fmt::format("{:X}", a) : fmt::format("{:X}-{:X}", a, b);
    s += ' ';
  }
  if (s.size() > 1) s.pop_back();
  return s + "]";
}

// ---- UTF-8 ----

bool decode_utf8(std::string_view text, std::vector<uint32_t>& out) {
  out.clear();
  size_t i = 0;
  while (i < text.size()) {
    auto b0 = static_cast<uint8_t>(text[i]);
    uint32_t c;
    int n;
    if (b0 < 0x80) { c = b0; n = 0; }
    else if (b0 >= 0xC2 && b0 <= 0xDF) { c = b0 & 0x1F; n = 1; }
    else if (b0 >= 0xE0 && b0 <= 0xEF) { c = b0 & 0x0F; n = 2; }
    else if (b0 >= 0xF0 && b0 <= 0xF4) { c = b0 & 0x07; n = 3; }
    else return false;
    if (i + n >= text.size() && n > 0) return false;
    for (int k = 1; k <= n; ++k) {
      auto b = static_cast<uint8_t>(text[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      c = (c << 6) | (b & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are malformed.
    if ((n == 2 && c < 0x800) || (n == 3 && (c < 0x10000 || c > kMaxCodePoint)) ||
        (c >= kSurrogateLo && c <= kSurrogateHi)) {
      return false;
    }
    out.push_back(c);
    i += n + 1;
  }
  return true;
}

void append_utf8(std::string& out, uint32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

namespace {
int utf8_length(uint32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }
}  // namespace

// ---- IrBuilder ----

IrBuilder::IrBuilder(const GrammarOptions& options) : data_(std::make_shared<GrammarData>()) {
  data_->options = options;
}

int32_t IrBuilder::add(Node n) {
  R1_CHECK(!finished_, "GrammarBuilder used after build()");
  if (data_->nodes.size() >= kMaxIrNodes) {
    fail(ErrorKind::kLimit, "grammar too large (more than {} expression nodes)", kMaxIrNodes);
  }
  data_->nodes.push_back(n);
  return static_cast<int32_t>(data_->nodes.size() - 1);
}

int32_t IrBuilder::add_list(Op op, const std::vector<int32_t>& items) {
  Node n;
  n.op = op;
  n.first = static_cast<uint32_t>(data_->kids.size());
  n.count = static_cast<uint32_t>(items.size());
  for (int32_t e : items) R1_CHECK(e >= 0 && e < static_cast<int32_t>(data_->nodes.size()));
  data_->kids.insert(data_->kids.end(), items.begin(), items.end());
  return add(n);
}

int32_t IrBuilder::empty() {
  Node n;
  n.op = Op::kEmpty;
  return add(n);
}

int32_t IrBuilder::nothing() {
  Node n;
  n.op = Op::kNothing;
  return add(n);
}

int32_t IrBuilder::bytes(std::string_view text) {
  if (text.empty()) return empty();
  Node n;
  n.op = Op::kBytes;
  n.first = static_cast<uint32_t>(data_->text.size());
  n.count = static_cast<uint32_t>(text.size());
  data_->text.append(text);
  return add(n);
}

int32_t IrBuilder::byte_set(const ByteSet& set) {
  if (set.none()) return nothing();
  std::string key = set.to_string();
  auto it = byte_set_memo_.find(key);
  int32_t index;
  if (it != byte_set_memo_.end()) {
    index = it->second;
  } else {
    index = static_cast<int32_t>(data_->byte_sets.size());
    data_->byte_sets.push_back(set);
    byte_set_memo_[key] = index;
  }
  Node n;
  n.op = Op::kByteSet;
  n.a = index;
  return add(n);
}

int32_t IrBuilder::byte_range(uint8_t lo, uint8_t hi) {
  ByteSet s;
  for (int b = lo; b <= hi; ++b) s.set(b);
  return byte_set(s);
}

int32_t IrBuilder::token(std::string_view text) {
  if (text.empty()) fail("grammar token text is empty");
  Node n;
  n.op = Op::kToken;
  n.first = static_cast<uint32_t>(data_->text.size());
  n.count = static_cast<uint32_t>(text.size());
  data_->text.append(text);
  return add(n);
}

int32_t IrBuilder::seq(std::vector<int32_t> items) {
  if (items.empty()) return empty();
  if (items.size() == 1) return items[0];
  return add_list(Op::kSeq, items);
}

int32_t IrBuilder::choice(std::vector<int32_t> alternatives) {
  if (alternatives.empty()) return nothing();
  if (alternatives.size() == 1) return alternatives[0];
  return add_list(Op::kChoice, alternatives);
}

int32_t IrBuilder::repeat(int32_t item, uint32_t lo, uint32_t hi) {
  if (hi != kInf && lo > hi) return nothing();
  if (hi == 0) return empty();
  if (lo == 1 && hi == 1) return item;
  int32_t e = add_list(Op::kRepeat, {item});
  data_->nodes[e].lo = lo;
  data_->nodes[e].hi = hi;
  return e;
}

int32_t IrBuilder::ref(int32_t rule) {
  R1_CHECK(rule >= 0 && rule < static_cast<int32_t>(data_->rules.size()));
  Node n;
  n.op = Op::kRef;
  n.a = rule;
  return add(n);
}

int32_t IrBuilder::graph(GraphDef g) {
  for (const GraphEdge& e : g.edges) R1_CHECK(e.from < g.n_states && e.to < g.n_states);
  Node n;
  n.op = Op::kGraph;
  n.a = static_cast<int32_t>(data_->graphs.size());
  data_->graphs.push_back(std::move(g));
  return add(n);
}

// Bytes encoding the code points lo..hi, which all have the same UTF-8 length: split until every
// byte position ranges independently, then one byte range per position.
int32_t IrBuilder::utf8_range(uint32_t lo, uint32_t hi) {
  int n = utf8_length(lo);
  if (n == 1) return byte_range(static_cast<uint8_t>(lo), static_cast<uint8_t>(hi));
  for (int i = 1; i < n; ++i) {
    uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) return choice({utf8_range(lo, lo | m), utf8_range((lo | m) + 1, hi)});
      if ((hi & m) != m) return choice({utf8_range(lo, (hi & ~m) - 1), utf8_range(hi & ~m, hi)});
    }
  }
  std::string a, b;
  append_utf8(a, lo);
  append_utf8(b, hi);
  std::vector<int32_t> parts;
  for (int k = 0; k < n; ++k) {
    parts.push_back(byte_range(static_cast<uint8_t>(a[k]), static_cast<uint8_t>(b[k])));
  }
  return seq(parts);
}

int32_t IrBuilder::utf8_char(const CharSet& chars) {
  auto it = utf8_char_memo_.find(chars);
  if (it != utf8_char_memo_.end()) return it->second;
  static constexpr uint32_t kLengthEnds[] = {0x7F, 0x7FF, 0xFFFF, kMaxCodePoint};
  std::vector<int32_t> alts;
  for (auto [lo, hi] : chars.ranges()) {
    uint32_t start = 0;
    for (uint32_t end : kLengthEnds) {
      uint32_t a = std::max(lo, start), b = std::min(hi, end);
      if (a <= b) alts.push_back(utf8_range(a, b));
      start = end + 1;
    }
  }
  int32_t e = choice(alts);
  utf8_char_memo_[chars] = e;
  return e;
}

// `digits` hex digits (either case) whose value is in lo..hi.
int32_t IrBuilder::hex_range(uint32_t lo, uint32_t hi, int digits) {
  auto digit_set = [&](uint32_t a, uint32_t b) {
    ByteSet s;
    for (uint32_t v = a; v <= b; ++v) {
      if (v < 10) {
        s.set('0' + v);
      } else {
        s.set('a' + v - 10);
        s.set('A' + v - 10);
      }
    }
    return byte_set(s);
  };
  if (digits == 1) return digit_set(lo, hi);
  uint32_t unit = 1u << (4 * (digits - 1));
  uint32_t lo_d = lo / unit, hi_d = hi / unit, lo_r = lo % unit, hi_r = hi % unit;
  if (lo_d == hi_d) return seq({digit_set(lo_d, lo_d), hex_range(lo_r, hi_r, digits - 1)});
  std::vector<int32_t> alts;
  if (lo_r != 0) {
    alts.push_back(seq({digit_set(lo_d, lo_d), hex_range(lo_r, unit - 1, digits - 1)}));
    ++lo_d;
  }
  int32_t tail = -1;
  if (hi_r != unit - 1) {
    tail = seq({digit_set(hi_d, hi_d), hex_range(0, hi_r, digits - 1)});
    --hi_d;
  }
  if (lo_d <= hi_d) alts.push_back(seq({digit_set(lo_d, hi_d), hex_range(0, unit - 1, digits - 1)}));
  if (tail >= 0) alts.push_back(tail);
  return choice(alts);
}

int32_t IrBuilder::json_char(const CharSet& chars) {
  auto it = json_char_memo_.find(chars);
  if (it != json_char_memo_.end()) return it->second;
  std::vector<int32_t> alts;
  // Raw: everything but control characters, the quote and the backslash.
  CharSet must_escape = CharSet::range(0, 0x1F);
  must_escape.add('"', '"');
  must_escape.add('\\', '\\');
  CharSet raw = chars.minus(must_escape);
  if (!raw.empty()) alts.push_back(utf8_char(raw));
  static constexpr std::pair<uint32_t, char> kShort[] = {
      {'"', '"'}, {'\\', '\\'}, {'/', '/'}, {0x08, 'b'}, {0x0C, 'f'}, {0x0A, 'n'}, {0x0D, 'r'},
      {0x09, 't'}};
  for (auto [c, letter] : kShort) {
    if (chars.contains(c)) alts.push_back(bytes(std::string("\\") + letter));
  }
  // \uXXXX for the basic plane, surrogate pairs beyond it.
  std::vector<int32_t> bmp;
  CharSet basic = chars.intersect(CharSet::range(0, 0xFFFF));
  for (auto [lo, hi] : basic.ranges()) {
    bmp.push_back(hex_range(lo, hi, 4));
  }
  if (!bmp.empty()) alts.push_back(seq({bytes("\\u"), choice(bmp)}));
  CharSet astral = chars.intersect(CharSet::range(0x10000, kMaxCodePoint));
  for (auto [lo, hi] : astral.ranges()) {
    uint32_t v_lo = lo - 0x10000, v_hi = hi - 0x10000;
    auto pair = [&](uint32_t h_lo, uint32_t h_hi, uint32_t l_lo, uint32_t l_hi) {
      alts.push_back(seq({bytes("\\u"), hex_range(0xD800 + h_lo, 0xD800 + h_hi, 4), bytes("\\u"),
                          hex_range(0xDC00 + l_lo, 0xDC00 + l_hi, 4)}));
    };
    uint32_t h_lo = v_lo >> 10, h_hi = v_hi >> 10;
    if (h_lo == h_hi) {
      pair(h_lo, h_lo, v_lo & 0x3FF, v_hi & 0x3FF);
    } else {
      pair(h_lo, h_lo, v_lo & 0x3FF, 0x3FF);
      if (h_hi - h_lo > 1) pair(h_lo + 1, h_hi - 1, 0, 0x3FF);
      pair(h_hi, h_hi, 0, v_hi & 0x3FF);
    }
  }
  int32_t e = choice(alts);
  json_char_memo_[chars] = e;
  return e;
}

int32_t IrBuilder::json_string(const CharSet& chars, uint32_t min, uint32_t max) {
  if (max != kInf && min > max) return nothing();
  if (chars.empty() && min > 0) return nothing();
  std::string key = fmt::format("jstr:{}:{}:{}", chars.to_string(), min, max);
  int32_t* rule = memo(key);
  if (*rule < 0) {
    int32_t one_char = json_char(chars);
    int32_t set = static_cast<int32_t>(data_->char_sets.size());
    data_->char_sets.push_back(chars);
    Node n;
    n.op = Op::kString;
    n.a = set;
    n.first = static_cast<uint32_t>(one_char);
    n.lo = min;
    n.hi = max;
    std::string name = min == 0 && max == kInf && chars.is_all()
                           ? std::string("string")
                           : fmt::format("string{}", data_->rules.size());
    *rule = new_rule(name, add(n), /*inline_ok=*/false);
  }
  return seq({bytes("\""), ref(*rule)});
}

int32_t IrBuilder::ws() {
  int32_t* e = memo("ws");
  if (*e < 0) {
    int n = data_->options.max_whitespace;
    ByteSet s;
    for (char c : {' ', '\t', '\n', '\r'}) s.set(static_cast<uint8_t>(c));
    int32_t one = byte_set(s);
    *e = n == 0 ? empty() : repeat(one, 0, n < 0 ? kInf : static_cast<uint32_t>(n));
  }
  return *e;
}

int32_t IrBuilder::new_rule(std::string name, int32_t body, bool inline_ok) {
  data_->rules.push_back(RuleDef{std::move(name), body, inline_ok});
  return static_cast<int32_t>(data_->rules.size() - 1);
}

void IrBuilder::set_body(int32_t rule, int32_t body) {
  R1_CHECK(rule >= 0 && rule < static_cast<int32_t>(data_->rules.size()));
  if (data_->rules[rule].body >= 0) fail("grammar rule '{}' defined twice", data_->rules[rule].name);
  data_->rules[rule].body = body;
}

int32_t* IrBuilder::memo(const std::string& key) {
  auto [it, inserted] = memo_.emplace(key, -1);
  return &it->second;
}

std::shared_ptr<const GrammarData> IrBuilder::finish(int32_t root_expr) {
  R1_CHECK(!finished_, "GrammarBuilder::build called twice");
  data_->root_rule = new_rule("root", root_expr);
  for (const RuleDef& r : data_->rules) {
    if (r.body < 0) fail("grammar rule '{}' is declared but never defined", r.name);
  }
  finished_ = true;
  return data_;
}

// ---- printing ----

namespace {
std::string quote_bytes(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += fmt::format("\\x{:02X}", c);
    }
  }
  return out + "\"";
}

std::string byte_set_to_string(const ByteSet& s) {
  std::string out = "[";
  for (int b = 0; b < 256; ++b) {
    if (!s.test(b)) continue;
    int e = b;
    while (e + 1 < 256 && s.test(e + 1)) ++e;
    auto one = [](int c) {
      return c > 0x20 && c < 0x7F && c != ']' && c != '\\' && c != '-'
                 ? std::string(1, static_cast<char>(c))
                 : fmt::format("\\x{:02X}", c);
    };
    out += one(b);
    if (e > b) out += "-" + one(e);
    b = e;
  }
  return out + "]";
}
}  // namespace

std::string GrammarData::expr_to_string(int32_t expr) const {
  const Node& n = nodes[expr];
  auto list = [&](const char* sep) {
    std::string s = "(";
    for (uint32_t i = 0; i < n.count; ++i) {
      if (i) s += sep;
      s += expr_to_string(kids[n.first + i]);
    }
    return s + ")";
  };
  switch (n.op) {
    case Op::kEmpty: return "\"\"";
    case Op::kNothing: return "<nothing>";
    case Op::kBytes: return quote_bytes(node_text(n));
    case Op::kByteSet: return byte_set_to_string(byte_sets[n.a]);
    case Op::kToken: return "<token " + quote_bytes(node_text(n)) + ">";
    case Op::kSeq: return list(" ");
    case Op::kChoice: return list(" | ");
    case Op::kRepeat:
      return expr_to_string(kids[n.first]) +
             (n.hi == kInf ? fmt::format("{{{},}}", n.lo) : fmt::format("{{{},{}}}", n.lo, n.hi));
    case Op::kRef: return rules[n.a].name;
    case Op::kGraph: {
      const GraphDef& g = graphs[n.a];
      std::string s = fmt::format("graph(start {}, accept", g.start);
      for (uint32_t a : g.accept) s += fmt::format(" {}", a);
      for (const GraphEdge& e : g.edges) {
        s += fmt::format("; {}->{} {}", e.from, e.to, expr_to_string(e.expr));
      }
      return s + ")";
    }
    case Op::kString:
      return fmt::format("json-chars{}{{{},{}}} \"\\\"\"", char_sets[n.a].to_string(), n.lo,
                         n.hi == kInf ? std::string() : std::to_string(n.hi));
  }
  return "?";
}

}  // namespace detail

// ---- public API ----

std::string Grammar::to_string() const {
  std::string out;
  for (const detail::RuleDef& r : data_->rules) {
    out += r.name + " ::= " + data_->expr_to_string(r.body) + "\n";
  }
  return out;
}

Grammar Grammar::from_json_schema(std::string_view schema_text, const GrammarOptions& options) {
  nlohmann::ordered_json schema;
  try {
    schema = nlohmann::ordered_json::parse(schema_text);
  } catch (const nlohmann::json::exception& e) {
    fail("JSON schema is not valid JSON: {}", e.what());
  }
  return from_json_schema_value(schema, options);
}

Grammar Grammar::from_json_schema_value(const nlohmann::ordered_json& schema,
                                        const GrammarOptions& options) {
  detail::IrBuilder b(options);
  int32_t root = detail::build_json_schema(b, schema);
  return Grammar(b.finish(root));
}

Grammar Grammar::any_json_object(const GrammarOptions& options) {
  detail::IrBuilder b(options);
  int32_t root = detail::build_any_json_object(b);
  return Grammar(b.finish(root));
}

Grammar Grammar::from_regex(std::string_view pattern) {
  detail::IrBuilder b(GrammarOptions{});
  int32_t root = detail::build_regex(b, pattern, detail::RegexMode::kRaw, 0, detail::kInf);
  return Grammar(b.finish(root));
}

GrammarBuilder::GrammarBuilder(const GrammarOptions& options)
    : ir_(std::make_unique<detail::IrBuilder>(options)) {}
GrammarBuilder::~GrammarBuilder() = default;

namespace {
std::vector<int32_t> ids(const std::vector<GrammarBuilder::Expr>& items) {
  std::vector<int32_t> out;
  out.reserve(items.size());
  for (auto e : items) out.push_back(e.id);
  return out;
}
}  // namespace

GrammarBuilder::Expr GrammarBuilder::empty() { return {ir_->empty()}; }
GrammarBuilder::Expr GrammarBuilder::literal(std::string_view text) { return {ir_->bytes(text)}; }
GrammarBuilder::Expr GrammarBuilder::token(std::string_view text) { return {ir_->token(text)}; }
GrammarBuilder::Expr GrammarBuilder::seq(std::vector<Expr> items) { return {ir_->seq(ids(items))}; }
GrammarBuilder::Expr GrammarBuilder::choice(std::vector<Expr> alternatives) {
  return {ir_->choice(ids(alternatives))};
}
GrammarBuilder::Expr GrammarBuilder::repeat(Expr item, int min, int max) {
  if (min < 0 || (max != kUnbounded && max < min)) {
    fail("grammar repeat bounds {}..{} are invalid", min, max);
  }
  return {ir_->repeat(item.id, static_cast<uint32_t>(min),
                      max == kUnbounded ? detail::kInf : static_cast<uint32_t>(max))};
}
GrammarBuilder::Expr GrammarBuilder::regex(std::string_view pattern) {
  return {detail::build_regex(*ir_, pattern, detail::RegexMode::kRaw, 0, detail::kInf)};
}
GrammarBuilder::Expr GrammarBuilder::json_schema(const nlohmann::ordered_json& schema) {
  return {detail::build_json_schema(*ir_, schema)};
}
GrammarBuilder::Expr GrammarBuilder::json_value() { return {detail::build_any_json_value(*ir_)}; }
GrammarBuilder::Rule GrammarBuilder::declare(std::string name) {
  return {ir_->new_rule(std::move(name))};
}
void GrammarBuilder::define(Rule rule, Expr body) { ir_->set_body(rule.id, body.id); }
GrammarBuilder::Expr GrammarBuilder::ref(Rule rule) { return {ir_->ref(rule.id)}; }
Grammar GrammarBuilder::build(Expr root) { return Grammar(ir_->finish(root.id)); }

}  // namespace r1::grammar
