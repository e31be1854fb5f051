// Text helpers: lenient UTF-8, Python whitespace/case rules, and Python/JSON string and float
// printing. The printing rules follow CPython's float_repr and unicode_repr.
#include "chat/jinja_text.h"

#include <locale.h>
#include <wctype.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace r1::chat::jinja {

namespace {

constexpr char32_t kEscapeBase = 0xDC80;  // surrogateescape range for undecodable bytes

// Returns the code point at s[i] and advances i; invalid sequences yield one escaped byte.
char32_t decode_one(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int len = 0;
  char32_t cp = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  }
  if (len == 0 || i + len > s.size()) {
    ++i;
    return kEscapeBase + b0;
  }
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return kEscapeBase + b0;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
  if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return kEscapeBase + b0;
  }
  i += len;
  return cp;
}

// The C.UTF-8 locale gives Unicode case tables without depending on the process locale.
locale_t utf8_locale() {
  static locale_t loc = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    if (l == static_cast<locale_t>(0)) l = newlocale(LC_CTYPE_MASK, "C.utf8", static_cast<locale_t>(0));
    return l;
  }();
  return loc;
}

bool is_escaped_byte(char32_t cp) { return cp >= kEscapeBase && cp < kEscapeBase + 0x80 + 0x80; }

// str.isprintable() approximation: control, separator (except ' '), format, surrogate and
// private-use code points are not printable; unassigned code points are treated as printable.
bool py_isprintable(char32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0)) return false;
  if (cp < 0x7F) return true;
  if (cp == 0xAD || (cp >= 0x600 && cp <= 0x605) || cp == 0x61C || cp == 0x6DD || cp == 0x70F ||
      cp == 0x180E || cp == 0x1680)
    return false;
  if ((cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
      (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000)
    return false;
  if (cp >= 0xD800 && cp <= 0xF8FF) return false;  // surrogates and private use
  if (cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB) || cp == 0xFFFE || cp == 0xFFFF) return false;
  if (cp >= 0xF0000) return false;
  return true;
}

}  // namespace

char32_t utf8_next(std::string_view s, std::size_t& i) { return decode_one(s, i); }

std::vector<char32_t> utf8_decode(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) out.push_back(decode_one(s, i));
  return out;
}

void utf8_append(std::string& out, char32_t cp) {
  if (is_escaped_byte(cp)) {
    out.push_back(static_cast<char>(cp - kEscapeBase));
  } else if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string utf8_encode(const std::vector<char32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) utf8_append(out, cp);
  return out;
}

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

std::size_t utf8_length(std::string_view s) {
  if (is_ascii(s)) return s.size();
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++n) decode_one(s, i);
  return n;
}

