// Python methods of str/list/dict that templates call (x.split(...), d.items(), ...), the global
// functions, argument binding for builtins, and Python's two string formatting mini-languages.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "chat/jinja_builtins.h"
#include "chat/jinja_text.h"

namespace r1::chat::jinja {

// ---------------------------------------------------------------------------------------------
// Argument binding

Params::Params(std::string_view function, CallArgs& args, std::initializer_list<std::string_view> names)
    : function_(function), names_(names), values_(names.size()), given_(names.size(), false) {
  if (args.positional.size() > names_.size())
    throw_error(fmt::format("{}() takes at most {} argument(s) ({} given)", function_, names_.size(),
                            args.positional.size()));
  for (std::size_t i = 0; i < args.positional.size(); ++i) {
    values_[i] = args.positional[i];
    given_[i] = true;
  }
  for (auto& [k, v] : args.keywords) {
    auto it = std::find(names_.begin(), names_.end(), k);
    if (it == names_.end()) throw_error(fmt::format("{}() got an unexpected keyword argument '{}'", function_, k));
    const auto i = static_cast<std::size_t>(it - names_.begin());
    if (given_[i]) throw_error(fmt::format("{}() got multiple values for argument '{}'", function_, k));
    values_[i] = v;
    given_[i] = true;
  }
}

std::int64_t Params::get_int(std::size_t i, std::int64_t fallback) const {
  if (!given_[i] || values_[i].is_none()) return fallback;
  if (!values_[i].is_integral())
    throw_error(fmt::format("{}(): argument '{}' must be an integer, not {}", function_, names_[i], py_type(values_[i])));
  return values_[i].as_int();
}

std::string Params::get_string(std::size_t i, std::string fallback) const {
  if (!given_[i] || values_[i].is_none()) return fallback;
  if (!values_[i].is_string())
    throw_error(fmt::format("{}(): argument '{}' must be a string, not {}", function_, names_[i], py_type(values_[i])));
  return values_[i].as_string();
}

namespace {

// ---------------------------------------------------------------------------------------------
// str methods

std::size_t cp_index(const std::string& s, std::size_t byte_pos) { return utf8_length(std::string_view(s).substr(0, byte_pos)); }

Value split_whitespace(const std::string& s, std::int64_t maxsplit, bool from_right) {
  std::vector<char32_t> cps = utf8_decode(s);
  List parts;
  if (!from_right) {
    std::size_t i = 0;
    while (i < cps.size()) {
      while (i < cps.size() && py_isspace(cps[i])) ++i;
      if (i >= cps.size()) break;
      if (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) >= maxsplit) {
        std::size_t end = cps.size();
        while (end > i && py_isspace(cps[end - 1])) --end;
        parts.emplace_back(utf8_encode(std::vector<char32_t>(cps.begin() + static_cast<std::ptrdiff_t>(i), cps.begin() + static_cast<std::ptrdiff_t>(end))));
        break;
      }
      std::size_t j = i;
      while (j < cps.size() && !py_isspace(cps[j])) ++j;
      parts.emplace_back(utf8_encode(std::vector<char32_t>(cps.begin() + static_cast<std::ptrdiff_t>(i), cps.begin() + static_cast<std::ptrdiff_t>(j))));
      i = j;
    }
    return Value::list(std::move(parts));
  }
  std::size_t i = cps.size();
  while (i > 0) {
    while (i > 0 && py_isspace(cps[i - 1])) --i;
    if (i == 0) break;
    if (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) >= maxsplit) {
      std::size_t b = 0;
      while (b < i && py_isspace(cps[b])) ++b;
      parts.emplace_back(utf8_encode(std::vector<char32_t>(cps.begin() + static_cast<std::ptrdiff_t>(b), cps.begin() + static_cast<std::ptrdiff_t>(i))));
      break;
    }
    std::size_t j = i;
    while (j > 0 && !py_isspace(cps[j - 1])) --j;
    parts.emplace_back(utf8_encode(std::vector<char32_t>(cps.begin() + static_cast<std::ptrdiff_t>(j), cps.begin() + static_cast<std::ptrdiff_t>(i))));
    i = j;
  }
  std::reverse(parts.begin(), parts.end());
  return Value::list(std::move(parts));
}

Value split_sep(const std::string& s, const std::string& sep, std::int64_t maxsplit, bool from_right) {
  if (sep.empty()) throw_error("empty separator");
  List parts;
  if (!from_right) {
    std::size_t start = 0;
    while (true) {
      if (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) >= maxsplit) break;
      const std::size_t p = s.find(sep, start);
      if (p == std::string::npos) break;
      parts.emplace_back(s.substr(start, p - start));
      start = p + sep.size();
    }
    parts.emplace_back(s.substr(start));
    return Value::list(std::move(parts));
  }
  std::size_t end = s.size();
  while (true) {
    if (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) >= maxsplit) break;
    if (end < sep.size()) break;
    const std::size_t p = s.rfind(sep, end - sep.size());
    if (p == std::string::npos) break;
    parts.emplace_back(s.substr(p + sep.size(), end - p - sep.size()));
    end = p;
  }
  parts.emplace_back(s.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return Value::list(std::move(parts));
}

bool is_line_break(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
         c == 0x2028 || c == 0x2029;
}

