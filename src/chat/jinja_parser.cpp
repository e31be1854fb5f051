// Template parser: a recursive-descent parser with Jinja2's precedence (lowest first):
// conditional `x if c else y`, or, and, not, comparisons/in, + -, ~, * / // %, **, unary - +,
// then primaries with postfix .attr [item] (call), filters |f and tests `is t`. Nesting is
// bounded so that hostile input gets an error instead of exhausting the stack.
#include "chat/jinja_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>

namespace r1::chat::jinja {

namespace {

class Parser {
 public:
  Parser(std::vector<Token> tokens, const ParseLimits& limits) : toks_(std::move(tokens)), limits_(limits) {}

  std::unique_ptr<Program> run() {
    auto program = std::make_unique<Program>();
    std::string end;
    program->body = parse_body({}, end);
    return program;
  }

 private:
  // ---- token helpers ----
  const Token& cur() const { return toks_[i_]; }
  const Token& peek(std::size_t n = 1) const { return toks_[std::min(i_ + n, toks_.size() - 1)]; }
  void next() {
    if (i_ + 1 < toks_.size()) ++i_;
  }
  bool is_op(std::string_view op) const { return cur().type == TokenType::kOperator && cur().text == op; }
  bool is_name(std::string_view name) const { return cur().type == TokenType::kName && cur().text == name; }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }

  [[noreturn]] void fail(SourcePos pos, const std::string& message) const {
    TemplateError e(fmt::format("{}:{}: {}", pos.line, pos.column, message), TemplateError::Kind::kSyntax);
    e.set_located();
    throw e;
  }
  [[noreturn]] void fail_unexpected(const std::string& expected) const {
    fail(cur().pos, fmt::format("expected {}, got {}", expected, describe(cur())));
  }

  void expect_op(std::string_view op) {
    if (!skip_op(op)) fail_unexpected(fmt::format("'{}'", op));
  }
  std::string expect_name() {
    if (cur().type != TokenType::kName) fail_unexpected("a name");
    std::string n = cur().text;
    next();
    return n;
  }
  void expect_block_end() {
    if (cur().type != TokenType::kBlockEnd) fail_unexpected("end of statement block");
    next();
  }

  // Guards recursion depth (statement nesting and expression nesting).
  struct DepthGuard {
    DepthGuard(Parser& p, SourcePos pos) : p_(p) {
      if (++p_.depth_ > p_.limits_.max_nesting)
        p_.fail(pos, fmt::format("template nested too deeply (more than {} levels)", p_.limits_.max_nesting));
    }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
  };

  template <typename T>
  std::unique_ptr<T> finish(std::unique_ptr<T> node, std::initializer_list<const Expr*> children) {
    int h = 0;
    for (const Expr* c : children)
      if (c) h = std::max(h, c->height);
    node->height = h + 1;
    check_height(*node);
    return node;
  }
  void check_height(const Expr& e) const {
    if (e.height > 2 * limits_.max_nesting + 200)
      fail(e.pos, "expression too long or nested too deeply");
  }
  static int args_height(const ArgList& a) {
    int h = 0;
    for (const auto& e : a.positional) h = std::max(h, e->height);
    for (const auto& [k, e] : a.keywords) h = std::max(h, e->height);
    if (a.star) h = std::max(h, a.star->height);
    if (a.star_star) h = std::max(h, a.star_star->height);
    return h;
  }

  // ---- statements ----

  // Parses until `{% <one of end_tags>` (left current: the tag name) or end of input.
  Body parse_body(std::initializer_list<std::string_view> end_tags, std::string& found_end,
                  std::string_view open_tag = {}, SourcePos open_pos = {}) {
    Body body;
    while (true) {
      const Token& t = cur();
      switch (t.type) {
        case TokenType::kText:
          body.push_back(std::make_unique<TextStmt>(t.pos, t.text));
          next();
          break;
        case TokenType::kVarBegin: {
          const SourcePos pos = t.pos;
          next();
          ExprPtr e = parse_tuple(true, false, {});
          if (cur().type != TokenType::kVarEnd) fail_unexpected("end of print statement");
          next();
          body.push_back(std::make_unique<EmitStmt>(pos, std::move(e)));
          break;
        }
        case TokenType::kBlockBegin: {
          const Token& tag = peek();
          if (tag.type == TokenType::kName) {
            for (std::string_view end : end_tags) {
              if (tag.text == end) {
                next();  // leave the tag name current
                found_end = tag.text;
                return body;
              }
            }
          }
          body.push_back(parse_statement(end_tags, open_tag));
          break;
        }
        case TokenType::kEof:
          if (end_tags.size() > 0)
            fail(open_pos, fmt::format("unexpected end of template: the '{}' block opened here is never closed "
                                       "(expected '{{% end{} %}}')",
                                       open_tag, open_tag));
          return body;
        default: fail_unexpected("template data or a tag");
      }
    }
  }

