// Template interpreter: evaluation of expressions (Python semantics for operators, Jinja2's
// getattr/getitem and undefined rules) and execution of statements with Jinja2's scoping.
#include "chat/jinja_interp.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "chat/jinja_builtins.h"
#include "chat/jinja_text.h"

namespace r1::chat::jinja {

namespace {

// A macro, or the body of a {% call %} block passed to a macro as `caller`.
class Macro : public Object {
 public:
  Macro(const MacroDef* def, std::shared_ptr<Scope> closure) : def_(def), closure_(std::move(closure)) {}
  std::string type_name() const override { return "Macro"; }
  bool is_callable() const override { return true; }
  Value call(Interpreter& in, CallArgs& args) override {
    if (!closure_) throw_error("macro '" + def_->name + "' called after its template finished rendering");
    return in.call_macro(*def_, closure_, args);
  }
  Value attr(std::string_view name) const override {
    if (name == "name") return Value(def_->name);
    if (name == "arguments") {
      List names;
      for (const auto& p : def_->params) names.emplace_back(p);
      return Value::tuple(std::move(names));
    }
    if (name == "catch_kwargs") return Value(def_->uses_kwargs);
    if (name == "catch_varargs") return Value(def_->uses_varargs);
    if (name == "caller") return Value(def_->uses_caller);
    return Value();
  }
  std::string str() const override { return "<Macro " + py_str_repr(def_->name) + ">"; }
  void release() override { closure_.reset(); }

 private:
  const MacroDef* def_;
  std::shared_ptr<Scope> closure_;
};

// The `loop` variable of a for loop. One object per loop run, updated as the loop advances.
class LoopObject : public Object {
 public:
  LoopObject(std::shared_ptr<const List> items, int depth, const ForStmt* stmt, std::shared_ptr<Scope> outer)
      : items_(std::move(items)), depth_(depth), stmt_(stmt), outer_(std::move(outer)) {}
  void set_index(std::size_t i) { index_ = i; }

  std::string type_name() const override { return "LoopContext"; }
  Value attr(std::string_view name) const override {
    const auto n = static_cast<std::int64_t>(items_->size());
    const auto i = static_cast<std::int64_t>(index_);
    if (name == "index") return Value(i + 1);
    if (name == "index0") return Value(i);
    if (name == "revindex") return Value(n - i);
    if (name == "revindex0") return Value(n - i - 1);
    if (name == "first") return Value(i == 0);
    if (name == "last") return Value(i == n - 1);
    if (name == "length") return Value(n);
    if (name == "depth") return Value(static_cast<std::int64_t>(depth_));
    if (name == "depth0") return Value(static_cast<std::int64_t>(depth_ - 1));
    if (name == "previtem") return i > 0 ? (*items_)[index_ - 1] : Value::undefined("there is no previous item");
    if (name == "nextitem") return i + 1 < n ? (*items_)[index_ + 1] : Value::undefined("there is no next item");
    return Value();
  }
  bool has_method(std::string_view name) const override { return name == "cycle" || name == "changed"; }
  Value call_method(Interpreter&, std::string_view name, CallArgs& args, bool& found) override {
    found = true;
    if (!args.keywords.empty()) throw_error("loop." + std::string(name) + "() takes no keyword arguments");
    if (name == "cycle") {
      if (args.positional.empty()) throw_error("no items for cycling given");
      return args.positional[index_ % args.positional.size()];
    }
    if (name == "changed") {
      Value now = Value::tuple(args.positional);
      const bool changed = !has_last_ || !py_equal(now, last_);
      last_ = std::move(now);
      has_last_ = true;
      return Value(changed);
    }
    found = false;
    return Value();
  }
  bool is_callable() const override { return true; }
  // loop(children) in a `recursive` loop renders the body again one level deeper.
  Value call(Interpreter& in, CallArgs& args) override {
    if (!stmt_->recursive) throw_error("tried to call a non-recursive loop; add the 'recursive' modifier to the for tag");
    if (args.positional.size() != 1 || !args.keywords.empty()) throw_error("loop() takes exactly one argument");
    if (!outer_) throw_error("loop() called after its loop finished");
    return Value(in.run_recursive(*stmt_, args.positional[0], depth_ + 1, outer_));
  }
  std::string str() const override {
    return fmt::format("<LoopContext {}/{}>", index_ + 1, items_->size());
  }
  void release() override {
    outer_.reset();
    last_ = Value();
  }

 private:
  std::shared_ptr<const List> items_;
  std::size_t index_ = 0;
  int depth_;
  const ForStmt* stmt_;
  std::shared_ptr<Scope> outer_;  // set for recursive loops only
  Value last_;
  bool has_last_ = false;
};

std::string unsupported(const char* op, const Value& a, const Value& b) {
  return fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, py_type(a), py_type(b));
}

// Python ints are unbounded; ours are 64-bit, and leaving that range is an error.
std::int64_t checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw_error("integer overflow (the result does not fit in 64 bits)");
  return r;
}
std::int64_t checked_sub(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) throw_error("integer overflow (the result does not fit in 64 bits)");
  return r;
}
std::int64_t checked_mul(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw_error("integer overflow (the result does not fit in 64 bits)");
  return r;
}

