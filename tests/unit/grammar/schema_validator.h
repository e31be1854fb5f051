// Test oracle: an independent JSON Schema validator for the subset the grammar compiler supports
// (standard semantics: no "type" means any type, oneOf means exactly one, length in code points,
// patterns by PCRE2 in UTF mode ($ only at the very end, ASCII \d \w \s as in ECMA-262), formats checked by hand).
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <set>
#include <string>

namespace r1::grammar::testing {

using Json = nlohmann::json;

inline size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

inline bool regex_search(const std::string& pattern, const std::string& subject) {
  int err;
  PCRE2_SIZE off;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                                 PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &err, &off, nullptr);
  if (!re) return false;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(re, nullptr);
  int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(subject.c_str()), subject.size(), 0, 0,
                       md, nullptr);
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return rc >= 0;
}

inline bool all_digits(const std::string& s, size_t from, size_t n) {
  if (from + n > s.size()) return false;
  for (size_t i = from; i < from + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

inline int num(const std::string& s, size_t from, size_t n) { return std::stoi(s.substr(from, n)); }

inline bool valid_date(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 0, 4) || !all_digits(s, 5, 2) ||
      !all_digits(s, 8, 2)) {
    return false;
  }
  int y = num(s, 0, 4), m = num(s, 5, 2), d = num(s, 8, 2);
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= kDays[m - 1] + (m == 2 && leap ? 1 : 0);
}

inline bool valid_time(const std::string& s) {
  if (s.size() < 9 || s[2] != ':' || s[5] != ':' || !all_digits(s, 0, 2) || !all_digits(s, 3, 2) ||
      !all_digits(s, 6, 2)) {
    return false;
  }
  if (num(s, 0, 2) > 23 || num(s, 3, 2) > 59 || num(s, 6, 2) > 60) return false;
  size_t i = 8;
  if (s[i] == '.') {
    size_t j = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == j) return false;
  }
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) return i + 1 == s.size();
  if (i + 6 != s.size() || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':') return false;
  return all_digits(s, i + 1, 2) && all_digits(s, i + 4, 2) && num(s, i + 1, 2) <= 23 &&
         num(s, i + 4, 2) <= 59;
}

inline bool valid_format(const std::string& format, const std::string& s) {
  if (format == "date") return valid_date(s);
  if (format == "time") return valid_time(s);
  if (format == "date-time") {
    return s.size() > 11 && (s[10] == 'T' || s[10] == 't') && valid_date(s.substr(0, 10)) &&
           valid_time(s.substr(11));
  }
  if (format == "uuid") {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < 36; ++i) {
      bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash != (s[i] == '-')) return false;
      if (!dash && !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
    }
    return true;
  }
  if (format == "ipv4") {
    int parts = 0;
    size_t i = 0;
    while (true) {
      size_t j = i;
      while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
      if (j == i || j - i > 3 || (j - i > 1 && s[i] == '0') || num(s, i, j - i) > 255) return false;
      ++parts;
      if (j == s.size()) break;
      if (s[j] != '.') return false;
      i = j + 1;
    }
    return parts == 4;
  }
  if (format == "uri") {
    size_t colon = s.find(':');
    if (colon == std::string::npos || colon == 0 || !std::isalpha(static_cast<unsigned char>(s[0]))) {
      return false;
    }
    for (size_t i = 1; i < colon; ++i) {
      char c = s[i];
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '.' && c != '-') return false;
    }
    const std::string allowed = "-._~:/?#[]@!$&'()*+,;=";
    for (size_t i = colon + 1; i < s.size(); ++i) {
      char c = s[i];
      if (c == '%') {
        if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
            !std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
          return false;
        }
        i += 2;
      } else if (!std::isalnum(static_cast<unsigned char>(c)) && allowed.find(c) == std::string::npos) {
        return false;
      }
    }
    return true;
  }
  if (format == "hostname") {
    size_t start = 0;
    while (true) {
      size_t dot = s.find('.', start);
      std::string l = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') return false;
      for (char c : l) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
      }
      if (dot == std::string::npos) return true;
      start = dot + 1;
    }
  }
  if (format == "email") {
    // local@domain: dot-separated atoms of atext; domain labels of letters, digits and inner
    // hyphens, at least two labels, the last starting with a letter.
    size_t at = s.find('@');
    if (at == std::string::npos || at == 0) return false;
    const std::string atext = "!#$%&'*+/=?^_`{|}~-";
    std::string local = s.substr(0, at), domain = s.substr(at + 1);
    if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string::npos) return false;
    for (char c : local) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && atext.find(c) == std::string::npos) {
        return false;
      }
    }
    std::vector<std::string> labels;
    size_t start = 0;
    while (true) {
      size_t dot = domain.find('.', start);
      labels.push_back(domain.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (labels.size() < 2) return false;
    for (const std::string& l : labels) {
      if (l.empty() || !std::isalnum(static_cast<unsigned char>(l.front())) ||
          !std::isalnum(static_cast<unsigned char>(l.back()))) {
        return false;
      }
      for (char c : l) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
      }
    }
    return std::isalpha(static_cast<unsigned char>(labels.back().front()));
  }
  return false;
}

