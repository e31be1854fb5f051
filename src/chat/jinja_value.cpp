// Template values: construction, Python printing (str/repr), equality/ordering, and conversion
// from JSON input and to JSON text (Python json.dumps rules).
#include "chat/jinja_value.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "chat/jinja_text.h"

namespace r1::chat::jinja {

namespace {

// Printing / JSON depth: only a namespace containing itself gets this deep (containers are
// bounded by kMaxValueDepth).
constexpr int kMaxNesting = kMaxValueDepth + 100;

const std::string& empty_string() {
  static const std::string s;
  return s;
}

}  // namespace

std::string py_type(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return "Undefined";
    case Value::Kind::kNone: return "NoneType";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kInt: return "int";
    case Value::Kind::kFloat: return "float";
    case Value::Kind::kString: return "str";
    case Value::Kind::kList: return "list";
    case Value::Kind::kTuple: return "tuple";
    case Value::Kind::kDict: return "dict";
    case Value::Kind::kObject: return v.as_object()->type_name();
  }
  return "object";
}

void throw_error(std::string message) { throw TemplateError(std::move(message)); }
void throw_undefined(const Value& v) {
  throw TemplateError(v.undefined_hint().empty() ? "undefined value" : v.undefined_hint());
}
void throw_limit(std::string message) { throw TemplateError(std::move(message), TemplateError::Kind::kLimit); }

Value::Value(std::string s) : kind_(Kind::kString), str_(std::make_shared<const std::string>(std::move(s))) {}

Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::undefined(std::string hint) {
  Value v;
  v.str_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}

namespace {

std::uint16_t nesting_of(const List& items) {
  int d = 0;
  for (const Value& x : items) d = std::max(d, x.depth());
  if (d + 1 > kMaxValueDepth) throw_limit(fmt::format("value nested more than {} levels deep", kMaxValueDepth));
  return static_cast<std::uint16_t>(d + 1);
}

}  // namespace

Value Value::list(List items) {
  Value v;
  v.depth_ = nesting_of(items);
  v.kind_ = Kind::kList;
  v.list_ = std::make_shared<const List>(std::move(items));
  return v;
}

Value Value::tuple(List items) {
  Value v;
  v.depth_ = nesting_of(items);
  v.kind_ = Kind::kTuple;
  v.list_ = std::make_shared<const List>(std::move(items));
  return v;
}

Value Value::dict(Dict d) {
  Value v;
  int depth = 0;
  for (const auto& [k, x] : d.items) depth = std::max({depth, k.depth(), x.depth()});
  if (depth + 1 > kMaxValueDepth) throw_limit(fmt::format("value nested more than {} levels deep", kMaxValueDepth));
  v.depth_ = static_cast<std::uint16_t>(depth + 1);
  v.kind_ = Kind::kDict;
  v.dict_ = std::make_shared<const Dict>(std::move(d));
  return v;
}

Value Value::object(std::shared_ptr<Object> obj) {
  Value v;
  v.kind_ = Kind::kObject;
  v.obj_ = std::move(obj);
  return v;
}

double Value::as_float() const {
  switch (kind_) {
    case Kind::kBool: return num_.b ? 1.0 : 0.0;
    case Kind::kInt: return static_cast<double>(num_.i);
    case Kind::kFloat: return num_.f;
    default: return 0.0;
  }
}

const std::string& Value::undefined_hint() const { return str_ ? *str_ : empty_string(); }

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return num_.b;
    case Kind::kInt: return num_.i != 0;
    case Kind::kFloat: return num_.f != 0.0;
    case Kind::kString: return !str_->empty();
    case Kind::kList:
    case Kind::kTuple: return !list_->empty();
    case Kind::kDict: return !dict_->items.empty();
    case Kind::kObject: return true;
  }
  return false;
}

std::string Value::str() const {
  switch (kind_) {
    case Kind::kUndefined: return {};
    case Kind::kString: return *str_;
    case Kind::kObject: return obj_->str();
    default: break;
  }
  std::string out;
  append_repr(out, 0);
  return out;
}

std::string Value::repr() const {
  std::string out;
  append_repr(out, 0);
  return out;
}

