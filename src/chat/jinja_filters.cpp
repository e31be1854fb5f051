// Jinja2's builtin filters and tests, with transformers' tojson (json.dumps with
// ensure_ascii=False, default separators, keys in insertion order).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "chat/jinja_builtins.h"
#include "chat/jinja_text.h"

namespace r1::chat::jinja {

namespace {

using Args = CallArgs;

// Follows a dotted attribute path ("user.name", "items.0") like Jinja2's make_attrgetter.
Value attribute_path(Interpreter& in, const Value& item, const std::string& path, const Value& fallback = Value()) {
  Value v = item;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool numeric = !part.empty() && part.size() < 18 &&
                         std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = in.get_item(v, numeric ? Value(static_cast<std::int64_t>(std::stoll(part))) : Value(part));
    if (v.is_undefined() && !fallback.is_undefined()) return fallback;
    if (dot == std::string::npos) break;
    if (v.is_undefined()) throw_undefined(v);
    start = dot + 1;
  }
  return v;
}

// Value used for sorting/comparing, lowercasing strings unless case sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value(py_lower(v.as_string()));
  return v;
}

std::vector<std::string> split_attributes(const std::string& attr) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = attr.find(',', start);
    std::string p(py_strip(attr.substr(start, comma == std::string::npos ? std::string::npos : comma - start), true, true));
    parts.push_back(std::move(p));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return parts;
}

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Python int(str, base) with Jinja2's int filter fallbacks; false when not convertible.
bool parse_int(const std::string& text, int base, std::int64_t& out) {
  std::string s(py_strip(text, true, true));
  bool neg = false;
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (base == 0 || base == 16 || base == 8 || base == 2) {
    if (i + 1 < s.size() && s[i] == '0') {
      const char x = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i + 1])));
      const int pb = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 0;
      if (pb && (base == 0 || base == pb)) base = pb, i += 2;
    }
    if (base == 0) base = 10;
  }
  if (i >= s.size()) return false;
  std::int64_t v = 0;
  bool prev_underscore = true;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_') {
      if (prev_underscore) return false;
      prev_underscore = true;
      continue;
    }
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (std::isalpha(static_cast<unsigned char>(c))) d = std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
    else return false;
    if (d >= base) return false;
    if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v)) return false;
    prev_underscore = false;
  }
  if (prev_underscore) return false;
  out = neg ? -v : v;
  return true;
}

// Python float(str): decimal literals, inf/nan; false when not convertible.
bool parse_float(const std::string& text, double& out) {
  std::string s(py_strip(text, true, true));
  std::string clean;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !std::isdigit(static_cast<unsigned char>(s[i + 1])))
        return false;
      continue;
    }
    clean += s[i];
  }
  if (clean.empty()) return false;
  const std::string lower = py_lower(clean);
  const std::string body = (lower[0] == '+' || lower[0] == '-') ? lower.substr(1) : lower;
  if (body == "inf" || body == "infinity" || body == "nan") {
    out = body == "nan" ? std::nan("") : HUGE_VAL;
    if (lower[0] == '-') out = -out;
    return true;
  }
  for (char c : body)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' || c == '-')) return false;
  char* end = nullptr;
  out = std::strtod(clean.c_str(), &end);
  return end && *end == '\0';
}

// ---- filters ----

Value f_abs(Interpreter&, const Value& v, Args& a) {
  Params p("abs", a, {});
  if (v.is_integral()) {
    if (v.as_int() == INT64_MIN) throw_error("integer overflow");
    return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
  }
  if (v.is_float()) return Value(std::fabs(v.as_float()));
  if (v.is_undefined()) throw_undefined(v);
  throw_error(fmt::format("bad operand type for abs(): '{}'", py_type(v)));
}

Value f_attr(Interpreter& in, const Value& v, Args& a) {
  Params p("attr", a, {"name"});
  const std::string name = p.get_string(0, "");
  if (v.is_dict()) {
    // Only real attributes (methods), never keys.
    if (has_builtin_method(v, name)) return in.get_attr(v, name);
    return Value::undefined(fmt::format("'{}' has no attribute '{}'", v.type_name(), name));
  }
  return in.get_attr(v, name);
}

Value f_batch(Interpreter& in, const Value& v, Args& a) {
  Params p("batch", a, {"linecount", "fill_with"});
  const std::int64_t n = p.get_int(0, 0);
  if (n <= 0) throw_error("batch(): linecount must be positive");
  List items = in.iterate(v), out, cur;
  for (Value& x : items) {
    cur.push_back(std::move(x));
    if (static_cast<std::int64_t>(cur.size()) == n) out.push_back(Value::list(std::move(cur))), cur.clear();
  }
  if (!cur.empty()) {
    if (p.has(1) && !p[1].is_none())
      while (static_cast<std::int64_t>(cur.size()) < n) cur.push_back(p[1]);
    out.push_back(Value::list(std::move(cur)));
  }
  return Value::list(std::move(out));
}