std::string pad(Interpreter& in, const std::string& s, std::int64_t width, char32_t fill, char align) {
  const auto len = static_cast<std::int64_t>(utf8_length(s));
  if (width <= len) return s;
  in.check_size(static_cast<std::size_t>(width) * 4);
  const std::int64_t total = width - len;
  std::int64_t left = 0;
  if (align == '>') left = total;
  else if (align == '^') left = total / 2 + (total & width & 1);  // CPython's str.center rounding
  std::string out;
  for (std::int64_t i = 0; i < left; ++i) utf8_append(out, fill);
  out += s;
  for (std::int64_t i = left; i < total; ++i) utf8_append(out, fill);
  return out;
}

char32_t fill_char(const Params& p, std::size_t i) {
  const std::string f = p.get_string(i, " ");
  const std::vector<char32_t> cps = utf8_decode(f);
  if (cps.size() != 1) throw_error("The fill character must be exactly one character long");
  return cps[0];
}

template <typename Pred>
Value all_chars(const std::string& s, Pred pred) {
  if (s.empty()) return Value(false);
  for (char32_t c : utf8_decode(s))
    if (!pred(c)) return Value(false);
  return Value(true);
}

// Whether `s` matches `prefix` (or any of a tuple of them) at its start or end.
bool affix_match(const std::string& s, const Value& arg, bool start, const char* method) {
  auto one = [&](const Value& v) {
    if (!v.is_string())
      throw_error(fmt::format("{} first arg must be str or a tuple of str, not {}", method, py_type(v)));
    const std::string& a = v.as_string();
    if (a.size() > s.size()) return false;
    return start ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0;
  };
  if (arg.is_tuple()) {
    for (const Value& v : arg.as_list())
      if (one(v)) return true;
    return false;
  }
  return one(arg);
}

