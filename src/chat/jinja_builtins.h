// Builtins of the template language: Jinja2's filters and tests, the Python str/list/dict methods
// the sandbox allows, and the globals (range, dict, namespace, cycler, joiner, raise_exception,
// strftime_now). Each is looked up by name at render time.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_interp.h"
#include "chat/jinja_value.h"

namespace r1::chat::jinja {

using FilterFn = Value (*)(Interpreter& in, const Value& input, CallArgs& args);
using TestFn = bool (*)(Interpreter& in, const Value& input, CallArgs& args);

FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);

// obj.name(args) for str, list, tuple and dict; found=false when the type has no such method.
Value call_builtin_method(Interpreter& in, const Value& self, std::string_view name, CallArgs& args, bool& found);
bool has_builtin_method(const Value& self, std::string_view name);
// A global function by name, or an undefined Value.
Value find_global(std::string_view name);

// A builtin callable value (globals, bound methods).
class BuiltinFunction : public Object {
 public:
  using Fn = Value (*)(Interpreter& in, CallArgs& args);
  BuiltinFunction(std::string name, Fn fn) : name_(std::move(name)), fn_(fn) {}
  std::string type_name() const override { return "builtin_function_or_method"; }
  bool is_callable() const override { return true; }
  Value call(Interpreter& in, CallArgs& args) override { return fn_(in, args); }
  std::string str() const override { return "<built-in function " + name_ + ">"; }

 private:
  std::string name_;
  Fn fn_;
};

// obj.method fetched without calling it: calls the method on `self` later.
class BoundMethod : public Object {
 public:
  BoundMethod(Value self, std::string name) : self_(std::move(self)), name_(std::move(name)) {}
  std::string type_name() const override { return "builtin_function_or_method"; }
  bool is_callable() const override { return true; }
  Value call(Interpreter& in, CallArgs& args) override;
  std::string str() const override;
  void release() override { self_ = Value(); }

 private:
  Value self_;
  std::string name_;
};

// Binds a builtin's arguments to Python-style parameters by position or keyword.
class Params {
 public:
  Params(std::string_view function, CallArgs& args, std::initializer_list<std::string_view> names);
  bool has(std::size_t i) const { return given_[i]; }
  const Value& operator[](std::size_t i) const { return values_[i]; }
  Value get(std::size_t i, Value fallback) const { return given_[i] ? values_[i] : std::move(fallback); }
  std::int64_t get_int(std::size_t i, std::int64_t fallback) const;
  std::string get_string(std::size_t i, std::string fallback) const;
  bool get_bool(std::size_t i, bool fallback) const { return given_[i] ? values_[i].truthy() : fallback; }

 private:
  std::string function_;
  std::vector<std::string_view> names_;
  std::vector<Value> values_;
  std::vector<bool> given_;
};

// Python's `format % args` (printf-style) and str.format(*args, **kwargs).
std::string percent_format(Interpreter& in, const std::string& format, const Value& args);
std::string brace_format(Interpreter& in, const std::string& format, CallArgs& args);

}  // namespace r1::chat::jinja