Value str_call(Interpreter& in, const Value& v, const char* method, Args& a) {
  bool found = true;
  return call_builtin_method(in, Value(v.str()), method, a, found);
}

Value f_capitalize(Interpreter& in, const Value& v, Args& a) { return str_call(in, v, "capitalize", a); }
Value f_upper(Interpreter& in, const Value& v, Args& a) { return str_call(in, v, "upper", a); }
Value f_lower(Interpreter& in, const Value& v, Args& a) { return str_call(in, v, "lower", a); }

Value f_center(Interpreter& in, const Value& v, Args& a) {
  Params p("center", a, {"width"});
  CallArgs pa;
  pa.positional.push_back(Value(p.get_int(0, 80)));
  return str_call(in, v, "center", pa);
}

Value f_default(Interpreter&, const Value& v, Args& a) {
  Params p("default", a, {"default_value", "boolean"});
  if (v.is_undefined() || (p.get_bool(1, false) && !v.truthy())) return p.get(0, Value(""));
  return v;
}

Value f_dictsort(Interpreter& in, const Value& v, Args& a) {
  Params p("dictsort", a, {"case_sensitive", "by", "reverse"});
  if (!v.is_dict()) throw_error("dictsort(): can only sort a mapping");
  const bool cs = p.get_bool(0, false);
  const std::string by = p.get_string(1, "key");
  if (by != "key" && by != "value") throw_error("You can only sort by either 'key' or 'value'");
  List items;
  for (const auto& [k, val] : v.as_dict().items) items.push_back(Value::tuple({k, val}));
  in.count_steps(items.size());
  const std::size_t idx = by == "key" ? 0 : 1;
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return py_less(sort_key(x.as_list()[idx], cs), sort_key(y.as_list()[idx], cs));
  });
  if (p.get_bool(2, false)) std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value f_escape(Interpreter&, const Value& v, Args& a) {
  Params p("escape", a, {});
  return Value(html_escape(v.str()));
}