Value str_method(Interpreter& in, const std::string& s, std::string_view name, CallArgs& args, bool& found) {
  found = true;
  if (name == "upper" || name == "lower" || name == "casefold") {
    Params p(name, args, {});
    return Value(name == "upper" ? py_upper(s) : py_lower(s));
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    Params p(name, args, {"chars"});
    const bool left = name != "rstrip", right = name != "lstrip";
    if (!p.has(0) || p[0].is_none()) return Value(std::string(py_strip(s, left, right)));
    return Value(py_strip_chars(s, p.get_string(0, ""), left, right));
  }
  if (name == "split" || name == "rsplit") {
    Params p(name, args, {"sep", "maxsplit"});
    const std::int64_t maxsplit = p.get_int(1, -1);
    in.count_steps(s.size() / 16);
    if (!p.has(0) || p[0].is_none()) return split_whitespace(s, maxsplit, name == "rsplit");
    return split_sep(s, p.get_string(0, ""), maxsplit, name == "rsplit");
  }
  if (name == "splitlines") {
    Params p(name, args, {"keepends"});
    const bool keep = p.get_bool(0, false);
    const std::vector<char32_t> cps = utf8_decode(s);
    List lines;
    std::size_t start = 0;
    for (std::size_t i = 0; i < cps.size(); ++i) {
      if (!is_line_break(cps[i])) continue;
      std::size_t end = i;
      if (cps[i] == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ++i;
      std::vector<char32_t> line(cps.begin() + static_cast<std::ptrdiff_t>(start),
                                 cps.begin() + static_cast<std::ptrdiff_t>(keep ? i + 1 : end));
      lines.emplace_back(utf8_encode(line));
      start = i + 1;
    }
    if (start < cps.size())
      lines.emplace_back(utf8_encode(std::vector<char32_t>(cps.begin() + static_cast<std::ptrdiff_t>(start), cps.end())));
    return Value::list(std::move(lines));
  }
  if (name == "startswith" || name == "endswith") {
    Params p(name, args, {"prefix"});
    if (!p.has(0)) throw_error(fmt::format("{}() takes at least 1 argument (0 given)", name));
    return Value(affix_match(s, p[0], name == "startswith", name == "startswith" ? "startswith" : "endswith"));
  }
  if (name == "replace") {
    Params p(name, args, {"old", "new", "count"});
    if (!p.has(0) || !p.has(1)) throw_error("replace() takes at least 2 arguments");
    const std::string from = p.get_string(0, ""), to = p.get_string(1, "");
    std::int64_t count = p.get_int(2, -1);
    std::string out;
    if (from.empty()) {
      // Python inserts `to` before every character and at the end.
      const std::vector<char32_t> cps = utf8_decode(s);
      in.check_size(s.size() + to.size() * (cps.size() + 1));
      for (char32_t c : cps) {
        if (count != 0) out += to, --count;
        utf8_append(out, c);
      }
      if (count != 0) out += to;
      return Value(std::move(out));
    }
    std::size_t start = 0;
    while (count != 0) {
      const std::size_t q = s.find(from, start);
      if (q == std::string::npos) break;
      out.append(s, start, q - start);
      out += to;
      in.check_size(out.size());
      start = q + from.size();
      --count;
    }
    out.append(s, start, std::string::npos);
    in.check_size(out.size());
    return Value(std::move(out));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    Params p(name, args, {"sub"});
    if (!p.has(0)) throw_error(fmt::format("{}() takes at least 1 argument (0 given)", name));
    const std::string sub = p.get_string(0, "");
    if (name == "count") {
      if (sub.empty()) return Value(static_cast<std::int64_t>(utf8_length(s) + 1));
      std::int64_t n = 0;
      for (std::size_t q = s.find(sub); q != std::string::npos; q = s.find(sub, q + sub.size())) ++n;
      return Value(n);
    }
    const bool reverse = name[0] == 'r';
    const std::size_t q = reverse ? s.rfind(sub) : s.find(sub);
    if (q == std::string::npos) {
      if (name == "index" || name == "rindex") throw_error("substring not found");
      return Value(std::int64_t{-1});
    }
    return Value(static_cast<std::int64_t>(cp_index(s, q)));
  }
  if (name == "join") {
    Params p(name, args, {"iterable"});
    if (!p.has(0)) throw_error("join() takes exactly one argument (0 given)");
    const List items = in.iterate(p[0]);
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string())
        throw_error(fmt::format("sequence item {}: expected str instance, {} found", i, py_type(items[i])));
      if (i) out += s;
      out += items[i].as_string();
      in.check_size(out.size());
    }
    return Value(std::move(out));
  }
  if (name == "title" || name == "capitalize" || name == "swapcase") {
    Params p(name, args, {});
    std::string out;
    bool prev_cased = false;
    bool first = true;
    for (char32_t c : utf8_decode(s)) {
      char32_t r = c;
      if (name == "title") {
        const bool cased = cp_isupper(c) || cp_islower(c) || cp_isalpha(c);
        r = cased ? (prev_cased ? cp_lower(c) : cp_upper(c)) : c;
        prev_cased = cased;
      } else if (name == "capitalize") {
        r = first ? cp_upper(c) : cp_lower(c);
      } else {
        r = cp_isupper(c) ? cp_lower(c) : cp_islower(c) ? cp_upper(c) : c;
      }
      first = false;
      utf8_append(out, r);
    }
    return Value(std::move(out));
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    Params p(name, args, {"width", "fillchar"});
    if (!p.has(0)) throw_error(fmt::format("{}() takes at least 1 argument (0 given)", name));
    const char align = name == "center" ? '^' : name == "ljust" ? '<' : '>';
    return Value(pad(in, s, p.get_int(0, 0), fill_char(p, 1), align));
  }
  if (name == "zfill") {
    Params p(name, args, {"width"});
    const std::int64_t width = p.get_int(0, 0);
    const auto len = static_cast<std::int64_t>(utf8_length(s));
    if (width <= len) return Value(s);
    in.check_size(static_cast<std::size_t>(width));
    const bool sign = !s.empty() && (s[0] == '+' || s[0] == '-');
    std::string out = sign ? s.substr(0, 1) : "";
    out.append(static_cast<std::size_t>(width - len), '0');
    out += sign ? s.substr(1) : s;
    return Value(std::move(out));
  }
  if (name == "partition" || name == "rpartition") {
    Params p(name, args, {"sep"});
    const std::string sep = p.get_string(0, "");
    if (sep.empty()) throw_error("empty separator");
    const std::size_t q = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (q == std::string::npos) {
      if (name == "partition") return Value::tuple({Value(s), Value(""), Value("")});
      return Value::tuple({Value(""), Value(""), Value(s)});
    }
    return Value::tuple({Value(s.substr(0, q)), Value(sep), Value(s.substr(q + sep.size()))});
  }
  if (name == "removeprefix" || name == "removesuffix") {
    Params p(name, args, {"affix"});
    const std::string a = p.get_string(0, "");
    if (name == "removeprefix") return Value(s.compare(0, a.size(), a) == 0 ? s.substr(a.size()) : s);
    if (a.size() <= s.size() && s.compare(s.size() - a.size(), a.size(), a) == 0) return Value(s.substr(0, s.size() - a.size()));
    return Value(s);
  }
  if (name == "isalpha") {
    Params p(name, args, {});
    return all_chars(s, cp_isalpha);
  }
  if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") {
    Params p(name, args, {});
    return all_chars(s, cp_isdigit);
  }
  if (name == "isalnum") {
    Params p(name, args, {});
    return all_chars(s, cp_isalnum);
  }
  if (name == "isspace") {
    Params p(name, args, {});
    return all_chars(s, py_isspace);
  }
  if (name == "islower" || name == "isupper") {
    Params p(name, args, {});
    bool any_cased = false;
    for (char32_t c : utf8_decode(s)) {
      if (name == "islower" ? cp_isupper(c) : cp_islower(c)) return Value(false);
      if (cp_isupper(c) || cp_islower(c)) any_cased = true;
    }
    return Value(any_cased);
  }
  if (name == "format") return Value(brace_format(in, s, args));
  if (name == "encode" || name == "format_map" || name == "expandtabs" || name == "translate" || name == "maketrans" ||
      name == "istitle" || name == "isidentifier" || name == "isprintable" || name == "isascii")
    throw_error(fmt::format("str.{}() is not supported in chat templates", name));
  found = false;
  return Value();
}

