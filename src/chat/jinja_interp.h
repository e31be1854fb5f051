// Template interpreter: renders a parsed Program against a context, with Jinja2's scoping
// (loops, macros, call/filter/set blocks and with open a scope; if does not), its undefined-value
// rules, and the sandbox's immutability. One Interpreter per render; the Program is shared.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"

namespace r1::chat::jinja {

// Guards against runaway templates; exceeding one is an error (TemplateError kind kLimit).
struct RenderLimits {
  std::size_t max_output_bytes = std::size_t{64} << 20;  // also the largest string a template may build
  std::uint64_t max_steps = 20'000'000;                  // evaluated nodes, iterations, calls, data walked
  int max_call_depth = 100;                              // nested macro / recursive-loop calls
  int max_eval_depth = 600;                              // nested expression + statement evaluation (~1 KiB of stack each)
};

// Variables of one scope; lookups walk to the parent.
struct Scope {
  explicit Scope(std::shared_ptr<Scope> p) : parent(std::move(p)) {}
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;

  const Value* find_local(std::string_view name) const;
  void set(std::string_view name, Value value);
};

class Interpreter {
 public:
  explicit Interpreter(const RenderLimits& limits) : limits_(limits) {}
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Renders the program with `context` as the outermost variables.
  std::string render(const Program& program, const Dict& context);

  // ---- services for builtins (filters, tests, methods, globals) ----
  Value call(const Value& callee, CallArgs& args);
  Value apply_filter(std::string_view name, const Value& input, CallArgs& args);
  bool apply_test(std::string_view name, const Value& input, CallArgs& args);
  // Jinja2's obj.name (attribute first, then item) and obj[key] (item first, then attribute).
  Value get_attr(const Value& obj, std::string_view name);
  Value get_item(const Value& obj, const Value& key);
  // Items of an iterable: list/tuple items, dict keys, string characters; undefined → empty.
  List iterate(const Value& v);
  // Accounts for work done (loop iterations, calls, elements processed).
  void count_steps(std::uint64_t n = 1);
  // Accounts for an operation that walks all of `v` (a string, list or dict), so that repeating
  // cheap-looking operations on big values cannot run unbounded.
  void charge_for(const Value& v);
  // Checks a string about to be built against the size limit and accounts for the copy.
  void check_size(std::size_t bytes);
  // Keeps an object whose references may form a cycle, to release it when the render ends.
  void track(std::shared_ptr<Object> obj) { tracked_.push_back(std::move(obj)); }
  const RenderLimits& limits() const { return limits_; }

  // Calls a macro (or a call block's caller) defined with `closure` as its enclosing scope.
  Value call_macro(const MacroDef& def, const std::shared_ptr<Scope>& closure, CallArgs& args);
  // Runs the items of a for loop in a scope below `outer` (also the recursive loop(...) call);
  // returns the output.
  std::string run_loop(const ForStmt& stmt, List items, int depth, std::shared_ptr<Scope> outer);
  // loop(iterable) in a recursive loop: filters the items like the loop does, renders the else
  // block when none remain.
  std::string run_recursive(const ForStmt& stmt, const Value& iterable, int depth, std::shared_ptr<Scope> outer);

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  // Makes `scope` current until the end of the enclosing block.
  struct ScopeSwap {
    ScopeSwap(Interpreter& in, std::shared_ptr<Scope> scope) : in_(in), saved_(std::move(in.scope_)) {
      in_.scope_ = std::move(scope);
    }
    ~ScopeSwap() { in_.scope_ = std::move(saved_); }
    Interpreter& in_;
    std::shared_ptr<Scope> saved_;
  };
  struct DepthGuard {
    DepthGuard(Interpreter& in, int& counter, int limit, const char* what);
    ~DepthGuard() { --counter_; }
    int& counter_;
  };

  Value eval(const Expr& e);
  Value eval_inner(const Expr& e);
  Value eval_binary(const BinaryExpr& e);
  Value eval_compare(const CompareExpr& e);
  Value eval_call(const CallExpr& e);
  Value eval_slice(const SliceExpr& e);
  CallArgs eval_args(const ArgList& args);
  Value eval_filter_chain(const Expr& chain, Value input);
  Value lookup(std::string_view name);

  Flow exec_body(const Body& body);
  Flow exec(const Stmt& s);
  Flow exec_inner(const Stmt& s);
  Flow exec_for(const ForStmt& s);
  List loop_items(const ForStmt& s, const Value& iterable, const std::shared_ptr<Scope>& outer);
  void exec_set(const SetStmt& s);
  void assign(const Target& target, Value value);
  std::string capture(const Body& body, std::shared_ptr<Scope> scope);
  void emit(std::string_view text);

  [[noreturn]] void rethrow_located(const TemplateError& e, SourcePos pos);

  RenderLimits limits_;
  std::shared_ptr<Scope> scope_;
  std::string* out_ = nullptr;
  std::uint64_t steps_ = 0;
  int call_depth_ = 0;
  int eval_depth_ = 0;
  std::vector<std::shared_ptr<Object>> tracked_;
};

// Python's binary operators on values (shared by the interpreter and filters such as sum).
Value binary_op(Op op, const Value& a, const Value& b, Interpreter& in);
// `item in container`.
bool contains(const Value& container, const Value& item);

}  // namespace r1::chat::jinja