// CPython's float floor division and modulo (results take the divisor's sign).
double py_float_mod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0) {
    if ((b < 0) != (m < 0)) m += b;
  } else {
    m = std::copysign(0.0, b);
  }
  return m;
}

double py_float_floordiv(double a, double b) {
  const double m = std::fmod(a, b);
  double div = (a - m) / b;
  if (m != 0 && ((b < 0) != (m < 0))) div -= 1.0;
  if (div == 0) return std::copysign(0.0, a / b);
  double f = std::floor(div);
  if (div - f > 0.5) f += 1.0;
  return f;
}

Value repeat(Interpreter& in, const Value& seq, std::int64_t n) {
  if (n <= 0) return seq.is_string() ? Value(std::string()) : seq.is_tuple() ? Value::tuple({}) : Value::list({});
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && static_cast<std::uint64_t>(n) > in.limits().max_output_bytes / s.size() + 1)
      throw_limit("string repetition exceeds the output size limit");
    in.check_size(s.size() * static_cast<std::size_t>(n));
    std::string out;
    out.reserve(s.size() * static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) out += s;
    return Value(std::move(out));
  }
  const List& items = seq.as_list();
  if (!items.empty() && static_cast<std::uint64_t>(n) > in.limits().max_steps / items.size() + 1)
    throw_limit("list repetition exceeds the work limit");
  in.count_steps(items.size() * static_cast<std::uint64_t>(n));
  List out;
  for (std::int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Operators

Value binary_op(Op op, const Value& a, const Value& b, Interpreter& in) {
  if (op == Op::kConcat) {
    std::string s = a.str();
    const std::string t = b.str();
    in.check_size(s.size() + t.size());
    return Value(s + t);
  }
  if (op == Op::kMod && a.is_string()) return Value(percent_format(in, a.as_string(), b));
  if (a.is_undefined()) throw_undefined(a);
  if (b.is_undefined()) throw_undefined(b);
  const bool ints = a.is_integral() && b.is_integral();
  const bool nums = a.is_number() && b.is_number();
  switch (op) {
    case Op::kAdd:
      if (ints) return Value(checked_add(a.as_int(), b.as_int()));
      if (nums) return Value(a.as_float() + b.as_float());
      if (a.is_string() && b.is_string()) {
        in.check_size(a.as_string().size() + b.as_string().size());
        return Value(a.as_string() + b.as_string());
      }
      if (a.is_sequence() && a.kind() == b.kind()) {
        in.count_steps(a.as_list().size() + b.as_list().size());
        List out = a.as_list();
        out.insert(out.end(), b.as_list().begin(), b.as_list().end());
        return a.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
      }
      if (a.is_string() || a.is_sequence())
        throw_error(fmt::format("can only concatenate {} (not \"{}\") to {}", py_type(a), py_type(b), py_type(a)));
      throw_error(unsupported("+", a, b));
    case Op::kSub:
      if (ints) return Value(checked_sub(a.as_int(), b.as_int()));
      if (nums) return Value(a.as_float() - b.as_float());
      throw_error(unsupported("-", a, b));
    case Op::kMul:
      if (ints) return Value(checked_mul(a.as_int(), b.as_int()));
      if (nums) return Value(a.as_float() * b.as_float());
      if ((a.is_string() || a.is_sequence()) && b.is_integral()) return repeat(in, a, b.as_int());
      if (a.is_integral() && (b.is_string() || b.is_sequence())) return repeat(in, b, a.as_int());
      if (a.is_string() || a.is_sequence() || b.is_string() || b.is_sequence())
        throw_error(fmt::format("can't multiply sequence by non-int of type '{}'",
                                py_type(a.is_string() || a.is_sequence() ? b : a)));
      throw_error(unsupported("*", a, b));
    case Op::kDiv:
      if (nums) {
        if (b.as_float() == 0) throw_error("division by zero");
        return Value(a.as_float() / b.as_float());
      }
      throw_error(unsupported("/", a, b));
    case Op::kFloorDiv:
      if (ints) {
        const std::int64_t x = a.as_int(), y = b.as_int();
        if (y == 0) throw_error("integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) throw_error("integer overflow (the result does not fit in 64 bits)");
        std::int64_t q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
        return Value(q);
      }
      if (nums) {
        if (b.as_float() == 0) throw_error("float floor division by zero");
        return Value(py_float_floordiv(a.as_float(), b.as_float()));
      }
      throw_error(unsupported("//", a, b));
    case Op::kMod:
      if (ints) {
        const std::int64_t x = a.as_int(), y = b.as_int();
        if (y == 0) throw_error("integer division or modulo by zero");
        if (y == -1) return Value(std::int64_t{0});
        std::int64_t m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return Value(m);
      }
      if (nums) {
        if (b.as_float() == 0) throw_error("float modulo by zero");
        return Value(py_float_mod(a.as_float(), b.as_float()));
      }
      throw_error(unsupported("%", a, b));
    case Op::kPow:
      if (ints && b.as_int() >= 0) {
        std::int64_t base = a.as_int(), e = b.as_int(), result = 1;
        while (e > 0) {
          if (e & 1) result = checked_mul(result, base);
          e >>= 1;
          if (e > 0) base = checked_mul(base, base);
        }
        return Value(result);
      }
      if (nums) {
        if (a.as_float() == 0 && b.as_float() < 0) throw_error("0.0 cannot be raised to a negative power");
        const double v = std::pow(a.as_float(), b.as_float());
        if (std::isnan(v) && !std::isnan(a.as_float()) && !std::isnan(b.as_float()))
          throw_error("negative number cannot be raised to a fractional power (complex result)");
        return Value(v);
      }
      throw_error(unsupported("** or pow()", a, b));
    default: break;
  }
  throw_error("unsupported operator");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kString:
      if (!item.is_string())
        throw_error(fmt::format("'in <string>' requires string as left operand, not {}", py_type(item)));
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      for (const Value& v : container.as_list())
        if (py_equal(v, item)) return true;
      return false;
    case Value::Kind::kDict:
      if (item.is_list() || item.is_dict()) throw_error(fmt::format("unhashable type: '{}'", py_type(item)));
      return container.as_dict().find(item) != nullptr;
    case Value::Kind::kUndefined: return false;  // Jinja2's Undefined iterates as empty
    default: throw_error(fmt::format("argument of type '{}' is not iterable", py_type(container)));
  }
}

// ---------------------------------------------------------------------------------------------
// Scopes and services

const Value* Scope::find_local(std::string_view name) const {
  for (const auto& [k, v] : vars)
    if (k == name) return &v;
  return nullptr;
}

void Scope::set(std::string_view name, Value value) {
  for (auto& [k, v] : vars) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  vars.emplace_back(std::string(name), std::move(value));
}

Interpreter::~Interpreter() {
  for (auto& obj : tracked_) obj->release();
}

Interpreter::DepthGuard::DepthGuard(Interpreter&, int& counter, int limit, const char* what) : counter_(counter) {
  if (counter_ >= limit) throw_limit(fmt::format("{} nested more than {} levels deep", what, limit));
  ++counter_;
}

void Interpreter::count_steps(std::uint64_t n) {
  steps_ += n;
  if (steps_ > limits_.max_steps)
    throw_limit(fmt::format("template rendering exceeded {} steps (an endless or very large loop?)", limits_.max_steps));
}

// One step per element or per 16 bytes keeps the worst case (20M steps) well under a second or
// two of copying or comparing.
void Interpreter::charge_for(const Value& v) {
  if (v.is_string()) count_steps(v.as_string().size() / 16);
  else if (v.is_sequence()) count_steps(v.as_list().size());
  else if (v.is_dict()) count_steps(v.as_dict().size());
}

void Interpreter::check_size(std::size_t bytes) {
  if (bytes > limits_.max_output_bytes)
    throw_limit(fmt::format("template built a string of {} bytes, over the limit of {}", bytes, limits_.max_output_bytes));
  count_steps(1 + bytes / 64);
}

void Interpreter::emit(std::string_view text) {
  out_->append(text);
  if (out_->size() > limits_.max_output_bytes)
    throw_limit(fmt::format("template output exceeds the limit of {} bytes", limits_.max_output_bytes));
}

void Interpreter::rethrow_located(const TemplateError& e, SourcePos pos) {
  if (e.kind() == TemplateError::Kind::kRaised) {  // the template's own message, unchanged
    TemplateError raised(e.what(), e.kind());
    raised.set_located();
    throw raised;
  }
  TemplateError located(fmt::format("{}:{}: {}", pos.line, pos.column, e.what()), e.kind());
  located.set_located();
  throw located;
}

List Interpreter::iterate(const Value& v) {
  charge_for(v);
  switch (v.kind()) {
    case Value::Kind::kList:
    case Value::Kind::kTuple: return v.as_list();
    case Value::Kind::kDict: {
      List keys;
      keys.reserve(v.as_dict().size());
      for (const auto& [k, val] : v.as_dict().items) keys.push_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      List chars;
      const std::string& s = v.as_string();
      for (std::size_t i = 0; i < s.size();) {
        const std::size_t start = i;
        utf8_next(s, i);
        chars.emplace_back(s.substr(start, i - start));
      }
      return chars;
    }
    case Value::Kind::kUndefined: return {};
    default: throw_error(fmt::format("'{}' object is not iterable", py_type(v)));
  }
}

Value Interpreter::lookup(std::string_view name) {
  for (const Scope* s = scope_.get(); s; s = s->parent.get())
    if (const Value* v = s->find_local(name)) return *v;
  Value g = find_global(name);
  if (!g.is_undefined()) return g;
  return Value::undefined(fmt::format("'{}' is undefined", name));
}

Value Interpreter::get_attr(const Value& obj, std::string_view name) {
  auto missing = [&] { return Value::undefined(fmt::format("'{}' has no attribute '{}'", obj.type_name(), name)); };
  switch (obj.kind()) {
    case Value::Kind::kUndefined: throw_undefined(obj);
    case Value::Kind::kDict: {
      // Python attributes (the dict's methods) win over keys, as in Jinja2's getattr.
      if (has_builtin_method(obj, name)) return Value::object(std::make_shared<BoundMethod>(obj, std::string(name)));
      if (const Value* v = obj.as_dict().find(name)) return *v;
      return missing();
    }
    case Value::Kind::kTuple:
      // groupby's (grouper, list) pairs are named tuples in Jinja2.
      if (obj.as_list().size() == 2 && (name == "grouper" || name == "list"))
        return obj.as_list()[name == "grouper" ? 0 : 1];
      [[fallthrough]];
    case Value::Kind::kString:
    case Value::Kind::kList:
      if (has_builtin_method(obj, name)) return Value::object(std::make_shared<BoundMethod>(obj, std::string(name)));
      return missing();
    case Value::Kind::kObject: {
      Value v = obj.as_object()->attr(name);
      if (!v.is_undefined()) return v;
      if (obj.as_object()->has_method(name)) return Value::object(std::make_shared<BoundMethod>(obj, std::string(name)));
      return missing();
    }
    default: return missing();
  }
}

Value Interpreter::get_item(const Value& obj, const Value& key) {
  auto fallback = [&]() -> Value {
    if (key.is_string()) return get_attr(obj, key.as_string());
    return Value::undefined(fmt::format("'{}' has no element {}", obj.type_name(), key.repr()));
  };
  switch (obj.kind()) {
    case Value::Kind::kUndefined: throw_undefined(obj);
    case Value::Kind::kDict: {
      if (!key.is_list() && !key.is_dict()) {
        if (const Value* v = obj.as_dict().find(key)) return *v;
      }
      return fallback();
    }
    case Value::Kind::kList:
    case Value::Kind::kTuple:
    case Value::Kind::kString: {
      if (!key.is_integral()) return fallback();
      std::int64_t i = key.as_int();
      if (obj.is_string()) {
        const std::string& s = obj.as_string();
        charge_for(obj);
        if (is_ascii(s)) {
          const auto n = static_cast<std::int64_t>(s.size());
          if (i < 0) i += n;
          if (i < 0 || i >= n) return fallback();
          return Value(std::string(1, s[static_cast<std::size_t>(i)]));
        }
        const std::vector<char32_t> cps = utf8_decode(s);
        const auto n = static_cast<std::int64_t>(cps.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) return fallback();
        std::string out;
        utf8_append(out, cps[static_cast<std::size_t>(i)]);
        return Value(std::move(out));
      }
      const List& items = obj.as_list();
      const auto n = static_cast<std::int64_t>(items.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return fallback();
      return items[static_cast<std::size_t>(i)];
    }
    default: return fallback();
  }
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  count_steps();
  if (callee.is_object() && callee.as_object()->is_callable()) return callee.as_object()->call(*this, args);
  if (callee.is_undefined()) throw_undefined(callee);
  throw_error(fmt::format("'{}' object is not callable", py_type(callee)));
}

Value Interpreter::apply_filter(std::string_view name, const Value& input, CallArgs& args) {
  const FilterFn fn = find_filter(name);
  if (!fn) throw_error(fmt::format("no filter named '{}'", name));
  count_steps();
  charge_for(input);
  return fn(*this, input, args);
}

bool Interpreter::apply_test(std::string_view name, const Value& input, CallArgs& args) {
  const TestFn fn = find_test(name);
  if (!fn) throw_error(fmt::format("no test named '{}'", name));
  count_steps();
  charge_for(input);
  return fn(*this, input, args);
}

Value Interpreter::call_macro(const MacroDef& def, const std::shared_ptr<Scope>& closure, CallArgs& args) {
  DepthGuard guard(*this, call_depth_, limits_.max_call_depth, "macro calls");
  auto scope = std::make_shared<Scope>(closure);
  const std::size_t n_params = def.params.size();
  const std::size_t n_pos = std::min(args.positional.size(), n_params);
  auto take_keyword = [&](const std::string& name, Value& out) {
    for (auto it = args.keywords.begin(); it != args.keywords.end(); ++it) {
      if (it->first == name) {
        out = std::move(it->second);
        args.keywords.erase(it);
        return true;
      }
    }
    return false;
  };
  // Parameters bind in order so that a default can refer to an earlier parameter.
  ScopeSwap swap(*this, scope);
  for (std::size_t i = 0; i < n_params; ++i) {
    Value v;
    if (i < n_pos) {
      v = args.positional[i];
    } else if (!take_keyword(def.params[i], v)) {
      if (def.defaults[i]) v = eval(*def.defaults[i]);
      else v = Value::undefined(fmt::format("parameter '{}' was not provided", def.params[i]));
    }
    scope->set(def.params[i], std::move(v));
  }
  if (def.uses_caller && !scope->find_local("caller")) {
    Value caller;
    if (!take_keyword("caller", caller)) caller = Value::undefined("no caller defined");
    scope->set("caller", std::move(caller));
  }
  if (def.uses_kwargs) {
    Dict kw;
    for (auto& [k, v] : args.keywords) kw.set(Value(k), std::move(v));
    scope->set("kwargs", Value::dict(std::move(kw)));
  } else if (!args.keywords.empty()) {
    if (args.keywords.front().first == "caller")
      throw_error(fmt::format("macro '{}' was called from a {{% call %}} block but never uses caller()", def.name));
    throw_error(fmt::format("macro '{}' takes no keyword argument '{}'", def.name, args.keywords.front().first));
  }
  if (def.uses_varargs) {
    List rest;
    for (std::size_t i = n_pos; i < args.positional.size(); ++i) rest.push_back(args.positional[i]);
    scope->set("varargs", Value::tuple(std::move(rest)));
  } else if (args.positional.size() > n_params) {
    throw_error(fmt::format("macro '{}' takes not more than {} argument(s)", def.name, n_params));
  }
  std::string out;
  std::string* saved = out_;
  out_ = &out;
  try {
    exec_body(def.body);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return Value(std::move(out));
}

// ---------------------------------------------------------------------------------------------
// Expressions

Value Interpreter::eval(const Expr& e) {
  DepthGuard guard(*this, eval_depth_, limits_.max_eval_depth, "template evaluation");
  try {
    count_steps();
    return eval_inner(e);
  } catch (const TemplateError& err) {
    if (err.located()) throw;
    rethrow_located(err, e.pos);
  }
}

CallArgs Interpreter::eval_args(const ArgList& a) {
  CallArgs args;
  for (const auto& e : a.positional) args.positional.push_back(eval(*e));
  if (a.star) {
    Value rest = eval(*a.star);
    for (Value& v : iterate(rest)) args.positional.push_back(std::move(v));
  }
  for (const auto& [k, e] : a.keywords) args.keywords.emplace_back(k, eval(*e));
  if (a.star_star) {
    Value kw = eval(*a.star_star);
    if (!kw.is_dict()) throw_error(fmt::format("argument after ** must be a mapping, not {}", py_type(kw)));
    for (const auto& [k, v] : kw.as_dict().items) {
      if (!k.is_string()) throw_error("keywords must be strings");
      for (const auto& [name, val] : args.keywords)
        if (name == k.as_string()) throw_error(fmt::format("got multiple values for keyword argument '{}'", name));
      args.keywords.emplace_back(k.as_string(), v);
    }
  }
  return args;
}

Value Interpreter::eval_call(const CallExpr& e) {
  if (e.callee->kind == Expr::Kind::kAttr) {
    // obj.method(...): call builtin methods directly instead of materializing a bound method.
    const auto& attr = static_cast<const AttrExpr&>(*e.callee);
    Value obj = eval(*attr.object);
    if (obj.is_undefined()) throw_undefined(obj);
    if (!obj.is_object() && has_builtin_method(obj, attr.name)) {
      CallArgs args = eval_args(e.args);
      count_steps();
      charge_for(obj);
      bool found = true;
      return call_builtin_method(*this, obj, attr.name, args, found);
    }
    if (obj.is_object() && obj.as_object()->has_method(attr.name)) {
      CallArgs args = eval_args(e.args);
      count_steps();
      bool found = true;
      return obj.as_object()->call_method(*this, attr.name, args, found);
    }
    Value fn = get_attr(obj, attr.name);
    CallArgs args = eval_args(e.args);
    return call(fn, args);
  }
  Value fn = eval(*e.callee);
  CallArgs args = eval_args(e.args);
  return call(fn, args);
}

Value Interpreter::eval_slice(const SliceExpr& e) {
  Value obj = eval(*e.object);
  if (obj.is_undefined()) throw_undefined(obj);
  auto bound = [&](const ExprPtr& x, bool& given) -> std::int64_t {
    given = false;
    if (!x) return 0;
    Value v = eval(*x);
    if (v.is_none()) return 0;
    if (!v.is_integral()) throw_error("slice indices must be integers or None");
    given = true;
    return v.as_int();
  };
  bool has_start, has_stop, has_step;
  const std::int64_t start_v = bound(e.start, has_start);
  const std::int64_t stop_v = bound(e.stop, has_stop);
  const std::int64_t step_v = bound(e.step, has_step);
  const std::int64_t st = has_step ? step_v : 1;
  if (st == 0) throw_error("slice step cannot be zero");
  if (!obj.is_string() && !obj.is_sequence())
    return Value::undefined(fmt::format("'{}' cannot be sliced", obj.type_name()));
  std::vector<char32_t> cps;
  charge_for(obj);
  const bool ascii = obj.is_string() && is_ascii(obj.as_string());
  if (obj.is_string() && !ascii) cps = utf8_decode(obj.as_string());
  const auto n = static_cast<std::int64_t>(obj.is_string() ? (ascii ? obj.as_string().size() : cps.size()) : obj.as_list().size());
  // PySlice_AdjustIndices.
  auto adjust = [&](bool given, std::int64_t v, std::int64_t dflt) {
    if (!given) return dflt;
    if (v < 0) {
      v += n;
      if (v < 0) v = st < 0 ? -1 : 0;
    } else if (v >= n) {
      v = st < 0 ? n - 1 : n;
    }
    return v;
  };
  const std::int64_t start = adjust(has_start, start_v, st < 0 ? n - 1 : 0);
  const std::int64_t stop = adjust(has_stop, stop_v, st < 0 ? -1 : n);
  // Number of picked indices, computed without overflowing for huge steps.
  std::int64_t count = 0;
  if (st > 0 && start < stop) count = (stop - start - 1) / st + 1;
  if (st < 0 && stop < start) count = (start - stop - 1) / (st == INT64_MIN ? INT64_MAX : -st) + 1;
  std::vector<std::size_t> picks;
  picks.reserve(static_cast<std::size_t>(count));
  for (std::int64_t k = 0; k < count; ++k) picks.push_back(static_cast<std::size_t>(start + k * st));
  count_steps(picks.size());
  if (obj.is_string()) {
    std::string out;
    if (ascii) {
      for (std::size_t i : picks) out.push_back(obj.as_string()[i]);
    } else {
      for (std::size_t i : picks) utf8_append(out, cps[i]);
    }
    return Value(std::move(out));
  }
  List out;
  out.reserve(picks.size());
  for (std::size_t i : picks) out.push_back(obj.as_list()[i]);
  return obj.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

Value Interpreter::eval_compare(const CompareExpr& e) {
  Value left = eval(*e.first);
  for (const auto& [op, rhs_expr] : e.rest) {
    Value right = eval(*rhs_expr);
    // `in` and equality walk containers and strings.
    count_steps();
    charge_for(right);
    if (op != Op::kIn && op != Op::kNotIn) charge_for(left);
    bool ok = false;
    switch (op) {
      case Op::kEq: ok = py_equal(left, right); break;
      case Op::kNe: ok = !py_equal(left, right); break;
      case Op::kLt: ok = py_less(left, right); break;
      case Op::kLe: ok = !py_less(right, left); break;
      case Op::kGt: ok = py_less(right, left); break;
      case Op::kGe: ok = !py_less(left, right); break;
      case Op::kIn: ok = contains(right, left); break;
      case Op::kNotIn: ok = !contains(right, left); break;
      default: break;
    }
    if (!ok) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Value Interpreter::eval_filter_chain(const Expr& chain, Value input) {
  const auto& f = static_cast<const FilterExpr&>(chain);
  Value in = f.input ? eval_filter_chain(*f.input, std::move(input)) : std::move(input);
  CallArgs args = eval_args(f.args);
  try {
    return apply_filter(f.name, in, args);
  } catch (const TemplateError& err) {
    if (err.located()) throw;
    rethrow_located(err, f.pos);
  }
}

Value Interpreter::eval_inner(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kLiteral: return static_cast<const LiteralExpr&>(e).value;
    case Expr::Kind::kName: return lookup(static_cast<const NameExpr&>(e).name);
    case Expr::Kind::kList:
    case Expr::Kind::kTuple: {
      List items;
      for (const auto& x : static_cast<const SeqExpr&>(e).items) items.push_back(eval(*x));
      return e.kind == Expr::Kind::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case Expr::Kind::kDict: {
      Dict d;
      for (const auto& [k, v] : static_cast<const DictExpr&>(e).items) {
        count_steps(d.size() / 16);  // Dict::set scans the keys
        Value key = eval(*k);
        if (key.is_list() || key.is_dict()) throw_error(fmt::format("unhashable type: '{}'", py_type(key)));
        d.set(std::move(key), eval(*v));
      }
      return Value::dict(std::move(d));
    }
    case Expr::Kind::kAttr: {
      const auto& a = static_cast<const AttrExpr&>(e);
      return get_attr(eval(*a.object), a.name);
    }
    case Expr::Kind::kItem: {
      const auto& a = static_cast<const ItemExpr&>(e);
      Value obj = eval(*a.object);
      return get_item(obj, eval(*a.index));
    }
    case Expr::Kind::kSlice: return eval_slice(static_cast<const SliceExpr&>(e));
    case Expr::Kind::kCall: return eval_call(static_cast<const CallExpr&>(e));
    case Expr::Kind::kFilter: {
      const auto& f = static_cast<const FilterExpr&>(e);
      Value input = eval(*f.input);
      CallArgs args = eval_args(f.args);
      return apply_filter(f.name, input, args);
    }
    case Expr::Kind::kTest: {
      const auto& t = static_cast<const TestExpr&>(e);
      Value input = eval(*t.input);
      CallArgs args = eval_args(t.args);
      return Value(apply_test(t.name, input, args) != t.negated);
    }
    case Expr::Kind::kUnary: {
      const auto& u = static_cast<const UnaryExpr&>(e);
      Value v = eval(*u.operand);
      if (u.op == Op::kNot) return Value(!v.truthy());
      if (v.is_undefined()) throw_undefined(v);
      if (!v.is_number())
        throw_error(fmt::format("bad operand type for unary {}: '{}'", u.op == Op::kNeg ? '-' : '+', py_type(v)));
      if (u.op == Op::kPos) return v.is_float() ? v : Value(v.as_int());
      if (v.is_float()) return Value(-v.as_float());
      if (v.as_int() == INT64_MIN) throw_error("integer overflow (the result does not fit in 64 bits)");
      return Value(-v.as_int());
    }
    case Expr::Kind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      if (b.op == Op::kAnd) {
        Value l = eval(*b.lhs);
        return l.truthy() ? eval(*b.rhs) : l;
      }
      if (b.op == Op::kOr) {
        Value l = eval(*b.lhs);
        return l.truthy() ? l : eval(*b.rhs);
      }
      Value l = eval(*b.lhs);
      Value r = eval(*b.rhs);
      return binary_op(b.op, l, r, *this);
    }
    case Expr::Kind::kCompare: return eval_compare(static_cast<const CompareExpr&>(e));
    case Expr::Kind::kCond: {
      const auto& c = static_cast<const CondExpr&>(e);
      if (eval(*c.cond).truthy()) return eval(*c.then_expr);
      if (c.else_expr) return eval(*c.else_expr);
      return Value::undefined("the inline if-expression evaluated to false and has no else section");
    }
  }
  throw_error("unknown expression");
}

// ---------------------------------------------------------------------------------------------
// Statements

std::string Interpreter::render(const Program& program, const Dict& context) {
  auto root = std::make_shared<Scope>(nullptr);
  for (const auto& [k, v] : context.items)
    if (k.is_string()) root->set(k.as_string(), v);
  scope_ = root;
  std::string out;
  out_ = &out;
  exec_body(program.body);
  out_ = nullptr;
  scope_.reset();
  return out;
}

Interpreter::Flow Interpreter::exec_body(const Body& body) {
  for (const auto& s : body) {
    const Flow f = exec(*s);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Stmt& s) {
  DepthGuard guard(*this, eval_depth_, limits_.max_eval_depth, "template evaluation");
  try {
    count_steps();
    return exec_inner(s);
  } catch (const TemplateError& err) {
    if (err.located()) throw;
    rethrow_located(err, s.pos);
  }
}

std::string Interpreter::capture(const Body& body, std::shared_ptr<Scope> scope) {
  std::string out;
  std::string* saved = out_;
  out_ = &out;
  ScopeSwap swap(*this, std::move(scope));
  try {
    exec_body(body);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return out;
}

void Interpreter::assign(const Target& t, Value value) {
  switch (t.kind) {
    case Target::Kind::kName: scope_->set(t.name, std::move(value)); return;
    case Target::Kind::kAttr: {
      Value ns = lookup(t.name);
      auto* obj = ns.is_object() ? dynamic_cast<Namespace*>(ns.as_object()) : nullptr;
      if (!obj) throw_error(fmt::format("cannot assign attribute on non-namespace object '{}'", t.name));
      obj->set_attr(t.attr, std::move(value));
      return;
    }
    case Target::Kind::kTuple: {
      List items = iterate(value);
      if (items.size() < t.items.size())
        throw_error(fmt::format("not enough values to unpack (expected {}, got {})", t.items.size(), items.size()));
      if (items.size() > t.items.size())
        throw_error(fmt::format("too many values to unpack (expected {})", t.items.size()));
      for (std::size_t i = 0; i < items.size(); ++i) assign(t.items[i], std::move(items[i]));
      return;
    }
  }
}

std::string Interpreter::run_loop(const ForStmt& s, List items, int depth, std::shared_ptr<Scope> outer) {
  std::string out;
  std::string* saved = out_;
  out_ = &out;
  try {
    DepthGuard guard(*this, call_depth_, limits_.max_call_depth, "recursive loop calls");
    auto shared = std::make_shared<const List>(std::move(items));
    auto loop = std::make_shared<LoopObject>(shared, depth, &s, s.recursive ? outer : nullptr);
    if (s.recursive) track(loop);  // it holds its outer scope for loop(...) calls
    for (std::size_t i = 0; i < shared->size(); ++i) {
      count_steps();
      loop->set_index(i);
      ScopeSwap swap(*this, std::make_shared<Scope>(outer));
      scope_->set("loop", Value::object(loop));
      assign(s.target, (*shared)[i]);
      if (exec_body(s.body) == Flow::kBreak) break;
    }
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return out;
}

List Interpreter::loop_items(const ForStmt& s, const Value& iterable, const std::shared_ptr<Scope>& outer) {
  List items = iterate(iterable);
  if (!s.filter) return items;
  // `for x in xs if cond`: the condition sees the loop target but no `loop`.
  List kept;
  for (Value& item : items) {
    count_steps();
    ScopeSwap swap(*this, std::make_shared<Scope>(outer));
    assign(s.target, item);
    if (eval(*s.filter).truthy()) kept.push_back(std::move(item));
  }
  return kept;
}

std::string Interpreter::run_recursive(const ForStmt& s, const Value& iterable, int depth, std::shared_ptr<Scope> outer) {
  List items = loop_items(s, iterable, outer);
  if (items.empty()) {
    // A recursive call with nothing to iterate renders the else block, as in Jinja2.
    std::string out = capture(s.else_body, std::make_shared<Scope>(outer));
    return out;
  }
  return run_loop(s, std::move(items), depth, std::move(outer));
}

Interpreter::Flow Interpreter::exec_for(const ForStmt& s) {
  Value iterable = eval(*s.iter);
  List items;
  try {
    items = loop_items(s, iterable, scope_);
  } catch (const TemplateError& err) {
    if (err.located()) throw;
    rethrow_located(err, s.iter->pos);
  }
  if (items.empty()) {
    if (!s.else_body.empty()) {
      ScopeSwap swap(*this, std::make_shared<Scope>(scope_));
      return exec_body(s.else_body);
    }
    return Flow::kNormal;
  }
  // The loop body writes to a fresh buffer; append it in one go.
  emit(run_loop(s, std::move(items), 1, scope_));
  return Flow::kNormal;
}

void Interpreter::exec_set(const SetStmt& s) { assign(s.target, eval(*s.value)); }

Interpreter::Flow Interpreter::exec_inner(const Stmt& s) {
  switch (s.kind) {
    case Stmt::Kind::kText: emit(static_cast<const TextStmt&>(s).text); return Flow::kNormal;
    case Stmt::Kind::kEmit: {
      Value v = eval(*static_cast<const EmitStmt&>(s).expr);
      if (v.is_string()) emit(v.as_string());
      else emit(v.str());
      return Flow::kNormal;
    }
    case Stmt::Kind::kIf: {
      const auto& x = static_cast<const IfStmt&>(s);
      for (const auto& [cond, body] : x.branches)
        if (eval(*cond).truthy()) return exec_body(body);
      return exec_body(x.else_body);
    }
    case Stmt::Kind::kFor: return exec_for(static_cast<const ForStmt&>(s));
    case Stmt::Kind::kSet: exec_set(static_cast<const SetStmt&>(s)); return Flow::kNormal;
    case Stmt::Kind::kSetBlock: {
      const auto& x = static_cast<const SetBlockStmt&>(s);
      Value v(capture(x.body, std::make_shared<Scope>(scope_)));
      if (x.filter) v = eval_filter_chain(*x.filter, std::move(v));
      assign(x.target, std::move(v));
      return Flow::kNormal;
    }
    case Stmt::Kind::kMacro: {
      const auto& x = static_cast<const MacroStmt&>(s);
      auto macro = std::make_shared<Macro>(x.def.get(), scope_);
      track(macro);
      scope_->set(x.def->name, Value::object(std::move(macro)));
      return Flow::kNormal;
    }
    case Stmt::Kind::kCallBlock: {
      const auto& x = static_cast<const CallBlockStmt&>(s);
      auto caller = std::make_shared<Macro>(x.caller.get(), scope_);
      track(caller);
      Value fn = eval(*x.call->callee);
      CallArgs args = eval_args(x.call->args);
      args.keywords.emplace_back("caller", Value::object(std::move(caller)));
      emit(call(fn, args).str());
      return Flow::kNormal;
    }
    case Stmt::Kind::kFilterBlock: {
      const auto& x = static_cast<const FilterBlockStmt&>(s);
      Value content(capture(x.body, std::make_shared<Scope>(scope_)));
      emit(eval_filter_chain(*x.filter, std::move(content)).str());
      return Flow::kNormal;
    }
    case Stmt::Kind::kWith: {
      const auto& x = static_cast<const WithStmt&>(s);
      std::vector<Value> values;
      for (const auto& [t, e] : x.assignments) values.push_back(eval(*e));  // in the outer scope
      ScopeSwap swap(*this, std::make_shared<Scope>(scope_));
      for (std::size_t i = 0; i < values.size(); ++i) assign(x.assignments[i].first, std::move(values[i]));
      return exec_body(x.body);
    }
    case Stmt::Kind::kBreak: return Flow::kBreak;
    case Stmt::Kind::kContinue: return Flow::kContinue;
    case Stmt::Kind::kScope: {
      ScopeSwap swap(*this, std::make_shared<Scope>(scope_));
      return exec_body(static_cast<const ScopeStmt&>(s).body);
    }
  }
  return Flow::kNormal;
}

}  // namespace r1::chat::jinja