bool is_unsafe_method(const Value& self, std::string_view name) {
  static const std::string_view kList[] = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};
  static const std::string_view kDict[] = {"update", "pop", "popitem", "setdefault", "clear"};
  if (self.is_list())
    for (auto n : kList)
      if (n == name) return true;
  if (self.is_dict())
    for (auto n : kDict)
      if (n == name) return true;
  return false;
}

Value container_method(Interpreter& in, const Value& self, std::string_view name, CallArgs& args, bool& found) {
  found = true;
  if (is_unsafe_method(self, name))
    throw_error(fmt::format("access to attribute '{}' of '{}' object is unsafe (template values are immutable)", name,
                            py_type(self)));
  if (self.is_dict()) {
    const Dict& d = self.as_dict();
    if (name == "items" || name == "keys" || name == "values") {
      Params p(name, args, {});
      in.count_steps(d.size());
      List out;
      out.reserve(d.size());
      for (const auto& [k, v] : d.items) {
        if (name == "items") out.push_back(Value::tuple({k, v}));
        else out.push_back(name == "keys" ? k : v);
      }
      return Value::list(std::move(out));
    }
    if (name == "get") {
      Params p(name, args, {"key", "default"});
      if (!p.has(0)) throw_error("get expected at least 1 argument, got 0");
      if (p[0].is_list() || p[0].is_dict()) throw_error(fmt::format("unhashable type: '{}'", py_type(p[0])));
      const Value* v = d.find(p[0]);
      return v ? *v : p.get(1, Value::none());
    }
    if (name == "copy") {
      Params p(name, args, {});
      return self;
    }
  } else {
    const List& items = self.as_list();
    if (name == "count") {
      Params p(name, args, {"value"});
      std::int64_t n = 0;
      for (const Value& v : items) n += py_equal(v, p[0]) ? 1 : 0;
      return Value(n);
    }
    if (name == "index") {
      Params p(name, args, {"value"});
      for (std::size_t i = 0; i < items.size(); ++i)
        if (py_equal(items[i], p[0])) return Value(static_cast<std::int64_t>(i));
      throw_error(fmt::format("{} is not in {}", p[0].repr(), py_type(self)));
    }
    if (name == "copy" && self.is_list()) {
      Params p(name, args, {});
      return self;
    }
  }
  found = false;
  return Value();
}

// ---------------------------------------------------------------------------------------------
// Globals

class Cycler : public Object {
 public:
  explicit Cycler(List items) : items_(std::move(items)) {}
  std::string type_name() const override { return "Cycler"; }
  Value attr(std::string_view name) const override {
    if (name == "current") return items_[pos_];
    return Value();
  }
  bool has_method(std::string_view name) const override { return name == "next" || name == "reset"; }
  Value call_method(Interpreter&, std::string_view name, CallArgs& args, bool& found) override {
    found = true;
    Params p(name, args, {});
    if (name == "next") {
      Value v = items_[pos_];
      pos_ = (pos_ + 1) % items_.size();
      return v;
    }
    if (name == "reset") {
      pos_ = 0;
      return Value::none();
    }
    found = false;
    return Value();
  }
  void release() override { items_.assign(1, Value()); }

 private:
  List items_;
  std::size_t pos_ = 0;
};

class Joiner : public Object {
 public:
  explicit Joiner(std::string sep) : sep_(std::move(sep)) {}
  std::string type_name() const override { return "Joiner"; }
  bool is_callable() const override { return true; }
  Value call(Interpreter&, CallArgs& args) override {
    Params p("joiner", args, {});
    if (!used_) {
      used_ = true;
      return Value(std::string());
    }
    return Value(sep_);
  }

 private:
  std::string sep_;
  bool used_ = false;
};

Value g_range(Interpreter& in, CallArgs& args) {
  if (!args.keywords.empty()) throw_error("range() takes no keyword arguments");
  const List& a = args.positional;
  if (a.empty() || a.size() > 3) throw_error(fmt::format("range expected 1 to 3 arguments, got {}", a.size()));
  for (const Value& v : a)
    if (!v.is_integral()) throw_error(fmt::format("'{}' object cannot be interpreted as an integer", py_type(v)));
  const std::int64_t start = a.size() == 1 ? 0 : a[0].as_int();
  const std::int64_t stop = a.size() == 1 ? a[0].as_int() : a[1].as_int();
  const std::int64_t step = a.size() == 3 ? a[2].as_int() : 1;
  if (step == 0) throw_error("range() arg 3 must not be zero");
  // The Jinja2 sandbox refuses ranges over 100000 items (MAX_RANGE).
  constexpr std::int64_t kMaxRange = 100000;
  const long double count_ld = step > 0 ? (start < stop ? ((long double)stop - start - 1) / step + 1 : 0)
                                        : (stop < start ? ((long double)start - stop - 1) / -(long double)step + 1 : 0);
  if (count_ld > kMaxRange) throw_limit("range too big: the sandbox allows at most 100000 items");
  const auto count = static_cast<std::int64_t>(count_ld);
  in.count_steps(static_cast<std::uint64_t>(count));
  List out;
  out.reserve(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) out.emplace_back(start + i * step);
  return Value::list(std::move(out));
}