class Validator {
 public:
  // exact_exclusive: exclusive bounds compare strictly (right for short decimals; a long one next
  // to the bound may round onto it as a double, so random documents use the tolerant check).
  explicit Validator(const Json& root, bool exact_exclusive = false)
      : root_(root), exact_exclusive_(exact_exclusive) {}

  bool valid(const Json& v) const { return check(v, root_, 0); }

 private:
  const Json& resolve(const std::string& ref) const {
    if (ref == "#") return root_;
    return root_.at(Json::json_pointer(ref.substr(1)));
  }

  static bool is_integer(const Json& v) {
    if (v.is_number_integer() || v.is_number_unsigned()) return true;
    return v.is_number_float() && std::floor(v.get<double>()) == v.get<double>();
  }

  static bool has_type(const Json& v, const std::string& t) {
    if (t == "null") return v.is_null();
    if (t == "boolean") return v.is_boolean();
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer") return v.is_number() && is_integer(v);
    return false;
  }

  bool check(const Json& v, const Json& s, int depth) const {
    if (depth > 200) return false;
    if (s.is_boolean()) return s.get<bool>();
    if (s.contains("$ref")) {
      if (!check(v, resolve(s["$ref"].get<std::string>()), depth + 1)) return false;
    }
    if (s.contains("allOf")) {
      for (const Json& sub : s["allOf"]) {
        if (!check(v, sub, depth + 1)) return false;
      }
    }
    if (s.contains("anyOf")) {
      bool any = false;
      for (const Json& sub : s["anyOf"]) any = any || check(v, sub, depth + 1);
      if (!any) return false;
    }
    if (s.contains("oneOf")) {
      int n = 0;
      for (const Json& sub : s["oneOf"]) n += check(v, sub, depth + 1);
      if (n != 1) return false;
    }
    if (s.contains("type")) {
      const Json& t = s["type"];
      bool ok = false;
      if (t.is_string()) ok = has_type(v, t.get<std::string>());
      for (const Json& x : t.is_array() ? t : Json::array()) ok = ok || has_type(v, x.get<std::string>());
      if (!ok) return false;
    }
    if (s.contains("enum")) {
      bool found = false;
      for (const Json& e : s["enum"]) found = found || e == v;
      if (!found) return false;
    }
    if (s.contains("const") && s["const"] != v) return false;
    if (v.is_number()) {
      double x = v.get<double>();
      if (s.contains("minimum") && !(x >= s["minimum"].get<double>())) return false;
      if (s.contains("maximum") && !(x <= s["maximum"].get<double>())) return false;
      if (s.contains("exclusiveMinimum")) {
        double b = s["exclusiveMinimum"].get<double>();
        if (exact_exclusive_ ? !(x > b) : !(x >= b)) return false;
      }
      if (s.contains("exclusiveMaximum")) {
        double b = s["exclusiveMaximum"].get<double>();
        if (exact_exclusive_ ? !(x < b) : !(x <= b)) return false;
      }
    }
    if (v.is_string()) {
      const std::string& str = v.get_ref<const std::string&>();
      size_t n = code_points(str);
      if (s.contains("minLength") && n < s["minLength"].get<size_t>()) return false;
      if (s.contains("maxLength") && n > s["maxLength"].get<size_t>()) return false;
      if (s.contains("pattern") && !regex_search(s["pattern"].get<std::string>(), str)) return false;
      if (s.contains("format") && !valid_format(s["format"].get<std::string>(), str)) return false;
    }
    if (v.is_array()) {
      size_t prefix = 0;
      if (s.contains("prefixItems")) {
        const Json& p = s["prefixItems"];
        prefix = p.size();
        for (size_t i = 0; i < v.size() && i < p.size(); ++i) {
          if (!check(v[i], p[i], depth + 1)) return false;
        }
      }
      if (s.contains("items")) {
        for (size_t i = prefix; i < v.size(); ++i) {
          if (!check(v[i], s["items"], depth + 1)) return false;
        }
      }
      if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return false;
      if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return false;
    }
    if (v.is_object()) {
      std::set<std::string> declared;
      if (s.contains("properties")) {
        for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
          declared.insert(it.key());
          if (v.contains(it.key()) && !check(v[it.key()], it.value(), depth + 1)) return false;
        }
      }
      if (s.contains("required")) {
        for (const Json& r : s["required"]) {
          if (!v.contains(r.get<std::string>())) return false;
        }
      }
      if (s.contains("additionalProperties")) {
        for (auto it = v.begin(); it != v.end(); ++it) {
          if (!declared.count(it.key()) && !check(it.value(), s["additionalProperties"], depth + 1)) {
            return false;
          }
        }
      }
    }
    return true;
  }

  const Json& root_;
  bool exact_exclusive_;
};

}  // namespace r1::grammar::testing