void Value::append_repr(std::string& out, int depth) const {
  if (depth > kMaxNesting) throw_limit("value nested too deeply to print (a namespace that contains itself?)");
  switch (kind_) {
    case Kind::kUndefined: out += "Undefined"; return;
    // Jinja2 prints Python's None/True/False (the golden renderer, @huggingface/jinja, would print
    // none/true/false; transformers uses Jinja2, which is the reference followed here).
    case Kind::kNone: out += "None"; return;
    case Kind::kBool: out += num_.b ? "True" : "False"; return;
    case Kind::kInt: out += std::to_string(num_.i); return;
    case Kind::kFloat: out += py_float_repr(num_.f); return;
    case Kind::kString: out += py_str_repr(*str_); return;
    case Kind::kList:
    case Kind::kTuple: {
      const bool tuple = kind_ == Kind::kTuple;
      out += tuple ? '(' : '[';
      for (std::size_t i = 0; i < list_->size(); ++i) {
        if (i) out += ", ";
        (*list_)[i].append_repr(out, depth + 1);
      }
      if (tuple && list_->size() == 1) out += ',';
      out += tuple ? ')' : ']';
      return;
    }
    case Kind::kDict: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : dict_->items) {
        if (!first) out += ", ";
        first = false;
        k.append_repr(out, depth + 1);
        out += ": ";
        v.append_repr(out, depth + 1);
      }
      out += '}';
      return;
    }
    case Kind::kObject: obj_->append_repr(out, depth + 1); return;
  }
}

std::string Value::type_name() const {
  if (kind_ == Kind::kNone) return "None";
  if (kind_ == Kind::kUndefined) return "jinja2.runtime.Undefined object";
  if (kind_ == Kind::kObject) return obj_->type_name() + " object";
  return py_type(*this) + " object";
}

const Value* Dict::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.as_string()));
  for (const auto& [k, v] : items)
    if (py_equal(k, key)) return &v;
  return nullptr;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : items)
    if (k.is_string() && k.as_string() == key) return &v;
  return nullptr;
}

void Dict::set(Value key, Value value) {
  for (auto& [k, v] : items) {
    if (py_equal(k, key)) {
      v = std::move(value);
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
}

Value Object::attr(std::string_view) const { return Value(); }

Value Object::call(Interpreter&, CallArgs&) { throw_error("'" + type_name() + "' object is not callable"); }

Value Object::call_method(Interpreter&, std::string_view, CallArgs&, bool& found) {
  found = false;
  return Value();
}

std::string Object::str() const { return "<" + type_name() + " object>"; }

Value Namespace::attr(std::string_view name) const {
  const Value* v = attrs_.find(name);
  return v ? *v : Value();
}

void Namespace::set_attr(std::string_view name, Value value) { attrs_.set(Value(name), std::move(value)); }

std::string Namespace::str() const {
  std::string out;
  append_repr(out, 0);
  return out;
}

void Namespace::append_repr(std::string& out, int depth) const {
  if (depth > kMaxNesting) throw_limit("value nested too deeply to print (a namespace that contains itself?)");
  out += "<Namespace {";
  bool first = true;
  for (const auto& [k, v] : attrs_.items) {
    if (!first) out += ", ";
    first = false;
    k.append_repr(out, depth + 1);
    out += ": ";
    v.append_repr(out, depth + 1);
  }
  out += "}>";
}

bool py_equal(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.as_int() == b.as_int();
    return a.as_float() == b.as_float();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::kUndefined:
    case K::kNone: return true;
    case K::kString: return a.as_string() == b.as_string();
    case K::kList:
    case K::kTuple: {
      const List& x = a.as_list();
      const List& y = b.as_list();
      if (&x == &y) return true;
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i)
        if (!py_equal(x[i], y[i])) return false;
      return true;
    }
    case K::kDict: {
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (&x == &y) return true;
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x.items) {
        const Value* other = y.find(k);
        if (!other || !py_equal(v, *other)) return false;
      }
      return true;
    }
    case K::kObject: return a.as_object() == b.as_object();
    default: return false;
  }
}

bool py_less(const Value& a, const Value& b) {
  if (a.is_undefined()) throw_undefined(a);
  if (b.is_undefined()) throw_undefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.as_int() < b.as_int();
    return a.as_float() < b.as_float();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.kind() == b.kind() && a.is_sequence()) {
    const List& x = a.as_list();
    const List& y = b.as_list();
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!py_equal(x[i], y[i])) return py_less(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  throw_error("'<' not supported between instances of '" + py_type(a) + "' and '" + py_type(b) + "'");
}