Value g_dict(Interpreter& in, CallArgs& args) {
  if (args.positional.size() > 1) throw_error("dict expected at most 1 argument");
  Dict d;
  if (!args.positional.empty()) {
    const Value& src = args.positional[0];
    if (src.is_dict()) {
      d = src.as_dict();
    } else {
      for (const Value& pair : in.iterate(src)) {
        List kv = in.iterate(pair);
        if (kv.size() != 2) throw_error("dictionary update sequence element has wrong length; 2 is required");
        if (kv[0].is_list() || kv[0].is_dict()) throw_error(fmt::format("unhashable type: '{}'", py_type(kv[0])));
        in.count_steps(1 + d.size() / 16);  // Dict::set scans the keys
        d.set(kv[0], kv[1]);
      }
    }
  }
  for (auto& [k, v] : args.keywords) d.set(Value(k), v);
  return Value::dict(std::move(d));
}

Value g_namespace(Interpreter& in, CallArgs& args) {
  Value init = g_dict(in, args);
  auto ns = std::make_shared<Namespace>();
  for (const auto& [k, v] : init.as_dict().items) {
    if (!k.is_string()) throw_error("namespace() keys must be strings");
    ns->set_attr(k.as_string(), v);
  }
  in.track(ns);
  return Value::object(std::move(ns));
}

Value g_cycler(Interpreter& in, CallArgs& args) {
  if (!args.keywords.empty()) throw_error("cycler() takes no keyword arguments");
  if (args.positional.empty()) throw_error("at least one item has to be provided to cycler()");
  auto c = std::make_shared<Cycler>(args.positional);
  in.track(c);
  return Value::object(std::move(c));
}

Value g_joiner(Interpreter&, CallArgs& args) {
  Params p("joiner", args, {"sep"});
  return Value::object(std::make_shared<Joiner>(p.has(0) ? p[0].str() : ", "));
}

Value g_raise_exception(Interpreter&, CallArgs& args) {
  Params p("raise_exception", args, {"message"});
  throw TemplateError(p.has(0) ? p[0].str() : "raise_exception() called", TemplateError::Kind::kRaised);
}

// transformers' strftime_now: the current local time through strftime.
Value g_strftime_now(Interpreter&, CallArgs& args) {
  Params p("strftime_now", args, {"format"});
  const std::string format = p.get_string(0, "");
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::string buf(256 + format.size() * 8, '\0');
  const std::size_t n = format.empty() ? 0 : std::strftime(buf.data(), buf.size(), format.c_str(), &tm);
  buf.resize(n);
  return Value(std::move(buf));
}

}  // namespace

Value call_builtin_method(Interpreter& in, const Value& self, std::string_view name, CallArgs& args, bool& found) {
  if (self.is_string()) {
    Value v = str_method(in, self.as_string(), name, args, found);
    if (v.is_string()) in.check_size(v.as_string().size());
    return v;
  }
  if (self.is_dict() || self.is_sequence()) return container_method(in, self, name, args, found);
  found = false;
  return Value();
}

bool has_builtin_method(const Value& self, std::string_view name) {
  static const std::string_view kStr[] = {
      "upper", "lower", "casefold", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith",
      "endswith", "replace", "find", "rfind", "index", "rindex", "count", "join", "title", "capitalize", "swapcase",
      "center", "ljust", "rjust", "zfill", "partition", "rpartition", "removeprefix", "removesuffix", "isalpha",
      "isdigit", "isdecimal", "isnumeric", "isalnum", "isspace", "islower", "isupper", "format", "encode",
      "format_map", "expandtabs", "translate", "maketrans", "istitle", "isidentifier", "isprintable", "isascii"};
  static const std::string_view kDict[] = {"items", "keys", "values", "get", "copy", "update", "pop", "popitem", "setdefault", "clear"};
  static const std::string_view kList[] = {"count", "index", "copy", "append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};
  static const std::string_view kTuple[] = {"count", "index"};
  auto in = [&](const auto& table) {
    for (auto n : table)
      if (n == name) return true;
    return false;
  };
  if (self.is_string()) return in(kStr);
  if (self.is_dict()) return in(kDict);
  if (self.is_list()) return in(kList);
  if (self.is_tuple()) return in(kTuple);
  return false;
}

Value find_global(std::string_view name) {
  struct Entry {
    std::string_view name;
    BuiltinFunction::Fn fn;
  };
  static const Entry kGlobals[] = {
      {"range", g_range},         {"dict", g_dict},
      {"namespace", g_namespace}, {"cycler", g_cycler},
      {"joiner", g_joiner},       {"raise_exception", g_raise_exception},
      {"strftime_now", g_strftime_now},
  };
  for (const Entry& e : kGlobals)
    if (e.name == name) return Value::object(std::make_shared<BuiltinFunction>(std::string(name), e.fn));
  return Value();
}

Value BoundMethod::call(Interpreter& in, CallArgs& args) {
  bool found = true;
  Value v = self_.is_object() ? self_.as_object()->call_method(in, name_, args, found)
                              : call_builtin_method(in, self_, name_, args, found);
  if (!found) throw_error(fmt::format("'{}' object has no method '{}'", py_type(self_), name_));
  return v;
}

std::string BoundMethod::str() const {
  return "<built-in method " + name_ + " of " + py_type(self_) + " object>";
}

// ---------------------------------------------------------------------------------------------
// Formatting

namespace {

struct Spec {
  char32_t fill = ' ';
  char align = 0;  // < > ^ =
  char sign = 0;   // + - ' '
  bool alt = false;
  bool zero = false;
  std::int64_t width = -1;
  char grouping = 0;
  std::int64_t precision = -1;
  char type = 0;
};

constexpr std::int64_t kMaxWidth = 100000;

std::int64_t read_number(const std::string& s, std::size_t& i) {
  std::int64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    n = n * 10 + (s[i] - '0');
    if (n > kMaxWidth) throw_error("format width or precision too large");
    ++i;
  }
  return n;
}

std::string group_digits(const std::string& digits, char sep) {
  // digits: an unsigned integer part.
  std::string out;
  const std::size_t n = digits.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (i && (n - i) % 3 == 0) out += sep;
    out += digits[i];
  }
  return out;
}