  StmtPtr parse_statement(std::initializer_list<std::string_view> enclosing_ends, std::string_view enclosing) {
    const SourcePos pos = cur().pos;
    DepthGuard guard(*this, pos);
    next();  // {%
    if (cur().type != TokenType::kName) fail_unexpected("a tag name");
    const std::string tag = cur().text;
    const SourcePos tag_pos = cur().pos;
    next();
    if (tag == "if") return parse_if(pos);
    if (tag == "for") return parse_for(pos);
    if (tag == "set") return parse_set(pos);
    if (tag == "macro") return parse_macro(pos);
    if (tag == "call") return parse_call_block(pos);
    if (tag == "filter") return parse_filter_block(pos);
    if (tag == "with") return parse_with(pos);
    if (tag == "generation") return parse_scope(pos, "generation", "endgeneration");
    if (tag == "block") {
      expect_name();
      while (skip_name("scoped") || skip_name("required")) {
      }
      return parse_scope(pos, "block", "endblock");
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail(tag_pos, fmt::format("'{}' outside of a for loop", tag));
      expect_block_end();
      return std::make_unique<Stmt>(tag == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue, pos);
    }
    if (tag == "extends" || tag == "include" || tag == "import" || tag == "from")
      fail(tag_pos, fmt::format("'{}' is not supported: chat templates are rendered without a template loader", tag));
    if (enclosing_ends.size() > 0) {
      std::string expected;
      for (std::string_view e : enclosing_ends) expected += (expected.empty() ? "'" : " or '") + std::string(e) + "'";
      fail(tag_pos, fmt::format("unexpected tag '{}'; the innermost open block is '{}', expecting {}", tag,
                                enclosing, expected));
    }
    fail(tag_pos, fmt::format("unknown tag '{}'", tag));
  }

  // After an end tag name: optional trailing name (endblock x) and the block end.
  void finish_end_tag() {
    const bool named = cur().text == "endblock";  // {% endblock name %}
    next();
    if (named && cur().type == TokenType::kName) next();
    expect_block_end();
  }

  StmtPtr parse_if(SourcePos pos) {
    auto node = std::make_unique<IfStmt>(pos);
    ExprPtr cond = parse_tuple(false, false, {});
    expect_block_end();
    while (true) {
      std::string end;
      Body body = parse_body({"elif", "else", "endif"}, end, "if", pos);
      node->branches.emplace_back(std::move(cond), std::move(body));
      if (end == "elif") {
        next();
        cond = parse_tuple(false, false, {});
        expect_block_end();
        continue;
      }
      if (end == "else") {
        next();
        expect_block_end();
        node->else_body = parse_body({"endif"}, end, "if", pos);
      }
      finish_end_tag();
      return node;
    }
  }

  StmtPtr parse_for(SourcePos pos) {
    auto node = std::make_unique<ForStmt>(pos);
    node->target = parse_target(false, {"in"});
    if (!skip_name("in")) fail_unexpected("'in'");
    node->iter = parse_tuple(false, false, {"recursive"});
    if (skip_name("if")) node->filter = parse_expression(true);
    node->recursive = skip_name("recursive");
    expect_block_end();
    std::string end;
    ++loop_depth_;
    node->body = parse_body({"endfor", "else"}, end, "for", pos);
    --loop_depth_;
    if (end == "else") {
      next();
      expect_block_end();
      node->else_body = parse_body({"endfor"}, end, "for", pos);
    }
    finish_end_tag();
    return node;
  }