Value f_filesizeformat(Interpreter&, const Value& v, Args& a) {
  Params p("filesizeformat", a, {"binary"});
  const bool binary = p.get_bool(0, false);
  double bytes;
  if (v.is_number()) bytes = v.as_float();
  else if (!v.is_string() || !parse_float(v.as_string(), bytes)) throw_error("filesizeformat(): expected a number");
  const double base = binary ? 1024 : 1000;
  static const char* kBin[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  static const char* kDec[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  if (bytes == 1) return Value("1 Byte");
  if (bytes < base) return Value(fmt::format("{:.0f} Bytes", std::trunc(bytes)));  // Python's int(bytes)
  double unit = base;
  for (int i = 0; i < 8; ++i) {
    unit = std::pow(base, i + 2);
    if (bytes < unit || i == 7) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.1f %s", base * bytes / unit, binary ? kBin[i] : kDec[i]);
      return Value(buf);
    }
  }
  return Value();
}

Value f_first(Interpreter& in, const Value& v, Args& a) {
  Params p("first", a, {});
  if (v.is_sequence()) return v.as_list().empty() ? Value::undefined("No first item, sequence was empty.") : v.as_list().front();
  List items = in.iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(Interpreter& in, const Value& v, Args& a) {
  Params p("last", a, {});
  if (v.is_sequence()) return v.as_list().empty() ? Value::undefined("No last item, sequence was empty.") : v.as_list().back();
  List items = in.iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_float(Interpreter&, const Value& v, Args& a) {
  Params p("float", a, {"default"});
  if (v.is_undefined()) throw_undefined(v);
  if (v.is_number()) return Value(v.as_float());
  double d;
  if (v.is_string() && parse_float(v.as_string(), d)) return Value(d);
  return p.get(0, Value(0.0));
}

Value f_int(Interpreter&, const Value& v, Args& a) {
  Params p("int", a, {"default", "base"});
  if (v.is_undefined()) throw_undefined(v);
  const Value fallback = p.get(0, Value(std::int64_t{0}));
  if (v.is_integral()) return Value(v.as_int());
  if (v.is_float()) {
    const double d = v.as_float();
    if (!std::isfinite(d)) throw_error("cannot convert float infinity or NaN to integer");
    if (std::fabs(d) >= 9.2e18) throw_error("integer overflow");
    return Value(static_cast<std::int64_t>(std::trunc(d)));
  }
  if (v.is_string()) {
    std::int64_t i;
    const std::int64_t base = p.get_int(1, 10);
    if (base != 0 && (base < 2 || base > 36)) throw_error("int() base must be >= 2 and <= 36, or 0");
    if (parse_int(v.as_string(), static_cast<int>(base), i)) return Value(i);
    double d;  // "42.23"|int gives 42, as in Jinja2
    if (parse_float(v.as_string(), d) && std::isfinite(d) && std::fabs(d) < 9.2e18)
      return Value(static_cast<std::int64_t>(std::trunc(d)));
  }
  return fallback;
}

Value f_indent(Interpreter& in, const Value& v, Args& a) {
  Params p("indent", a, {"width", "first", "blank"});
  std::string indention = "    ";
  if (p.has(0)) {
    if (p[0].is_string()) indention = p[0].as_string();
    else indention = std::string(static_cast<std::size_t>(std::clamp<std::int64_t>(p.get_int(0, 4), 0, 10000)), ' ');
  }
  const bool first = p.get_bool(1, false), blank = p.get_bool(2, false);
  CallArgs none;
  bool found = true;
  // Jinja2 appends a newline first so that splitlines() keeps a trailing empty line.
  const Value lines_v = call_builtin_method(in, Value(v.str() + "\n"), "splitlines", none, found);
  const List& lines = lines_v.as_list();
  std::string rv;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i].as_string();
    if (i > 0) {
      rv += '\n';
      if (blank || !line.empty()) rv += indention;
    }
    rv += line;
    in.check_size(rv.size());
  }
  if (first) rv = indention + rv;
  return Value(std::move(rv));
}

Value f_items(Interpreter& in, const Value& v, Args& a) {
  Params p("items", a, {});
  if (v.is_undefined()) return Value::list({});
  if (!v.is_dict()) throw_error("Can only get item pairs from a mapping.");
  CallArgs none;
  bool found = true;
  return call_builtin_method(in, v, "items", none, found);
}

Value f_join(Interpreter& in, const Value& v, Args& a) {
  Params p("join", a, {"d", "attribute"});
  const std::string sep = p.has(0) ? p[0].str() : "";
  std::string out;
  const List items = in.iterate(v);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += p.has(1) && !p[1].is_none() ? attribute_path(in, items[i], p[1].str()).str() : items[i].str();
    in.check_size(out.size());
  }
  return Value(std::move(out));
}

Value f_length(Interpreter&, const Value& v, Args& a) {
  Params p("length", a, {});
  switch (v.kind()) {
    case Value::Kind::kString: return Value(static_cast<std::int64_t>(utf8_length(v.as_string())));
    case Value::Kind::kList:
    case Value::Kind::kTuple: return Value(static_cast<std::int64_t>(v.as_list().size()));
    case Value::Kind::kDict: return Value(static_cast<std::int64_t>(v.as_dict().size()));
    case Value::Kind::kUndefined: return Value(std::int64_t{0});
    default: throw_error(fmt::format("object of type '{}' has no len()", py_type(v)));
  }
}

Value f_list(Interpreter& in, const Value& v, Args& a) {
  Params p("list", a, {});
  return Value::list(in.iterate(v));
}

// map(attribute=..., default=...) or map('filter', args...).
Value f_map(Interpreter& in, const Value& v, Args& a) {
  const List items = in.iterate(v);
  List out;
  out.reserve(items.size());
  in.count_steps(items.size());
  if (a.positional.empty()) {
    Params p("map", a, {"attribute", "default"});
    if (!p.has(0)) throw_error("map(): needs a filter name or attribute=");
    const std::string attr = p[0].str();
    for (const Value& x : items) out.push_back(attribute_path(in, x, attr, p.get(1, Value())));
    return Value::list(std::move(out));
  }
  if (!a.positional[0].is_string()) throw_error("map(): the filter name must be a string");
  const std::string name = a.positional[0].as_string();
  CallArgs rest;
  rest.positional.assign(a.positional.begin() + 1, a.positional.end());
  rest.keywords = a.keywords;
  for (const Value& x : items) {
    CallArgs copy = rest;
    out.push_back(in.apply_filter(name, x, copy));
  }
  return Value::list(std::move(out));
}

Value minmax(Interpreter& in, const Value& v, Args& a, bool is_max) {
  Params p(is_max ? "max" : "min", a, {"case_sensitive", "attribute"});
  const bool cs = p.get_bool(0, false);
  const List items = in.iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  std::size_t best = 0;
  auto key = [&](const Value& x) {
    return sort_key(p.has(1) && !p[1].is_none() ? attribute_path(in, x, p[1].str()) : x, cs);
  };
  Value best_key = key(items[0]);
  for (std::size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    if (is_max ? py_less(best_key, k) : py_less(k, best_key)) best = i, best_key = std::move(k);
  }
  return items[best];
}