// Formats a number per C printf conversion `conv` with precision, without sign handling.
std::string format_float(double v, char conv, std::int64_t precision, bool alt) {
  std::string f = "%";
  if (alt) f += '#';
  f += ".*";
  f += conv;
  const int n = std::snprintf(nullptr, 0, f.c_str(), static_cast<int>(precision), v);
  std::string out(static_cast<std::size_t>(std::max(n, 0)) + 1, '\0');
  std::snprintf(out.data(), out.size(), f.c_str(), static_cast<int>(precision), v);
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return out;
}

std::string int_digits(std::int64_t v, int base, bool upper) {
  std::uint64_t u = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  if (u == 0) return "0";
  std::string out;
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  while (u) {
    out += digits[u % static_cast<unsigned>(base)];
    u /= static_cast<unsigned>(base);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// Applies sign, zero padding, width and alignment to a formatted number body.
std::string finish_number(Interpreter& in, bool negative, std::string prefix, std::string body, const Spec& sp) {
  std::string sign;
  if (negative) sign = "-";
  else if (sp.sign == '+') sign = "+";
  else if (sp.sign == ' ') sign = " ";
  sign += prefix;
  const char align = sp.align ? sp.align : (sp.zero ? '=' : '>');
  const char32_t fill = sp.align ? sp.fill : (sp.zero ? U'0' : U' ');
  const auto len = static_cast<std::int64_t>(utf8_length(sign) + utf8_length(body));
  if (sp.width <= len) return sign + body;
  if (align == '=') {
    std::string padding;
    in.check_size(static_cast<std::size_t>(sp.width) * 4);
    for (std::int64_t i = len; i < sp.width; ++i) utf8_append(padding, fill);
    return sign + padding + body;
  }
  return pad(in, sign + body, sp.width, fill, align);
}

std::string format_value(Interpreter& in, const Value& v, const Spec& sp) {
  char type = sp.type;
  if (v.is_string() || v.is_undefined() || v.is_none() || v.is_sequence() || v.is_dict() || v.is_object() ||
      (v.is_bool() && type == 0)) {
    if (type != 0 && type != 's') throw_error(fmt::format("Unknown format code '{}' for object of type '{}'", type, py_type(v)));
    std::string s = v.str();
    if (sp.precision >= 0) {
      const std::vector<char32_t> cps = utf8_decode(s);
      if (static_cast<std::int64_t>(cps.size()) > sp.precision)
        s = utf8_encode(std::vector<char32_t>(cps.begin(), cps.begin() + sp.precision));
    }
    return pad(in, s, sp.width, sp.fill, sp.align ? sp.align : '<');
  }
  if (v.is_integral() && (type == 0 || type == 'd' || type == 'n' || type == 'b' || type == 'o' || type == 'x' ||
                          type == 'X' || type == 'c')) {
    const std::int64_t i = v.as_int();
    if (type == 'c') {
      std::string s;
      if (i < 0 || i > 0x10FFFF) throw_error("%c arg not in range(0x110000)");
      utf8_append(s, static_cast<char32_t>(i));
      return pad(in, s, sp.width, sp.fill, sp.align ? sp.align : '<');
    }
    const int base = type == 'b' ? 2 : type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
    std::string digits = int_digits(i, base, type == 'X');
    if (sp.grouping) digits = group_digits(digits, sp.grouping);
    std::string prefix;
    if (sp.alt && base != 10) prefix = base == 2 ? "0b" : base == 8 ? "0o" : (type == 'X' ? "0X" : "0x");
    return finish_number(in, i < 0, prefix, digits, sp);
  }
  if (!v.is_number()) throw_error(fmt::format("Unknown format code '{}' for object of type '{}'", type, py_type(v)));
  double d = v.as_float();
  const bool negative = std::signbit(d) && !std::isnan(d);
  d = std::fabs(d);
  std::string body;
  if (type == 0 && sp.precision < 0) {
    body = v.is_float() ? py_float_repr(d) : int_digits(v.as_int(), 10, false);
  } else {
    const std::int64_t prec = sp.precision >= 0 ? sp.precision : 6;
    char conv = type == 0 ? 'g' : type == 'n' ? 'g' : type;
    if (conv == '%') {
      body = format_float(d * 100, 'f', prec, sp.alt) + "%";
    } else if (conv == 'e' || conv == 'E' || conv == 'f' || conv == 'F' || conv == 'g' || conv == 'G') {
      body = format_float(d, conv, prec, sp.alt);
    } else {
      throw_error(fmt::format("Unknown format code '{}' for object of type '{}'", type, py_type(v)));
    }
  }
  if (sp.grouping && body.find_first_of("eEn") == std::string::npos) {
    const std::size_t dot = body.find_first_not_of("0123456789");
    body = group_digits(body.substr(0, dot), sp.grouping) + (dot == std::string::npos ? "" : body.substr(dot));
  }
  return finish_number(in, negative, "", body, sp);
}

Spec parse_spec(const std::string& s) {
  Spec sp;
  std::size_t i = 0;
  const std::vector<char32_t> cps = utf8_decode(s);
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (cps.size() >= 2 && is_align(cps[1])) {
    sp.fill = cps[0];
    sp.align = static_cast<char>(cps[1]);
    std::string first;
    utf8_append(first, cps[0]);
    i = first.size() + 1;
  } else if (!s.empty() && is_align(static_cast<unsigned char>(s[0]))) {
    sp.align = s[0];
    i = 1;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) sp.sign = s[i++];
  if (i < s.size() && s[i] == '#') sp.alt = true, ++i;
  if (i < s.size() && s[i] == '0') sp.zero = true, ++i;
  if (i < s.size() && s[i] >= '0' && s[i] <= '9') sp.width = read_number(s, i);
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) sp.grouping = s[i++];
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (i >= s.size() || s[i] < '0' || s[i] > '9') throw_error("Format specifier missing precision");
    sp.precision = read_number(s, i);
  }
  if (i < s.size()) sp.type = s[i++];
  if (i < s.size()) throw_error(fmt::format("Invalid format specifier '{}'", s));
  return sp;
}

}  // namespace

