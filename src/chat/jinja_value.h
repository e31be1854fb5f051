// Values of the template language: Python's None, bool, int, float, str, list, tuple and dict as
// Jinja2 sees them, plus objects (namespace, loop, macros, builtin functions). Containers are
// immutable and shared (the sandbox transformers renders with forbids mutating them); only a
// namespace changes in place. Printing, equality and JSON output follow Python.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace r1::chat::jinja {

class Interpreter;
class Object;
class Value;
struct Dict;
using List = std::vector<Value>;

// An error raised while parsing or rendering; the interpreter adds the template name and the
// position of the innermost expression or statement that failed.
class TemplateError : public std::runtime_error {
 public:
  enum class Kind { kSyntax, kRuntime, kRaised, kLimit };
  TemplateError(std::string message, Kind kind = Kind::kRuntime)
      : std::runtime_error(std::move(message)), kind_(kind) {}
  Kind kind() const { return kind_; }
  bool located() const { return located_; }
  void set_located() { located_ = true; }

 private:
  Kind kind_;
  bool located_ = false;
};

[[noreturn]] void throw_error(std::string message);
// The error for using an undefined value where Jinja2 raises UndefinedError.
[[noreturn]] void throw_undefined(const Value& v);
[[noreturn]] void throw_limit(std::string message);

// Deepest nesting of lists/dicts a value may have (JSON input or values built by a template).
inline constexpr int kMaxValueDepth = 300;

class Value {
 public:
  enum class Kind : std::uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kTuple, kDict, kObject };

  Value() = default;  // undefined
  Value(bool b) : kind_(Kind::kBool) { num_.b = b; }
  Value(int v) : Value(static_cast<std::int64_t>(v)) {}
  Value(std::int64_t v) : kind_(Kind::kInt) { num_.i = v; }
  Value(double v) : kind_(Kind::kFloat) { num_.f = v; }
  Value(std::string s);
  Value(std::string_view s) : Value(std::string(s)) {}
  Value(const char* s) : Value(std::string(s)) {}

  static Value none();
  // An undefined value that remembers why, for the error when it is used.
  static Value undefined(std::string hint);
  static Value list(List items);
  static Value tuple(List items);
  static Value dict(Dict d);
  static Value object(std::shared_ptr<Object> obj);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  // bool, int or float (Python numbers; bool is an int subclass).
  bool is_number() const { return kind_ == Kind::kBool || kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  // int or bool: usable as an integer.
  bool is_integral() const { return kind_ == Kind::kBool || kind_ == Kind::kInt; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kTuple; }
  bool is_sequence() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_object() const { return kind_ == Kind::kObject; }
  int depth() const { return depth_; }

  bool as_bool() const { return num_.b; }
  // int or bool as an integer.
  std::int64_t as_int() const { return kind_ == Kind::kBool ? (num_.b ? 1 : 0) : num_.i; }
  // Any number as a double.
  double as_float() const;
  const std::string& as_string() const { return *str_; }
  const List& as_list() const { return *list_; }
  const Dict& as_dict() const { return *dict_; }
  Object* as_object() const { return obj_.get(); }
  const std::shared_ptr<Object>& object_ptr() const { return obj_; }
  const std::string& undefined_hint() const;

  // Python truth value (undefined is false).
  bool truthy() const;
  // Python str(): what {{ value }} prints. Undefined prints as the empty string.
  std::string str() const;
  // Python repr(), as str() shows items inside containers.
  std::string repr() const;
  // Name of the type for error messages, as Jinja2 writes it ("dict object", "None").
  std::string type_name() const;
  // repr() appended to `out`; `depth` bounds nesting (a namespace may contain itself).
  void append_repr(std::string& out, int depth) const;

 private:

  Kind kind_ = Kind::kUndefined;
  // Container nesting (1 for scalars), bounded at construction so that destroying, comparing or
  // printing a value never recurses deeper than kMaxValueDepth.
  std::uint16_t depth_ = 1;
  union {
    bool b;
    std::int64_t i;
    double f;
  } num_{};
  std::shared_ptr<const std::string> str_;  // string, or the hint of an undefined value
  std::shared_ptr<const List> list_;
  std::shared_ptr<const Dict> dict_;
  std::shared_ptr<Object> obj_;
};

// A Python dict: insertion-ordered, keys compared with Python equality.
struct Dict {
  std::vector<std::pair<Value, Value>> items;

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Inserts or replaces, keeping the first insertion's position like Python.
  void set(Value key, Value value);
  std::size_t size() const { return items.size(); }
};

// Arguments of a call: positional and keyword, in call order.
struct CallArgs {
  List positional;
  std::vector<std::pair<std::string, Value>> keywords;
};

// Anything that is not plain data: namespaces, loop objects, macros, builtin functions.
class Object {
 public:
  virtual ~Object() = default;
  // Python class name, used in messages ("Namespace", "LoopContext", "Macro").
  virtual std::string type_name() const = 0;
  // Attribute lookup; an undefined Value when absent.
  virtual Value attr(std::string_view name) const;
  virtual bool is_callable() const { return false; }
  virtual Value call(Interpreter& in, CallArgs& args);
  virtual bool has_method(std::string_view) const { return false; }
  // Method call obj.name(args); sets found=false when there is no such method.
  virtual Value call_method(Interpreter& in, std::string_view name, CallArgs& args, bool& found);
  virtual std::string str() const;
  // repr() inside a container; objects that hold values print them with depth + 1.
  virtual void append_repr(std::string& out, int depth) const { out += str(); }
  // Drops references to other values so that reference cycles made during a render are freed.
  virtual void release() {}
};

// namespace(...): the one mutable object, assigned with {% set ns.attr = value %}.
class Namespace : public Object {
 public:
  std::string type_name() const override { return "Namespace"; }
  Value attr(std::string_view name) const override;
  void set_attr(std::string_view name, Value value);
  std::string str() const override;
  void append_repr(std::string& out, int depth) const override;
  void release() override { attrs_.items.clear(); }

 private:
  Dict attrs_;
};

// Python's name for the value's type ("str", "NoneType", "Namespace").
std::string py_type(const Value& v);
// Python equality (1 == 1.0 == True, deep for containers, identity for objects).
bool py_equal(const Value& a, const Value& b);
// Python ordering a < b; throws TemplateError for types Python cannot order.
bool py_less(const Value& a, const Value& b);

// Converts parsed JSON to values (objects keep their key order with ordered_json).
Value from_json(const nlohmann::json& j);
Value from_json(const nlohmann::ordered_json& j);

struct JsonOptions {
  bool ensure_ascii = false;
  int indent = -1;          // < 0: single line
  std::string indent_text;  // used when non-empty instead of `indent` spaces
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};
// json.dumps(value, ...) as transformers' tojson filter calls it.
std::string to_json(const Value& v, const JsonOptions& options);

}  // namespace r1::chat::jinja