Value f_max(Interpreter& in, const Value& v, Args& a) { return minmax(in, v, a, true); }
Value f_min(Interpreter& in, const Value& v, Args& a) { return minmax(in, v, a, false); }

Value f_pprint(Interpreter&, const Value& v, Args& a) {
  Params p("pprint", a, {});
  return Value(v.repr());
}

Value f_replace(Interpreter& in, const Value& v, Args& a) {
  Params p("replace", a, {"old", "new", "count"});
  CallArgs pa;
  pa.positional = {Value(p.has(0) ? p[0].str() : ""), Value(p.has(1) ? p[1].str() : "")};
  if (p.has(2) && !p[2].is_none()) pa.positional.push_back(p[2]);
  return str_call(in, v, "replace", pa);
}

Value f_reverse(Interpreter& in, const Value& v, Args& a) {
  Params p("reverse", a, {});
  if (v.is_string()) {
    std::vector<char32_t> cps = utf8_decode(v.as_string());
    std::reverse(cps.begin(), cps.end());
    return Value(utf8_encode(cps));
  }
  List items = in.iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

// Python round(x, n): correctly rounded, ties to even on the exact binary value.
double py_round(double x, std::int64_t n) {
  if (!std::isfinite(x)) return x;
  if (n >= 0) {
    if (n > 300) return x;
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(n), x);
    return std::strtod(buf, nullptr);
  }
  if (n < -308) return std::copysign(0.0, x);
  const double scale = std::pow(10.0, static_cast<double>(-n));
  return std::nearbyint(x / scale) * scale;
}

Value f_round(Interpreter&, const Value& v, Args& a) {
  Params p("round", a, {"precision", "method"});
  const std::int64_t precision = p.get_int(0, 0);
  const std::string method = p.get_string(1, "common");
  if (method != "common" && method != "ceil" && method != "floor") throw_error("method must be common, ceil or floor");
  if (v.is_undefined()) throw_undefined(v);
  if (!v.is_number()) throw_error(fmt::format("type {} doesn't define __round__ method", py_type(v)));
  if (method == "common") {
    if (v.is_integral() && precision >= 0) return Value(v.as_int());
    return Value(py_round(v.as_float(), precision));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = v.as_float() * scale;
  return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

// select/reject/selectattr/rejectattr share this: keep items whose test result equals `keep`.
Value select_impl(Interpreter& in, const Value& v, Args& a, bool keep, bool by_attr, const char* name) {
  if (!a.keywords.empty()) throw_error(fmt::format("{}() takes no keyword arguments", name));
  std::size_t i = 0;
  std::string attr;
  if (by_attr) {
    if (a.positional.empty()) throw_error(fmt::format("{}() missing the attribute name", name));
    attr = a.positional[0].str();
    i = 1;
  }
  std::string test;
  CallArgs test_args;
  if (i < a.positional.size()) {
    test = a.positional[i].str();
    test_args.positional.assign(a.positional.begin() + static_cast<std::ptrdiff_t>(i + 1), a.positional.end());
  }
  List out;
  const List items = in.iterate(v);
  in.count_steps(items.size());
  for (const Value& x : items) {
    const Value subject = by_attr ? attribute_path(in, x, attr) : x;
    bool r;
    if (test.empty()) {
      r = subject.truthy();
    } else {
      CallArgs copy = test_args;
      r = in.apply_test(test, subject, copy);
    }
    if (r == keep) out.push_back(x);
  }
  return Value::list(std::move(out));
}

Value f_select(Interpreter& in, const Value& v, Args& a) { return select_impl(in, v, a, true, false, "select"); }
Value f_reject(Interpreter& in, const Value& v, Args& a) { return select_impl(in, v, a, false, false, "reject"); }
Value f_selectattr(Interpreter& in, const Value& v, Args& a) { return select_impl(in, v, a, true, true, "selectattr"); }
Value f_rejectattr(Interpreter& in, const Value& v, Args& a) { return select_impl(in, v, a, false, true, "rejectattr"); }

Value f_safe(Interpreter&, const Value& v, Args& a) {
  Params p("safe", a, {});
  return v.is_string() ? v : Value(v.str());
}

Value f_slice(Interpreter& in, const Value& v, Args& a) {
  Params p("slice", a, {"slices", "fill_with"});
  const std::int64_t slices = p.get_int(0, 0);
  if (slices <= 0) throw_error("slice(): the number of slices must be positive");
  const List seq = in.iterate(v);
  const auto length = static_cast<std::int64_t>(seq.size());
  const std::int64_t per = length / slices, with_extra = length % slices;
  std::int64_t offset = 0;
  List out;
  for (std::int64_t n = 0; n < slices && n < 100000; ++n) {
    const std::int64_t start = offset + n * per;
    if (n < with_extra) ++offset;
    const std::int64_t end = offset + (n + 1) * per;
    List part(seq.begin() + start, seq.begin() + end);
    if (p.has(1) && !p[1].is_none() && n >= with_extra) part.push_back(p[1]);
    out.push_back(Value::list(std::move(part)));
  }
  return Value::list(std::move(out));
}

Value f_sort(Interpreter& in, const Value& v, Args& a) {
  Params p("sort", a, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = p.get_bool(0, false), cs = p.get_bool(1, false);
  std::vector<std::string> attrs;
  if (p.has(2) && !p[2].is_none()) attrs = split_attributes(p[2].str());
  List items = in.iterate(v);
  in.count_steps(items.size());
  std::vector<std::pair<Value, std::size_t>> keyed;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (attrs.empty()) {
      keyed.emplace_back(sort_key(items[i], cs), i);
    } else {
      List parts;
      for (const auto& at : attrs) parts.push_back(sort_key(attribute_path(in, items[i], at), cs));
      // Jinja2 sorts by a list of attribute values even for one attribute, so equal (or
      // equally undefined) keys never reach the `<` that would reject them.
      keyed.emplace_back(Value::tuple(std::move(parts)), i);
    }
  }
  // Python's sort is stable in both directions (reverse keeps equal items in order).
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return reverse ? py_less(y.first, x.first) : py_less(x.first, y.first);
  });
  List out;
  out.reserve(items.size());
  for (const auto& [k, i] : keyed) out.push_back(items[i]);
  return Value::list(std::move(out));
}