std::string brace_format(Interpreter& in, const std::string& format, CallArgs& args) {
  std::string out;
  std::size_t auto_index = 0;
  bool used_auto = false, used_manual = false;
  for (std::size_t i = 0; i < format.size();) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out += '}';
        i += 2;
        continue;
      }
      throw_error("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      i += 2;
      continue;
    }
    const std::size_t close = format.find('}', i + 1);
    if (close == std::string::npos) throw_error("Single '{' encountered in format string");
    std::string field = format.substr(i + 1, close - i - 1);
    if (field.find('{') != std::string::npos) throw_error("nested replacement fields in format specs are not supported");
    i = close + 1;
    std::string spec;
    char conversion = 0;
    const std::size_t colon = field.find(':');
    if (colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    const std::size_t bang = field.find('!');
    if (bang != std::string::npos) {
      if (bang + 2 != field.size()) throw_error("expected ':' after conversion specifier");
      conversion = field[bang + 1];
      field.resize(bang);
    }
    // field_name: arg_name ('.' attr | '[' key ']')*
    std::size_t p = 0;
    while (p < field.size() && field[p] != '.' && field[p] != '[') ++p;
    const std::string arg_name = field.substr(0, p);
    Value v;
    if (arg_name.empty() || std::all_of(arg_name.begin(), arg_name.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      std::size_t index;
      if (arg_name.empty()) {
        if (used_manual) throw_error("cannot switch from manual field specification to automatic field numbering");
        used_auto = true;
        index = auto_index++;
      } else {
        if (used_auto) throw_error("cannot switch from automatic field numbering to manual field specification");
        used_manual = true;
        if (arg_name.size() > 9) throw_error("Replacement index out of range");
        index = static_cast<std::size_t>(std::stoul(arg_name));
      }
      if (index >= args.positional.size())
        throw_error(fmt::format("Replacement index {} out of range for positional args tuple", index));
      v = args.positional[index];
    } else {
      bool found = false;
      for (const auto& [k, val] : args.keywords)
        if (k == arg_name) v = val, found = true;
      if (!found) throw_error(fmt::format("KeyError: '{}'", arg_name));
    }
    while (p < field.size()) {
      if (field[p] == '.') {
        std::size_t q = p + 1;
        while (q < field.size() && field[q] != '.' && field[q] != '[') ++q;
        v = in.get_attr(v, field.substr(p + 1, q - p - 1));
        p = q;
      } else {
        const std::size_t q = field.find(']', p);
        if (q == std::string::npos) throw_error("Missing ']' in format string");
        const std::string key = field.substr(p + 1, q - p - 1);
        const bool numeric = !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
        v = in.get_item(v, numeric && key.size() < 10 ? Value(static_cast<std::int64_t>(std::stol(key))) : Value(key));
        p = q + 1;
      }
      if (v.is_undefined()) throw_undefined(v);
    }
    if (conversion == 'r' || conversion == 'a') v = Value(v.repr());
    else if (conversion == 's') v = Value(v.str());
    else if (conversion != 0) throw_error(fmt::format("Unknown conversion specifier {}", conversion));
    out += format_value(in, v, parse_spec(spec));
    in.check_size(out.size());
  }
  return out;
}