template <typename Json>
static Value convert_json(const Json& j, int depth) {
  if (depth >= kMaxValueDepth - 1) throw_limit("JSON input nested too deeply");
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value(j.template get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.template get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(INT64_MAX)) return Value(static_cast<std::int64_t>(u));
      return Value(static_cast<double>(u));
    }
    case nlohmann::json::value_t::number_float: return Value(j.template get<double>());
    case nlohmann::json::value_t::string: return Value(j.template get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      List items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(convert_json(e, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Dict d;
      d.items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        d.items.emplace_back(Value(it.key()), convert_json(it.value(), depth + 1));
      return Value::dict(std::move(d));
    }
    case nlohmann::json::value_t::binary:
    case nlohmann::json::value_t::discarded: break;
  }
  return Value();
}

Value from_json(const nlohmann::json& j) { return convert_json(j, 0); }
Value from_json(const nlohmann::ordered_json& j) { return convert_json(j, 0); }

namespace {

void json_newline(std::string& out, const JsonOptions& o, int level) {
  out += '\n';
  for (int i = 0; i < level; ++i) {
    if (!o.indent_text.empty()) out += o.indent_text;
    else out.append(static_cast<std::size_t>(o.indent), ' ');
  }
}

std::string json_key(const Value& k) {
  switch (k.kind()) {
    case Value::Kind::kString: return k.as_string();
    case Value::Kind::kNone: return "null";
    case Value::Kind::kBool: return k.as_bool() ? "true" : "false";
    case Value::Kind::kInt: return std::to_string(k.as_int());
    case Value::Kind::kFloat: {
      const double f = k.as_float();
      if (std::isnan(f)) return "NaN";
      if (std::isinf(f)) return f < 0 ? "-Infinity" : "Infinity";
      return py_float_repr(f);
    }
    default: throw_error("keys must be str, int, float, bool or None, not " + py_type(k));
  }
}

void dump(std::string& out, const Value& v, const JsonOptions& o, int level) {
  if (level > kMaxNesting) throw_limit("value nested too deeply for tojson");
  const bool pretty = o.indent >= 0 || !o.indent_text.empty();
  switch (v.kind()) {
    case Value::Kind::kNone: out += "null"; return;
    case Value::Kind::kBool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Kind::kInt: out += std::to_string(v.as_int()); return;
    case Value::Kind::kFloat: {
      const double f = v.as_float();
      if (std::isnan(f)) out += "NaN";
      else if (std::isinf(f)) out += f < 0 ? "-Infinity" : "Infinity";
      else out += py_float_repr(f);
      return;
    }
    case Value::Kind::kString: json_escape_string(out, v.as_string(), o.ensure_ascii); return;
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const List& items = v.as_list();
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += o.item_separator;
        if (pretty) json_newline(out, o, level + 1);
        dump(out, items[i], o, level + 1);
      }
      if (pretty) json_newline(out, o, level);
      out += ']';
      return;
    }
    case Value::Kind::kDict: {
      const Dict& d = v.as_dict();
      if (d.items.empty()) {
        out += "{}";
        return;
      }
      // Python sorts the original keys (so mixed key types are an error), then converts them.
      std::vector<const std::pair<Value, Value>*> order;
      order.reserve(d.items.size());
      for (const auto& item : d.items) order.push_back(&item);
      if (o.sort_keys)
        std::stable_sort(order.begin(), order.end(),
                         [](const auto* a, const auto* b) { return py_less(a->first, b->first); });
      std::vector<std::pair<std::string, const Value*>> entries;
      entries.reserve(order.size());
      for (const auto* item : order) entries.emplace_back(json_key(item->first), &item->second);
      out += '{';
      for (std::size_t i = 0; i < entries.size(); ++i) {
        if (i) out += o.item_separator;
        if (pretty) json_newline(out, o, level + 1);
        json_escape_string(out, entries[i].first, o.ensure_ascii);
        out += o.key_separator;
        dump(out, *entries[i].second, o, level + 1);
      }
      if (pretty) json_newline(out, o, level);
      out += '}';
      return;
    }
    case Value::Kind::kUndefined:
      throw_undefined(v);
    case Value::Kind::kObject:
      throw_error("Object of type " + v.as_object()->type_name() + " is not JSON serializable");
  }
}

}  // namespace

std::string to_json(const Value& v, const JsonOptions& options) {
  std::string out;
  dump(out, v, options, 0);
  return out;
}

}  // namespace r1::chat::jinja