Value f_string(Interpreter&, const Value& v, Args& a) {
  Params p("string", a, {});
  return Value(v.str());
}

Value f_striptags(Interpreter&, const Value& v, Args& a) {
  Params p("striptags", a, {});
  const std::string s = v.str();
  std::string text;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 4, "<!--") == 0) {
      const std::size_t e = s.find("-->", i + 4);
      if (e != std::string::npos) {
        i = e + 2;
        continue;
      }
    }
    if (s[i] == '<') {
      const std::size_t e = s.find('>', i + 1);
      if (e != std::string::npos && e > i + 1) {
        i = e;
        continue;
      }
    }
    text += s[i];
  }
  // Runs of whitespace become one space, as ' '.join(text.split()) does.
  std::string out;
  bool pending_space = false;
  for (char32_t c : utf8_decode(text)) {
    if (py_isspace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    utf8_append(out, c);
  }
  return Value(out);
}

Value f_sum(Interpreter& in, const Value& v, Args& a) {
  Params p("sum", a, {"attribute", "start"});
  Value total = p.get(1, Value(std::int64_t{0}));
  for (const Value& x : in.iterate(v)) {
    const Value term = p.has(0) && !p[0].is_none() ? attribute_path(in, x, p[0].str()) : x;
    total = binary_op(Op::kAdd, total, term, in);
  }
  return total;
}

Value f_title(Interpreter&, const Value& v, Args& a) {
  Params p("title", a, {});
  // Jinja2 capitalizes each chunk after a run of [-\s({[<]; other characters are lowercased.
  std::string out;
  bool word_start = true;
  for (char32_t c : utf8_decode(v.str())) {
    const bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_isspace(c);
    if (sep) {
      utf8_append(out, c);
      word_start = true;
      continue;
    }
    utf8_append(out, word_start ? cp_upper(c) : cp_lower(c));
    word_start = false;
  }
  return Value(std::move(out));
}

