// Syntax tree of a parsed template: expressions and statements as Jinja2's parser builds them.
// The tree is immutable after parsing; rendering only reads it, so one tree serves many threads.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_lexer.h"
#include "chat/jinja_value.h"

namespace r1::chat::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class Op {
  // unary
  kNot, kNeg, kPos,
  // binary
  kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow, kConcat, kAnd, kOr,
  // comparison
  kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn,
};

struct Expr {
  enum class Kind { kLiteral, kName, kList, kTuple, kDict, kAttr, kItem, kSlice, kCall, kFilter, kTest, kUnary, kBinary, kCompare, kCond };
  Expr(Kind k, SourcePos p) : kind(k), pos(p) {}
  virtual ~Expr() = default;
  Kind kind;
  SourcePos pos;
  int height = 1;  // longest path to a leaf; bounded by the parser so evaluation cannot overflow the stack
};

struct LiteralExpr : Expr {
  LiteralExpr(SourcePos p, Value v) : Expr(Kind::kLiteral, p), value(std::move(v)) {}
  Value value;
};

struct NameExpr : Expr {
  NameExpr(SourcePos p, std::string n) : Expr(Kind::kName, p), name(std::move(n)) {}
  std::string name;
};

// List or tuple display.
struct SeqExpr : Expr {
  SeqExpr(Kind k, SourcePos p) : Expr(k, p) {}
  std::vector<ExprPtr> items;
};

