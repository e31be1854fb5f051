// UTF-8 decoding/repair written against the Unicode standard (Table 3-7, well-formed byte
// sequences); normalization and categories delegate to utf8proc.
#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdlib>

#include "core/error.h"

namespace r1::unicode {

namespace {

// Allowed range of the second byte for each lead byte (Table 3-7); other bytes are 80..BF.
struct LeadInfo {
  uint8_t length;  // 0 = not a lead byte
  uint8_t lo, hi;  // range of the second byte
};

constexpr LeadInfo lead_info(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};  // excludes surrogates
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};  // <= U+10FFFF
  return {0, 0, 0};
}

inline bool is_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

// Number of bytes of s[i..] that form a valid prefix of a well-formed sequence (at least 1 when
// the lead byte is valid), and whether the sequence is complete.
size_t valid_prefix(std::string_view s, size_t i, bool* complete) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  const LeadInfo li = lead_info(b0);
  *complete = false;
  if (li.length == 0) return 0;
  if (li.length == 1) {
    *complete = true;
    return 1;
  }
  size_t n = 1;
  for (; n < li.length; ++n) {
    if (i + n >= s.size()) return n;
    const auto b = static_cast<uint8_t>(s[i + n]);
    const bool ok = n == 1 ? (b >= li.lo && b <= li.hi) : is_cont(b);
    if (!ok) return n;
  }
  *complete = true;
  return n;
}

}  // namespace

size_t valid_sequence_length(std::string_view s, size_t i) {
  bool complete;
  const size_t n = valid_prefix(s, i, &complete);
  return complete ? n : 0;
}

char32_t decode_at(std::string_view s, size_t i, size_t n) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data() + i);
  switch (n) {
    case 1: return p[0];
    case 2: return (char32_t(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    case 3: return (char32_t(p[0] & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    default:
      return (char32_t(p[0] & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) |
             (char32_t(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
  }
}

std::optional<size_t> find_invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = valid_sequence_length(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::nullopt;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
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

void append_lossy(std::string& out, std::string_view s) {
  size_t i = 0, run = 0;  // [run, i) is valid text not yet copied
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    bool complete;
    const size_t n = valid_prefix(s, i, &complete);
    if (complete) {
      i += n;
      continue;
    }
    out.append(s.data() + run, i - run);
    append_utf8(out, kReplacement);
    i += n == 0 ? 1 : n;  // a maximal subpart is the valid prefix, or one bad byte
    run = i;
  }
  out.append(s.data() + run, s.size() - run);
}

std::string lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  append_lossy(out, s);
  return out;
}

size_t incomplete_tail_length(std::string_view s) {
  // A character is at most 4 bytes, so only the last 3 bytes can start an incomplete one.
  const size_t from = s.size() > 3 ? s.size() - 3 : 0;
  for (size_t i = from; i < s.size(); ++i) {
    if (is_cont(static_cast<uint8_t>(s[i]))) continue;
    bool complete;
    const size_t n = valid_prefix(s, i, &complete);
    if (!complete && n > 0 && i + n == s.size()) return n;
  }
  return 0;
}

void normalize(NormalForm form, std::string_view text, std::string& out) {
  int options = UTF8PROC_STABLE;
  switch (form) {
    case NormalForm::kNfc: options |= UTF8PROC_COMPOSE; break;
    case NormalForm::kNfd: options |= UTF8PROC_DECOMPOSE; break;
    case NormalForm::kNfkc: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case NormalForm::kNfkd: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
  }
  utf8proc_uint8_t* result = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &result,
                   static_cast<utf8proc_option_t>(options));
  if (n < 0) fail("Unicode normalization failed: {}", utf8proc_errmsg(n));
  out.assign(reinterpret_cast<const char*>(result), static_cast<size_t>(n));
  std::free(result);
}

bool is_white_space(char32_t cp) {
  // The White_Space property list (PropList.txt); it has been stable since Unicode 6.3.
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_numeric(char32_t cp) {
  const auto c = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

bool is_word_char(char32_t cp) {
  if (cp == 0x200C || cp == 0x200D) return true;  // Join_Control
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

const char* data_version() { return utf8proc_unicode_version(); }

}  // namespace r1::unicode