Value f_tojson(Interpreter& in, const Value& v, Args& a) {
  Params p("tojson", a, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = p.get_bool(0, false);
  if (p.has(1) && !p[1].is_none()) {
    if (p[1].is_string()) {
      o.indent_text = p[1].as_string();
      o.indent = 0;
    } else {
      o.indent = static_cast<int>(std::clamp<std::int64_t>(p.get_int(1, 0), 0, 1000));
    }
    o.item_separator = ",";  // json.dumps uses (',', ': ') once indenting
  }
  if (p.has(2) && !p[2].is_none()) {
    const List seps = in.iterate(p[2]);
    if (seps.size() != 2 || !seps[0].is_string() || !seps[1].is_string())
      throw_error("tojson(): separators must be a pair of strings");
    o.item_separator = seps[0].as_string();
    o.key_separator = seps[1].as_string();
  }
  o.sort_keys = p.get_bool(3, false);
  std::string out = to_json(v, o);
  in.check_size(out.size());
  return Value(std::move(out));
}

Value f_trim(Interpreter& in, const Value& v, Args& a) {
  Params p("trim", a, {"chars"});
  CallArgs pa;
  if (p.has(0)) pa.positional.push_back(p[0]);
  return str_call(in, v, "strip", pa);
}

Value f_truncate(Interpreter&, const Value& v, Args& a) {
  Params p("truncate", a, {"length", "killwords", "end", "leeway"});
  const std::int64_t length = p.get_int(0, 255);
  const bool killwords = p.get_bool(1, false);
  const std::string end = p.get_string(2, "...");
  const std::int64_t leeway = p.get_int(3, 5);
  const std::vector<char32_t> s = utf8_decode(v.str());
  const auto end_len = static_cast<std::int64_t>(utf8_length(end));
  if (length < end_len) throw_error(fmt::format("expected length >= {}, got {}", end_len, length));
  if (leeway < 0) throw_error(fmt::format("expected leeway >= 0, got {}", leeway));
  if (static_cast<std::int64_t>(s.size()) <= length + leeway) return Value(v.str());
  std::vector<char32_t> head(s.begin(), s.begin() + (length - end_len));
  if (!killwords) {
    auto it = std::find(head.rbegin(), head.rend(), U' ');
    if (it != head.rend()) head.resize(static_cast<std::size_t>(head.rend() - it - 1));
  }
  return Value(utf8_encode(head) + end);
}

Value f_unique(Interpreter& in, const Value& v, Args& a) {
  Params p("unique", a, {"case_sensitive", "attribute"});
  const bool cs = p.get_bool(0, false);
  List out, seen;
  const List items = in.iterate(v);
  in.count_steps(items.size() * (items.size() / 64 + 1));
  for (const Value& x : items) {
    Value key = sort_key(p.has(1) && !p[1].is_none() ? attribute_path(in, x, p[1].str()) : x, cs);
    bool dup = false;
    for (const Value& s : seen) dup = dup || py_equal(s, key);
    if (!dup) {
      seen.push_back(std::move(key));
      out.push_back(x);
    }
  }
  return Value::list(std::move(out));
}

std::string url_quote(const std::string& s, bool for_query) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~' || (!for_query && c == '/')) {
      out += static_cast<char>(c);
    } else if (for_query && c == ' ') {
      out += '+';  // query strings use quote_plus
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

Value f_urlencode(Interpreter& in, const Value& v, Args& a) {
  Params p("urlencode", a, {});
  if (v.is_string()) return Value(url_quote(v.as_string(), false));
  std::vector<std::pair<Value, Value>> pairs;
  if (v.is_dict()) {
    pairs = v.as_dict().items;
  } else {
    for (const Value& item : in.iterate(v)) {
      List kv = in.iterate(item);
      if (kv.size() != 2) throw_error("urlencode(): expected a mapping or pairs");
      pairs.emplace_back(kv[0], kv[1]);
    }
  }
  std::string out;
  for (const auto& [k, val] : pairs) {
    if (!out.empty()) out += '&';
    out += url_quote(k.str(), true) + "=" + url_quote(val.str(), true);
  }
  return Value(out);
}

Value f_wordcount(Interpreter&, const Value& v, Args& a) {
  Params p("wordcount", a, {});
  std::int64_t n = 0;
  bool in_word = false;
  for (char32_t c : utf8_decode(v.str())) {
    const bool w = cp_isalnum(c) || c == '_';
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value(n);
}

Value f_groupby(Interpreter& in, const Value& v, Args& a) {
  Params p("groupby", a, {"attribute", "default", "case_sensitive"});
  if (!p.has(0)) throw_error("groupby() missing the attribute");
  const bool cs = p.get_bool(2, false);
  const std::string attr = p[0].str();
  List items = in.iterate(v);
  std::vector<std::pair<Value, Value>> keyed;  // (sort key, item)
  for (const Value& x : items) keyed.emplace_back(sort_key(attribute_path(in, x, attr, p.get(1, Value())), cs), x);
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& x, const auto& y) { return py_less(x.first, y.first); });
  List groups;
  for (std::size_t i = 0; i < keyed.size();) {
    std::size_t j = i;
    List members;
    while (j < keyed.size() && py_equal(keyed[j].first, keyed[i].first)) members.push_back(keyed[j++].second);
    // The grouper is the first item's own value (not lowercased), as in Jinja2.
    Value grouper = cs ? keyed[i].first : attribute_path(in, members.front(), attr, p.get(1, Value()));
    groups.push_back(Value::tuple({grouper, Value::list(std::move(members))}));
    i = j;
  }
  return Value::list(std::move(groups));
}