  StmtPtr parse_set(SourcePos pos) {
    Target target = parse_target(true, {});
    if (skip_op("=")) {
      auto node = std::make_unique<SetStmt>(pos);
      node->target = std::move(target);
      node->value = parse_tuple(true, false, {});
      expect_block_end();
      return node;
    }
    if (target.kind == Target::Kind::kTuple) fail(target.pos, "a {% set %} block can only assign one name");
    auto node = std::make_unique<SetBlockStmt>(pos);
    node->target = std::move(target);
    if (is_op("|")) {
      next();
      node->filter = parse_filter_chain(nullptr);
    }
    expect_block_end();
    std::string end;
    node->body = parse_body({"endset"}, end, "set", pos);
    finish_end_tag();
    return node;
  }

  // (a, b=1, ...) for macros and call blocks.
  void parse_signature(MacroDef& def) {
    expect_op("(");
    while (!is_op(")")) {
      if (!def.params.empty()) expect_op(",");
      const SourcePos p = cur().pos;
      std::string name = expect_name();
      if (std::find(def.params.begin(), def.params.end(), name) != def.params.end())
        fail(p, fmt::format("duplicate argument '{}' in signature", name));
      def.params.push_back(std::move(name));
      if (skip_op("=")) {
        def.defaults.push_back(parse_expression(true));
      } else {
        for (const auto& d : def.defaults)
          if (d) fail(p, "non-default argument follows default argument");
        def.defaults.push_back(nullptr);
      }
    }
    next();
  }

  // Whether a body reads the special names varargs/kwargs/caller (decides what a macro accepts).
  static void scan_names(const Expr* e, MacroDef& def);
  static void scan_names(const Body& body, MacroDef& def);
  static void scan_args(const ArgList& a, MacroDef& def) {
    for (const auto& x : a.positional) scan_names(x.get(), def);
    for (const auto& [k, x] : a.keywords) scan_names(x.get(), def);
    scan_names(a.star.get(), def);
    scan_names(a.star_star.get(), def);
  }

  std::unique_ptr<MacroDef> parse_macro_body(std::unique_ptr<MacroDef> def, std::string_view open, std::string_view end_tag, SourcePos pos) {
    std::string end;
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;  // break/continue cannot cross a macro boundary
    def->body = parse_body({end_tag}, end, open, pos);
    loop_depth_ = saved_loops;
    finish_end_tag();
    scan_names(def->body, *def);
    for (const auto& d : def->defaults) scan_names(d.get(), *def);
    return def;
  }

  StmtPtr parse_macro(SourcePos pos) {
    auto def = std::make_unique<MacroDef>();
    def->pos = pos;
    def->name = expect_name();
    parse_signature(*def);
    expect_block_end();
    def = parse_macro_body(std::move(def), "macro", "endmacro", pos);
    return std::make_unique<MacroStmt>(pos, std::move(def));
  }

  StmtPtr parse_call_block(SourcePos pos) {
    auto node = std::make_unique<CallBlockStmt>(pos);
    auto def = std::make_unique<MacroDef>();
    def->name = "caller";
    def->pos = pos;
    if (is_op("(")) parse_signature(*def);
    const SourcePos call_pos = cur().pos;
    ExprPtr call = parse_expression(true);
    if (call->kind != Expr::Kind::kCall) fail(call_pos, "expected a call after {% call %}");
    node->call.reset(static_cast<CallExpr*>(call.release()));
    expect_block_end();
    node->caller = parse_macro_body(std::move(def), "call", "endcall", pos);
    return node;
  }

  StmtPtr parse_filter_block(SourcePos pos) {
    auto node = std::make_unique<FilterBlockStmt>(pos);
    node->filter = parse_filter_chain(nullptr);
    expect_block_end();
    std::string end;
    node->body = parse_body({"endfilter"}, end, "filter", pos);
    finish_end_tag();
    return node;
  }

  StmtPtr parse_with(SourcePos pos) {
    auto node = std::make_unique<WithStmt>(pos);
    while (cur().type != TokenType::kBlockEnd) {
      if (!node->assignments.empty()) expect_op(",");
      Target t = parse_target(false, {});
      expect_op("=");
      node->assignments.emplace_back(std::move(t), parse_expression(true));
    }
    next();
    std::string end;
    node->body = parse_body({"endwith"}, end, "with", pos);
    finish_end_tag();
    return node;
  }