struct DictExpr : Expr {
  explicit DictExpr(SourcePos p) : Expr(Kind::kDict, p) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct AttrExpr : Expr {
  AttrExpr(SourcePos p, ExprPtr o, std::string n) : Expr(Kind::kAttr, p), object(std::move(o)), name(std::move(n)) {}
  ExprPtr object;
  std::string name;
};

struct ItemExpr : Expr {
  ItemExpr(SourcePos p, ExprPtr o, ExprPtr i) : Expr(Kind::kItem, p), object(std::move(o)), index(std::move(i)) {}
  ExprPtr object;
  ExprPtr index;
};

struct SliceExpr : Expr {
  explicit SliceExpr(SourcePos p) : Expr(Kind::kSlice, p) {}
  ExprPtr object;
  ExprPtr start, stop, step;  // any may be null
};

// Arguments as written at a call site: f(a, b, *rest, k=v, **more).
struct ArgList {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  ExprPtr star;       // *args
  ExprPtr star_star;  // **kwargs
};

struct CallExpr : Expr {
  explicit CallExpr(SourcePos p) : Expr(Kind::kCall, p) {}
  ExprPtr callee;
  ArgList args;
};

// value|name(args). `input` is null for the innermost filter of a {% filter %} block.
struct FilterExpr : Expr {
  explicit FilterExpr(SourcePos p) : Expr(Kind::kFilter, p) {}
  ExprPtr input;
  std::string name;
  ArgList args;
};

// value is [not] name(args)
struct TestExpr : Expr {
  explicit TestExpr(SourcePos p) : Expr(Kind::kTest, p) {}
  ExprPtr input;
  std::string name;
  ArgList args;
  bool negated = false;
};

struct UnaryExpr : Expr {
  UnaryExpr(SourcePos p, Op o, ExprPtr e) : Expr(Kind::kUnary, p), op(o), operand(std::move(e)) {}
  Op op;
  ExprPtr operand;
};

struct BinaryExpr : Expr {
  BinaryExpr(SourcePos p, Op o, ExprPtr l, ExprPtr r) : Expr(Kind::kBinary, p), op(o), lhs(std::move(l)), rhs(std::move(r)) {}
  Op op;
  ExprPtr lhs, rhs;
};

// a < b <= c: each comparison uses the previous right operand, as in Python.
struct CompareExpr : Expr {
  explicit CompareExpr(SourcePos p) : Expr(Kind::kCompare, p) {}
  ExprPtr first;
  std::vector<std::pair<Op, ExprPtr>> rest;
};

// then_expr if cond else else_expr (else_expr may be null: undefined).
struct CondExpr : Expr {
  explicit CondExpr(SourcePos p) : Expr(Kind::kCond, p) {}
  ExprPtr cond, then_expr, else_expr;
};

// Left side of {% set %} / {% for %}: a name, ns.attr, or a tuple of names.
struct Target {
  enum class Kind { kName, kAttr, kTuple };
  Kind kind = Kind::kName;
  SourcePos pos;
  std::string name;
  std::string attr;
  std::vector<Target> items;
};

// A macro or the body of a {% call %} block (the `caller`).
struct MacroDef {
  std::string name;
  SourcePos pos;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // one per param, null when required
  Body body;
  bool uses_varargs = false;  // the body reads `varargs` / `kwargs` / `caller`
  bool uses_kwargs = false;
  bool uses_caller = false;
};

struct Stmt {
  enum class Kind { kText, kEmit, kIf, kFor, kSet, kSetBlock, kMacro, kCallBlock, kFilterBlock, kWith, kBreak, kContinue, kScope };
  Stmt(Kind k, SourcePos p) : kind(k), pos(p) {}
  virtual ~Stmt() = default;
  Kind kind;
  SourcePos pos;
};

struct TextStmt : Stmt {
  TextStmt(SourcePos p, std::string t) : Stmt(Kind::kText, p), text(std::move(t)) {}
  std::string text;
};

struct EmitStmt : Stmt {
  EmitStmt(SourcePos p, ExprPtr e) : Stmt(Kind::kEmit, p), expr(std::move(e)) {}
  ExprPtr expr;
};

struct IfStmt : Stmt {
  explicit IfStmt(SourcePos p) : Stmt(Kind::kIf, p) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, elif...
  Body else_body;
};

struct ForStmt : Stmt {
  explicit ForStmt(SourcePos p) : Stmt(Kind::kFor, p) {}
  Target target;
  ExprPtr iter;
  ExprPtr filter;  // for x in xs if cond
  Body body;
  Body else_body;
  bool recursive = false;
};

struct SetStmt : Stmt {
  explicit SetStmt(SourcePos p) : Stmt(Kind::kSet, p) {}
  Target target;
  ExprPtr value;
};

// {% set x | filters %}body{% endset %}
struct SetBlockStmt : Stmt {
  explicit SetBlockStmt(SourcePos p) : Stmt(Kind::kSetBlock, p) {}
  Target target;
  ExprPtr filter;  // FilterExpr chain whose innermost input is null, or null
  Body body;
};

struct MacroStmt : Stmt {
  MacroStmt(SourcePos p, std::unique_ptr<MacroDef> d) : Stmt(Kind::kMacro, p), def(std::move(d)) {}
  std::unique_ptr<MacroDef> def;
};

// {% call(params) target(args) %}body{% endcall %}
struct CallBlockStmt : Stmt {
  explicit CallBlockStmt(SourcePos p) : Stmt(Kind::kCallBlock, p) {}
  std::unique_ptr<CallExpr> call;
  std::unique_ptr<MacroDef> caller;
};

struct FilterBlockStmt : Stmt {
  explicit FilterBlockStmt(SourcePos p) : Stmt(Kind::kFilterBlock, p) {}
  ExprPtr filter;  // FilterExpr chain whose innermost input is null
  Body body;
};

struct WithStmt : Stmt {
  explicit WithStmt(SourcePos p) : Stmt(Kind::kWith, p) {}
  std::vector<std::pair<Target, ExprPtr>> assignments;
  Body body;
};

// A body rendered in place in its own scope: {% generation %} (transformers' assistant-mask
// extension) and {% block %} (no inheritance without a loader, so the block renders where it is).
struct ScopeStmt : Stmt {
  explicit ScopeStmt(SourcePos p) : Stmt(Kind::kScope, p) {}
  Body body;
};

struct Program {
  Body body;
};

}  // namespace r1::chat::jinja