Value f_format(Interpreter& in, const Value& v, Args& a) {
  if (!a.positional.empty() && !a.keywords.empty())
    throw_error("format(): can't handle positional and keyword arguments at the same time");
  if (!a.keywords.empty()) {
    Dict d;
    for (auto& [k, val] : a.keywords) d.set(Value(k), val);
    return Value(percent_format(in, v.str(), Value::dict(std::move(d))));
  }
  return Value(percent_format(in, v.str(), Value::tuple(a.positional)));
}

// ---- tests ----

// Validates that a test got no arguments; always true so it can start a && chain.
bool no_args(const char* name, Args& a) {
  Params p(name, a, {});
  return true;
}

bool t_defined(Interpreter&, const Value& v, Args& a) { return no_args("defined", a) && !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, Args& a) { return no_args("undefined", a) && v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, Args& a) { return no_args("none", a) && v.is_none(); }
bool t_boolean(Interpreter&, const Value& v, Args& a) { return no_args("boolean", a) && v.is_bool(); }
bool t_true(Interpreter&, const Value& v, Args& a) { return no_args("true", a) && v.is_bool() && v.as_bool(); }
bool t_false(Interpreter&, const Value& v, Args& a) { return no_args("false", a) && v.is_bool() && !v.as_bool(); }
bool t_integer(Interpreter&, const Value& v, Args& a) { return no_args("integer", a) && v.is_int(); }
bool t_float(Interpreter&, const Value& v, Args& a) { return no_args("float", a) && v.is_float(); }
bool t_number(Interpreter&, const Value& v, Args& a) { return no_args("number", a) && v.is_number(); }
bool t_string(Interpreter&, const Value& v, Args& a) { return no_args("string", a) && v.is_string(); }
bool t_mapping(Interpreter&, const Value& v, Args& a) { return no_args("mapping", a) && v.is_dict(); }
bool t_iterable(Interpreter&, const Value& v, Args& a) {
  Params p("iterable", a, {});
  return v.is_string() || v.is_sequence() || v.is_dict() || v.is_undefined();
}
bool t_sequence(Interpreter&, const Value& v, Args& a) {
  Params p("sequence", a, {});
  return v.is_string() || v.is_sequence() || v.is_dict() || v.is_undefined();
}
bool t_callable(Interpreter&, const Value& v, Args& a) {
  Params p("callable", a, {});
  return v.is_object() && v.as_object()->is_callable();
}
bool t_escaped(Interpreter&, const Value&, Args& a) { return !no_args("escaped", a); }

std::int64_t int_operand(const Value& v, const char* test) {
  if (v.is_undefined()) throw_undefined(v);
  if (!v.is_integral()) throw_error(fmt::format("the '{}' test needs an integer, got {}", test, py_type(v)));
  return v.as_int();
}
bool t_odd(Interpreter&, const Value& v, Args& a) { return no_args("odd", a) && int_operand(v, "odd") % 2 != 0; }
bool t_even(Interpreter&, const Value& v, Args& a) { return no_args("even", a) && int_operand(v, "even") % 2 == 0; }
bool t_divisibleby(Interpreter& in, const Value& v, Args& a) {
  Params p("divisibleby", a, {"num"});
  if (!p.has(0)) throw_error("divisibleby() missing the divisor");
  return !binary_op(Op::kMod, v, p[0], in).truthy();
}

bool t_lower(Interpreter&, const Value& v, Args& a) {
  Params p("lower", a, {});
  const std::string s = v.str();
  return py_lower(s) == s && py_upper(s) != s;
}
bool t_upper(Interpreter&, const Value& v, Args& a) {
  Params p("upper", a, {});
  const std::string s = v.str();
  return py_upper(s) == s && py_lower(s) != s;
}