std::string percent_format(Interpreter& in, const std::string& format, const Value& args) {
  List values;
  const Dict* mapping = nullptr;
  if (args.is_tuple()) values = args.as_list();
  else if (args.is_dict()) mapping = &args.as_dict();
  else values.push_back(args);
  std::size_t next = 0;
  bool used_mapping = false;
  std::string out;
  auto next_arg = [&]() -> const Value& {
    if (next >= values.size()) throw_error("not enough arguments for format string");
    return values[next++];
  };
  for (std::size_t i = 0; i < format.size();) {
    if (format[i] != '%') {
      const std::size_t q = format.find('%', i);
      out.append(format, i, q == std::string::npos ? std::string::npos : q - i);
      i = q == std::string::npos ? format.size() : q;
      continue;
    }
    ++i;
    if (i >= format.size()) throw_error("incomplete format");
    Value arg;
    bool have_arg = false;
    if (format[i] == '(') {
      const std::size_t close = format.find(')', i);
      if (close == std::string::npos) throw_error("incomplete format key");
      if (!mapping) throw_error("format requires a mapping");
      const Value* v = mapping->find(std::string_view(format).substr(i + 1, close - i - 1));
      if (!v) throw_error(fmt::format("KeyError: '{}'", format.substr(i + 1, close - i - 1)));
      arg = *v;
      have_arg = true;
      used_mapping = true;
      i = close + 1;
    }
    Spec sp;
    for (; i < format.size(); ++i) {
      const char f = format[i];
      if (f == '-') sp.align = '<';
      else if (f == '+') sp.sign = '+';
      else if (f == ' ') sp.sign = sp.sign ? sp.sign : ' ';
      else if (f == '#') sp.alt = true;
      else if (f == '0') sp.zero = true;
      else break;
    }
    if (i < format.size() && format[i] == '*') {
      const Value& w = next_arg();
      if (!w.is_integral()) throw_error("* wants int");
      sp.width = std::min<std::int64_t>(std::abs(w.as_int()), kMaxWidth);
      if (w.as_int() < 0) sp.align = '<';
      ++i;
    } else if (i < format.size() && format[i] >= '0' && format[i] <= '9') {
      sp.width = read_number(format, i);
    }
    if (i < format.size() && format[i] == '.') {
      ++i;
      if (i < format.size() && format[i] == '*') {
        const Value& pr = next_arg();
        if (!pr.is_integral()) throw_error("* wants int");
        sp.precision = std::clamp<std::int64_t>(pr.as_int(), 0, kMaxWidth);
        ++i;
      } else {
        sp.precision = read_number(format, i);
      }
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size()) throw_error("incomplete format");
    const char conv = format[i++];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (!have_arg) arg = next_arg();
    if (sp.align == '<') sp.zero = false;
    sp.fill = ' ';
    switch (conv) {
      case 's':
      case 'r':
      case 'a': {
        Value text(conv == 's' ? arg.str() : arg.repr());
        Spec s2 = sp;
        s2.type = 0;
        s2.align = sp.align ? sp.align : '>';
        out += format_value(in, text, s2);
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o':
      case 'c': {
        if (arg.is_undefined()) throw_undefined(arg);
        Value n = arg;
        if (conv == 'c' && arg.is_string()) {
          if (utf8_length(arg.as_string()) != 1) throw_error("%c requires int or char");
          out += pad(in, arg.as_string(), sp.width, ' ', sp.align ? sp.align : '>');
          break;
        }
        if (arg.is_float()) {
          if (conv != 'd' && conv != 'i' && conv != 'u')
            throw_error(fmt::format("%{} format: an integer is required, not float", conv));
          if (!std::isfinite(arg.as_float())) throw_error("cannot convert float infinity or NaN to integer");
          if (std::fabs(arg.as_float()) >= 9.2e18) throw_error("integer overflow (the result does not fit in 64 bits)");
          n = Value(static_cast<std::int64_t>(std::trunc(arg.as_float())));
        }
        if (!n.is_integral())
          throw_error(fmt::format("%{} format: a real number is required, not {}", conv, py_type(arg)));
        Spec s2 = sp;
        s2.type = conv == 'i' || conv == 'u' ? 'd' : conv;
        if (sp.precision >= 0 && conv != 'c') {
          // printf precision on integers is a minimum digit count.
          std::string digits = int_digits(n.as_int(), s2.type == 'o' ? 8 : (s2.type == 'd' ? 10 : 16), conv == 'X');
          if (static_cast<std::int64_t>(digits.size()) < sp.precision)
            digits.insert(0, static_cast<std::size_t>(sp.precision - static_cast<std::int64_t>(digits.size())), '0');
          std::string prefix = sp.alt && conv == 'o' ? "0o" : sp.alt && (conv == 'x' || conv == 'X') ? (conv == 'X' ? "0X" : "0x") : "";
          if (!sp.align) s2.align = 0;
          out += finish_number(in, n.as_int() < 0, prefix, digits, s2);
        } else {
          out += format_value(in, n, s2);
        }
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        if (arg.is_undefined()) throw_undefined(arg);
        if (!arg.is_number())
          throw_error(fmt::format("must be real number, not {}", py_type(arg)));
        Spec s2 = sp;
        s2.type = conv;
        if (s2.precision < 0) s2.precision = 6;
        out += format_value(in, Value(arg.as_float()), s2);
        break;
      }
      default: throw_error(fmt::format("unsupported format character '{}'", conv));
    }
    in.check_size(out.size());
  }
  if (!mapping && next < values.size()) throw_error("not all arguments converted during string formatting");
  (void)used_mapping;
  return out;
}

}  // namespace r1::chat::jinja