  StmtPtr parse_scope(SourcePos pos, std::string_view open, std::string_view end_tag) {
    auto node = std::make_unique<ScopeStmt>(pos);
    expect_block_end();
    std::string end;
    node->body = parse_body({end_tag}, end, open, pos);
    finish_end_tag();
    return node;
  }

  // Assignment target: name | ns.attr (when allowed) | tuple of names (possibly parenthesized).
  Target parse_target(bool with_namespace, std::initializer_list<std::string_view> end_names) {
    Target first;
    first.pos = cur().pos;
    if (with_namespace && cur().type == TokenType::kName && peek().type == TokenType::kOperator && peek().text == ".") {
      first.kind = Target::Kind::kAttr;
      first.name = expect_name();
      next();
      first.attr = expect_name();
      return first;
    }
    std::vector<Target> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) {
        if (cur().type == TokenType::kBlockEnd || is_op("=") || is_op(")")) break;
        bool stop = false;
        for (std::string_view n : end_names) stop = stop || is_name(n);
        if (stop) break;
      }
      items.push_back(parse_target_primary());
      if (!skip_op(",")) break;
      is_tuple = true;
    }
    if (!is_tuple) return std::move(items.front());
    first.kind = Target::Kind::kTuple;
    first.items = std::move(items);
    return first;
  }

  Target parse_target_primary() {
    Target t;
    t.pos = cur().pos;
    if (skip_op("(")) {
      DepthGuard guard(*this, t.pos);
      t.kind = Target::Kind::kTuple;
      while (!is_op(")")) {
        if (!t.items.empty()) {
          expect_op(",");
          if (is_op(")")) break;
        }
        t.items.push_back(parse_target_primary());
      }
      next();
      if (t.items.size() == 1) return std::move(t.items.front());
      return t;
    }
    if (cur().type != TokenType::kName) fail_unexpected("a name to assign to");
    static const char* kReserved[] = {"true", "false", "none", "True", "False", "None"};
    for (const char* r : kReserved)
      if (cur().text == r) fail(cur().pos, fmt::format("cannot assign to '{}'", r));
    t.name = expect_name();
    return t;
  }

  // ---- expressions ----

  // Comma-separated expressions form a tuple (`{{ a, b }}`, `{% set a, b = 1, 2 %}`).
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens, std::initializer_list<std::string_view> end_names) {
    const SourcePos pos = cur().pos;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      const TokenType t = cur().type;
      bool end = t == TokenType::kVarEnd || t == TokenType::kBlockEnd || is_op(")");
      for (std::string_view n : end_names) end = end || is_name(n);
      if (end) break;
      items.push_back(with_condexpr ? parse_expression(true) : parse_expression(false));
      if (!is_op(",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items.front());
      if (!explicit_parens) fail_unexpected("an expression");
    }
    auto node = std::make_unique<SeqExpr>(Expr::Kind::kTuple, pos);
    int h = 0;
    for (const auto& e : items) h = std::max(h, e->height);
    node->items = std::move(items);
    node->height = h + 1;
    check_height(*node);
    return node;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this, cur().pos);
    if (!with_condexpr) return parse_or();
    ExprPtr e = parse_or();
    while (is_name("if")) {
      auto node = std::make_unique<CondExpr>(cur().pos);
      next();
      node->cond = parse_or();
      if (skip_name("else")) node->else_expr = parse_expression(true);
      node->then_expr = std::move(e);
      const Expr* a = node->cond.get();
      const Expr* b = node->then_expr.get();
      const Expr* c = node->else_expr.get();
      e = finish(std::move(node), {a, b, c});
    }
    return e;
  }

  ExprPtr binary(SourcePos pos, Op op, ExprPtr l, ExprPtr r) {
    auto node = std::make_unique<BinaryExpr>(pos, op, std::move(l), std::move(r));
    const Expr* a = node->lhs.get();
    const Expr* b = node->rhs.get();
    return finish(std::move(node), {a, b});
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const SourcePos pos = cur().pos;
      next();
      e = binary(pos, Op::kOr, std::move(e), parse_and());
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const SourcePos pos = cur().pos;
      next();
      e = binary(pos, Op::kAnd, std::move(e), parse_not());
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      const SourcePos pos = cur().pos;
      DepthGuard guard(*this, pos);
      next();
      auto node = std::make_unique<UnaryExpr>(pos, Op::kNot, parse_not());
      const Expr* c = node->operand.get();
      return finish(std::move(node), {c});
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const SourcePos pos = cur().pos;
    ExprPtr first = parse_math1();
    std::unique_ptr<CompareExpr> node;
    while (true) {
      Op op;
      if (is_op("==")) op = Op::kEq;
      else if (is_op("!=")) op = Op::kNe;
      else if (is_op("<")) op = Op::kLt;
      else if (is_op("<=")) op = Op::kLe;
      else if (is_op(">")) op = Op::kGt;
      else if (is_op(">=")) op = Op::kGe;
      else if (is_name("in")) op = Op::kIn;
      else if (is_name("not") && peek().type == TokenType::kName && peek().text == "in") op = Op::kNotIn;
      else break;
      next();
      if (op == Op::kNotIn) next();
      if (!node) {
        node = std::make_unique<CompareExpr>(pos);
        node->first = std::move(first);
        node->height = node->first->height + 1;
      }
      ExprPtr rhs = parse_math1();
      node->height = std::max(node->height, rhs->height + 1);
      node->rest.emplace_back(op, std::move(rhs));
      check_height(*node);
    }
    if (node) return node;
    return first;
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const SourcePos pos = cur().pos;
      const Op op = is_op("+") ? Op::kAdd : Op::kSub;
      next();
      e = binary(pos, op, std::move(e), parse_concat());
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const SourcePos pos = cur().pos;
      next();
      e = binary(pos, Op::kConcat, std::move(e), parse_math2());
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const SourcePos pos = cur().pos;
      const Op op = is_op("*") ? Op::kMul : is_op("/") ? Op::kDiv : is_op("//") ? Op::kFloorDiv : Op::kMod;
      next();
      e = binary(pos, op, std::move(e), parse_pow());
    }
    return e;
  }

  // Jinja2 makes ** left-associative (2**3**2 == 64), unlike Python.
  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const SourcePos pos = cur().pos;
      next();
      e = binary(pos, Op::kPow, std::move(e), parse_unary(true));
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    const SourcePos pos = cur().pos;
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      DepthGuard guard(*this, pos);
      const Op op = is_op("-") ? Op::kNeg : Op::kPos;
      next();
      auto node = std::make_unique<UnaryExpr>(pos, op, parse_unary(false));
      const Expr* c = node->operand.get();
      e = finish(std::move(node), {c});
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    const SourcePos pos = t.pos;
    switch (t.type) {
      case TokenType::kName: {
        const std::string& n = t.text;
        ExprPtr e;
        if (n == "true" || n == "True") e = std::make_unique<LiteralExpr>(pos, Value(true));
        else if (n == "false" || n == "False") e = std::make_unique<LiteralExpr>(pos, Value(false));
        else if (n == "none" || n == "None") e = std::make_unique<LiteralExpr>(pos, Value::none());
        else e = std::make_unique<NameExpr>(pos, n);
        next();
        return e;
      }
      case TokenType::kString: {
        std::string s = t.text;
        next();
        while (cur().type == TokenType::kString) {  // adjacent literals concatenate
          s += cur().text;
          next();
        }
        return std::make_unique<LiteralExpr>(pos, Value(std::move(s)));
      }
      case TokenType::kInteger: {
        auto e = std::make_unique<LiteralExpr>(pos, Value(t.int_value));
        next();
        return e;
      }
      case TokenType::kFloat: {
        auto e = std::make_unique<LiteralExpr>(pos, Value(t.float_value));
        next();
        return e;
      }
      case TokenType::kOperator:
        if (t.text == "(") {
          next();
          ExprPtr e = parse_tuple(true, true, {});
          expect_op(")");
          return e;
        }
        if (t.text == "[") return parse_list();
        if (t.text == "{") return parse_dict();
        break;
      default: break;
    }
    fail_unexpected("an expression");
  }

  ExprPtr parse_list() {
    auto node = std::make_unique<SeqExpr>(Expr::Kind::kList, cur().pos);
    DepthGuard guard(*this, cur().pos);
    next();
    int h = 0;
    while (!is_op("]")) {
      if (!node->items.empty()) {
        expect_op(",");
        if (is_op("]")) break;
      }
      node->items.push_back(parse_expression(true));
      h = std::max(h, node->items.back()->height);
    }
    next();
    node->height = h + 1;
    check_height(*node);
    return node;
  }

  ExprPtr parse_dict() {
    auto node = std::make_unique<DictExpr>(cur().pos);
    DepthGuard guard(*this, cur().pos);
    next();
    int h = 0;
    while (!is_op("}")) {
      if (!node->items.empty()) {
        expect_op(",");
        if (is_op("}")) break;
      }
      ExprPtr k = parse_expression(true);
      expect_op(":");
      ExprPtr v = parse_expression(true);
      h = std::max({h, k->height, v->height});
      node->items.emplace_back(std::move(k), std::move(v));
    }
    next();
    node->height = h + 1;
    check_height(*node);
    return node;
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".") || is_op("[")) e = parse_subscript(std::move(e));
      else if (is_op("(")) e = parse_call(std::move(e));
      else return e;
    }
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        next();
        e = parse_filter_chain(std::move(e));
      } else if (is_name("is")) {
        e = parse_test(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj) {
    const SourcePos pos = cur().pos;
    if (skip_op(".")) {
      if (cur().type == TokenType::kName) {
        auto node = std::make_unique<AttrExpr>(pos, std::move(obj), cur().text);
        next();
        const Expr* c = node->object.get();
        return finish(std::move(node), {c});
      }
      if (cur().type != TokenType::kInteger) fail_unexpected("a name or number after '.'");
      auto index = std::make_unique<LiteralExpr>(cur().pos, Value(cur().int_value));
      next();
      auto node = std::make_unique<ItemExpr>(pos, std::move(obj), std::move(index));
      const Expr* c = node->object.get();
      return finish(std::move(node), {c});
    }
    next();  // [
    DepthGuard guard(*this, pos);
    std::vector<ExprPtr> subs;
    while (!is_op("]")) {
      if (!subs.empty()) expect_op(",");
      subs.push_back(parse_subscribed(pos));
      if (subs.back()->kind == Expr::Kind::kSlice && subs.size() == 1 && is_op("]")) {
        next();
        auto& slice = static_cast<SliceExpr&>(*subs.back());
        slice.object = std::move(obj);
        const Expr* a = slice.object.get();
        int h = a->height;
        for (const Expr* x : {slice.start.get(), slice.stop.get(), slice.step.get()})
          if (x) h = std::max(h, x->height);
        slice.height = h + 1;
        check_height(slice);
        return std::move(subs.back());
      }
      if (subs.back()->kind == Expr::Kind::kSlice) fail(subs.back()->pos, "slices inside a tuple subscript are not supported");
    }
    next();
    if (subs.empty()) fail(pos, "expected a subscript inside '[]'");
    ExprPtr index;
    if (subs.size() == 1) {
      index = std::move(subs.front());
    } else {
      auto tuple = std::make_unique<SeqExpr>(Expr::Kind::kTuple, pos);
      int h = 0;
      for (auto& s : subs) h = std::max(h, s->height);
      tuple->items = std::move(subs);
      tuple->height = h + 1;
      index = std::move(tuple);
    }
    auto node = std::make_unique<ItemExpr>(pos, std::move(obj), std::move(index));
    const Expr* a = node->object.get();
    const Expr* b = node->index.get();
    return finish(std::move(node), {a, b});
  }

  // One subscript: an expression or a slice start:stop:step (object filled in by the caller).
  ExprPtr parse_subscribed(SourcePos pos) {
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression(true);
      if (!is_op(":")) return start;
    }
    next();  // first ':'
    auto slice = std::make_unique<SliceExpr>(pos);
    slice->start = std::move(start);
    if (!is_op(":") && !is_op("]") && !is_op(",")) slice->stop = parse_expression(true);
    if (skip_op(":")) {
      if (!is_op("]") && !is_op(",")) slice->step = parse_expression(true);
    }
    return slice;
  }

  ArgList parse_call_args() {
    ArgList args;
    const SourcePos pos = cur().pos;
    DepthGuard guard(*this, pos);
    expect_op("(");
    bool need_comma = false;
    while (!is_op(")")) {
      if (need_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      const SourcePos at = cur().pos;
      if (skip_op("*")) {
        if (args.star || args.star_star) fail(at, "invalid syntax for function call expression");
        args.star = parse_expression(true);
      } else if (skip_op("**")) {
        if (args.star_star) fail(at, "invalid syntax for function call expression");
        args.star_star = parse_expression(true);
      } else if (cur().type == TokenType::kName && peek().type == TokenType::kOperator && peek().text == "=") {
        if (args.star_star) fail(at, "invalid syntax for function call expression");
        std::string key = cur().text;
        next();
        next();
        for (const auto& [k, v] : args.keywords)
          if (k == key) fail(at, fmt::format("keyword argument repeated: {}", key));
        args.keywords.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (args.star || args.star_star || !args.keywords.empty())
          fail(at, "positional argument follows keyword argument");
        args.positional.push_back(parse_expression(true));
      }
      need_comma = true;
    }
    next();
    return args;
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto node = std::make_unique<CallExpr>(cur().pos);
    node->args = parse_call_args();
    node->height = std::max(callee->height, args_height(node->args)) + 1;
    node->callee = std::move(callee);
    check_height(*node);
    return node;
  }

  // name[(args)] {| name[(args)]}, applied to `input` (null inside {% filter %} / {% set | %}).
  ExprPtr parse_filter_chain(ExprPtr input) {
    while (true) {
      auto node = std::make_unique<FilterExpr>(cur().pos);
      node->name = expect_name();
      while (skip_op(".")) node->name += "." + expect_name();
      if (is_op("(")) node->args = parse_call_args();
      node->height = std::max(input ? input->height : 0, args_height(node->args)) + 1;
      node->input = std::move(input);
      check_height(*node);
      input = std::move(node);
      if (!is_op("|")) return input;
      next();
    }
  }

  ExprPtr parse_test(ExprPtr input) {
    auto node = std::make_unique<TestExpr>(cur().pos);
    next();  // is
    node->negated = skip_name("not");
    node->name = expect_name();
    while (skip_op(".")) node->name += "." + expect_name();
    const Token& t = cur();
    if (is_op("(")) {
      node->args = parse_call_args();
    } else if ((t.type == TokenType::kName || t.type == TokenType::kString || t.type == TokenType::kInteger ||
                t.type == TokenType::kFloat || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      // `x is divisibleby 3`: one argument without parentheses.
      if (is_name("is")) fail(t.pos, "you cannot chain multiple tests with 'is'");
      node->args.positional.push_back(parse_postfix(parse_primary()));
    }
    node->height = std::max(input->height, args_height(node->args)) + 1;
    node->input = std::move(input);
    check_height(*node);
    return node;
  }

  std::vector<Token> toks_;
  ParseLimits limits_;
  std::size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

void Parser::scan_names(const Expr* e, MacroDef& def) {
  if (!e) return;
  switch (e->kind) {
    case Expr::Kind::kLiteral: return;
    case Expr::Kind::kName: {
      const auto& n = static_cast<const NameExpr*>(e)->name;
      if (n == "varargs") def.uses_varargs = true;
      if (n == "kwargs") def.uses_kwargs = true;
      if (n == "caller") def.uses_caller = true;
      return;
    }
    case Expr::Kind::kList:
    case Expr::Kind::kTuple:
      for (const auto& x : static_cast<const SeqExpr*>(e)->items) scan_names(x.get(), def);
      return;
    case Expr::Kind::kDict:
      for (const auto& [k, v] : static_cast<const DictExpr*>(e)->items) {
        scan_names(k.get(), def);
        scan_names(v.get(), def);
      }
      return;
    case Expr::Kind::kAttr: scan_names(static_cast<const AttrExpr*>(e)->object.get(), def); return;
    case Expr::Kind::kItem: {
      const auto* x = static_cast<const ItemExpr*>(e);
      scan_names(x->object.get(), def);
      scan_names(x->index.get(), def);
      return;
    }
    case Expr::Kind::kSlice: {
      const auto* x = static_cast<const SliceExpr*>(e);
      for (const Expr* c : {x->object.get(), x->start.get(), x->stop.get(), x->step.get()}) scan_names(c, def);
      return;
    }
    case Expr::Kind::kCall: {
      const auto* x = static_cast<const CallExpr*>(e);
      scan_names(x->callee.get(), def);
      scan_args(x->args, def);
      return;
    }
    case Expr::Kind::kFilter: {
      const auto* x = static_cast<const FilterExpr*>(e);
      scan_names(x->input.get(), def);
      scan_args(x->args, def);
      return;
    }
    case Expr::Kind::kTest: {
      const auto* x = static_cast<const TestExpr*>(e);
      scan_names(x->input.get(), def);
      scan_args(x->args, def);
      return;
    }
    case Expr::Kind::kUnary: scan_names(static_cast<const UnaryExpr*>(e)->operand.get(), def); return;
    case Expr::Kind::kBinary: {
      const auto* x = static_cast<const BinaryExpr*>(e);
      scan_names(x->lhs.get(), def);
      scan_names(x->rhs.get(), def);
      return;
    }
    case Expr::Kind::kCompare: {
      const auto* x = static_cast<const CompareExpr*>(e);
      scan_names(x->first.get(), def);
      for (const auto& [op, r] : x->rest) scan_names(r.get(), def);
      return;
    }
    case Expr::Kind::kCond: {
      const auto* x = static_cast<const CondExpr*>(e);
      for (const Expr* c : {x->cond.get(), x->then_expr.get(), x->else_expr.get()}) scan_names(c, def);
      return;
    }
  }
}

void Parser::scan_names(const Body& body, MacroDef& def) {
  for (const auto& s : body) {
    switch (s->kind) {
      case Stmt::Kind::kEmit: scan_names(static_cast<const EmitStmt&>(*s).expr.get(), def); break;
      case Stmt::Kind::kIf: {
        const auto& x = static_cast<const IfStmt&>(*s);
        for (const auto& [c, b] : x.branches) {
          scan_names(c.get(), def);
          scan_names(b, def);
        }
        scan_names(x.else_body, def);
        break;
      }
      case Stmt::Kind::kFor: {
        const auto& x = static_cast<const ForStmt&>(*s);
        scan_names(x.iter.get(), def);
        scan_names(x.filter.get(), def);
        scan_names(x.body, def);
        scan_names(x.else_body, def);
        break;
      }
      case Stmt::Kind::kSet: scan_names(static_cast<const SetStmt&>(*s).value.get(), def); break;
      case Stmt::Kind::kSetBlock: {
        const auto& x = static_cast<const SetBlockStmt&>(*s);
        scan_names(x.filter.get(), def);
        scan_names(x.body, def);
        break;
      }
      // Like Jinja2, names inside nested macros and call bodies count too.
      case Stmt::Kind::kCallBlock: {
        const auto& x = static_cast<const CallBlockStmt&>(*s);
        scan_names(x.call.get(), def);
        scan_names(x.caller->body, def);
        for (const auto& d : x.caller->defaults) scan_names(d.get(), def);
        break;
      }
      case Stmt::Kind::kMacro: {
        const auto& x = static_cast<const MacroStmt&>(*s);
        scan_names(x.def->body, def);
        for (const auto& d : x.def->defaults) scan_names(d.get(), def);
        break;
      }
      case Stmt::Kind::kFilterBlock: {
        const auto& x = static_cast<const FilterBlockStmt&>(*s);
        scan_names(x.filter.get(), def);
        scan_names(x.body, def);
        break;
      }
      case Stmt::Kind::kWith: {
        const auto& x = static_cast<const WithStmt&>(*s);
        for (const auto& [t, e] : x.assignments) scan_names(e.get(), def);
        scan_names(x.body, def);
        break;
      }
      case Stmt::Kind::kScope: scan_names(static_cast<const ScopeStmt&>(*s).body, def); break;
      default: break;  // text, break/continue
    }
  }
}

}  // namespace

std::unique_ptr<Program> parse_template(std::string_view source, const ParseLimits& limits) {
  return Parser(tokenize(source), limits).run();
}

}  // namespace r1::chat::jinja