Value compare_arg(Args& a, const char* name) {
  Params p(name, a, {"other"});
  if (!p.has(0)) throw_error(fmt::format("the '{}' test needs a value to compare with", name));
  return p[0];
}
bool t_eq(Interpreter&, const Value& v, Args& a) { return py_equal(v, compare_arg(a, "eq")); }
bool t_ne(Interpreter&, const Value& v, Args& a) { return !py_equal(v, compare_arg(a, "ne")); }
bool t_lt(Interpreter&, const Value& v, Args& a) { return py_less(v, compare_arg(a, "lt")); }
bool t_le(Interpreter&, const Value& v, Args& a) { return !py_less(compare_arg(a, "le"), v); }
bool t_gt(Interpreter&, const Value& v, Args& a) { return py_less(compare_arg(a, "gt"), v); }
bool t_ge(Interpreter&, const Value& v, Args& a) { return !py_less(v, compare_arg(a, "ge")); }
bool t_in(Interpreter&, const Value& v, Args& a) { return contains(compare_arg(a, "in"), v); }
bool t_sameas(Interpreter&, const Value& v, Args& a) {
  const Value other = compare_arg(a, "sameas");
  if (v.kind() != other.kind()) return false;
  switch (v.kind()) {
    case Value::Kind::kNone:
    case Value::Kind::kUndefined: return true;
    case Value::Kind::kBool:
    case Value::Kind::kInt: return v.as_int() == other.as_int();
    case Value::Kind::kList:
    case Value::Kind::kTuple: return &v.as_list() == &other.as_list();
    case Value::Kind::kDict: return &v.as_dict() == &other.as_dict();
    case Value::Kind::kObject: return v.as_object() == other.as_object();
    case Value::Kind::kString: return &v.as_string() == &other.as_string();
    default: return false;
  }
}
bool t_filter(Interpreter&, const Value& v, Args& a) { return no_args("filter", a) && v.is_string() && find_filter(v.as_string()); }
bool t_test(Interpreter&, const Value& v, Args& a) { return no_args("test", a) && v.is_string() && find_test(v.as_string()); }

}  // namespace

FilterFn find_filter(std::string_view name) {
  struct Entry {
    std::string_view name;
    FilterFn fn;
  };
  static const Entry kFilters[] = {
      {"abs", f_abs},           {"attr", f_attr},
      {"batch", f_batch},       {"capitalize", f_capitalize},
      {"center", f_center},     {"count", f_length},
      {"d", f_default},         {"default", f_default},
      {"dictsort", f_dictsort}, {"e", f_escape},
      {"escape", f_escape},     {"filesizeformat", f_filesizeformat},
      {"first", f_first},       {"float", f_float},
      {"forceescape", f_escape}, {"format", f_format},
      {"groupby", f_groupby},   {"indent", f_indent},
      {"int", f_int},           {"items", f_items},
      {"join", f_join},         {"last", f_last},
      {"length", f_length},     {"list", f_list},
      {"lower", f_lower},       {"map", f_map},
      {"max", f_max},           {"min", f_min},
      {"pprint", f_pprint},     {"reject", f_reject},
      {"rejectattr", f_rejectattr}, {"replace", f_replace},
      {"reverse", f_reverse},   {"round", f_round},
      {"safe", f_safe},         {"select", f_select},
      {"selectattr", f_selectattr}, {"slice", f_slice},
      {"sort", f_sort},         {"string", f_string},
      {"striptags", f_striptags}, {"sum", f_sum},
      {"title", f_title},       {"tojson", f_tojson},
      {"trim", f_trim},         {"truncate", f_truncate},
      {"unique", f_unique},     {"upper", f_upper},
      {"urlencode", f_urlencode}, {"wordcount", f_wordcount},
  };
  for (const Entry& e : kFilters)
    if (e.name == name) return e.fn;
  return nullptr;
}

TestFn find_test(std::string_view name) {
  struct Entry {
    std::string_view name;
    TestFn fn;
  };
  static const Entry kTests[] = {
      {"boolean", t_boolean}, {"callable", t_callable}, {"defined", t_defined},   {"divisibleby", t_divisibleby},
      {"eq", t_eq},           {"==", t_eq},             {"equalto", t_eq},        {"escaped", t_escaped},
      {"even", t_even},       {"false", t_false},       {"filter", t_filter},     {"float", t_float},
      {"ge", t_ge},           {">=", t_ge},             {"gt", t_gt},             {">", t_gt},
      {"greaterthan", t_gt},  {"in", t_in},             {"integer", t_integer},   {"iterable", t_iterable},
      {"le", t_le},           {"<=", t_le},             {"lower", t_lower},       {"lt", t_lt},
      {"<", t_lt},            {"lessthan", t_lt},       {"mapping", t_mapping},   {"ne", t_ne},
      {"!=", t_ne},           {"none", t_none},         {"number", t_number},     {"odd", t_odd},
      {"sameas", t_sameas},   {"sequence", t_sequence}, {"string", t_string},     {"test", t_test},
      {"true", t_true},       {"undefined", t_undefined}, {"upper", t_upper},
  };
  for (const Entry& e : kTests)
    if (e.name == name) return e.fn;
  return nullptr;
}

}  // namespace r1::chat::jinja