bool py_isspace(char32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string_view py_strip(std::string_view s, bool left, bool right) {
  // Scans only the stripped ends (callers strip a short head or tail of long texts).
  std::size_t begin = 0, end = s.size();
  if (left) {
    while (begin < end) {
      std::size_t j = begin;
      if (!py_isspace(decode_one(s, j))) break;
      begin = j;
    }
  }
  if (right) {
    while (end > begin) {
      // The last code point starts at most 3 continuation bytes back; a sequence that does not
      // decode to exactly [start, end) is a stray byte, which is never whitespace.
      std::size_t start = end - 1;
      for (int back = 0; start > begin && back < 3 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80; ++back)
        --start;
      std::size_t j = start;
      const char32_t cp = decode_one(s, j);
      if (j != end || !py_isspace(cp)) break;
      end = start;
    }
  }
  return s.substr(begin, end - begin);
}

std::string py_strip_chars(std::string_view s, std::string_view chars, bool left, bool right) {
  const std::vector<char32_t> set = utf8_decode(chars);
  const std::vector<char32_t> cps = utf8_decode(s);
  auto in_set = [&](char32_t c) {
    for (char32_t x : set)
      if (x == c) return true;
    return false;
  };
  std::size_t begin = 0, end = cps.size();
  if (left)
    while (begin < end && in_set(cps[begin])) ++begin;
  if (right)
    while (end > begin && in_set(cps[end - 1])) --end;
  std::string out;
  for (std::size_t i = begin; i < end; ++i) utf8_append(out, cps[i]);
  return out;
}

char32_t cp_upper(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
  if (is_escaped_byte(cp) || utf8_locale() == static_cast<locale_t>(0)) return cp;
  return static_cast<char32_t>(towupper_l(static_cast<wint_t>(cp), utf8_locale()));
}

char32_t cp_lower(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  if (is_escaped_byte(cp) || utf8_locale() == static_cast<locale_t>(0)) return cp;
  return static_cast<char32_t>(towlower_l(static_cast<wint_t>(cp), utf8_locale()));
}

static bool locale_class(char32_t cp, int (*fn)(wint_t, locale_t)) {
  if (is_escaped_byte(cp) || utf8_locale() == static_cast<locale_t>(0)) return false;
  return fn(static_cast<wint_t>(cp), utf8_locale()) != 0;
}

bool cp_isalpha(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  return locale_class(cp, iswalpha_l);
}
bool cp_isdigit(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return locale_class(cp, iswdigit_l);
}
bool cp_isalnum(char32_t cp) { return cp_isalpha(cp) || cp_isdigit(cp); }
bool cp_isupper(char32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z';
  return locale_class(cp, iswupper_l);
}
bool cp_islower(char32_t cp) {
  if (cp < 0x80) return cp >= 'a' && cp <= 'z';
  return locale_class(cp, iswlower_l);
}

std::string py_upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  if (is_ascii(s)) {
    for (char c : s) out.push_back((c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c);
    return out;
  }
  for (char32_t cp : utf8_decode(s)) {
    if (cp == 0xDF) {  // ß has no single-code-point upper case; Python gives "SS"
      out += "SS";
      continue;
    }
    utf8_append(out, cp_upper(cp));
  }
  return out;
}

std::string py_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  if (is_ascii(s)) {
    for (char c : s) out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
    return out;
  }
  for (char32_t cp : utf8_decode(s)) utf8_append(out, cp_lower(cp));
  return out;
}

std::string py_float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  // Shortest round-trip digits in scientific form, e.g. "1.2345e+02".
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool negative = false;
  std::size_t pos = 0;
  if (sci[0] == '-') negative = true, pos = 1;
  const std::size_t epos = sci.find('e');
  std::string digits;
  for (std::size_t i = pos; i < epos; ++i)
    if (sci[i] != '.') digits.push_back(sci[i]);
  const int exp10 = std::stoi(sci.substr(epos + 1));
  std::string out = negative ? "-" : "";
  if (exp10 >= -4 && exp10 < 16) {
    const int n = static_cast<int>(digits.size());
    if (exp10 < 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-exp10 - 1), '0');
      out += digits;
    } else if (exp10 + 1 >= n) {
      out += digits;
      out.append(static_cast<std::size_t>(exp10 + 1 - n), '0');
      out += ".0";
    } else {
      out += digits.substr(0, static_cast<std::size_t>(exp10 + 1));
      out += '.';
      out += digits.substr(static_cast<std::size_t>(exp10 + 1));
    }
    return out;
  }
  out += digits[0];
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  char ebuf[16];
  std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
  out += ebuf;
  return out;
}

std::string py_str_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t cp : utf8_decode(s)) {
    char buf[16];
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (is_escaped_byte(cp)) {
      // Python shows surrogate escapes as \udcXX.
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
      out += buf;
    } else if (!py_isprintable(cp)) {
      if (cp <= 0xFF) std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
      else if (cp <= 0xFFFF) std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
      else std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(cp));
      out += buf;
    } else {
      utf8_append(out, cp);
    }
  }
  out += quote;
  return out;
}

void json_escape_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  char buf[16];
  auto plain_run = [&](std::size_t& i) {
    // Copies bytes that need no escaping in one go (the common case).
    std::size_t j = i;
    while (j < s.size()) {
      const auto c = static_cast<unsigned char>(s[j]);
      if (c < 0x20 || c == '"' || c == '\\' || (ensure_ascii && c >= 0x80)) break;
      ++j;
    }
    out.append(s.data() + i, j - i);
    i = j;
  };
  for (std::size_t i = 0; i < s.size();) {
    plain_run(i);
    if (i >= s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
      }
      ++i;
      continue;
    }
    char32_t cp = decode_one(s, i);
    if (cp >= 0x10000 && !is_escaped_byte(cp)) {
      const char32_t v = cp - 0x10000;
      std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                    static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
    } else {
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
    }
    out += buf;
  }
  out += '"';
}

}  // namespace r1::chat::jinja
