// PCRE2 wrapper: one compiled, JIT-ed pattern shared by all threads; match data and the JIT
// stack are per thread, so matching allocates nothing after a thread's first call.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "core/error.h"

namespace r1 {

namespace {

// White_Space (PropList.txt) spelled out: PCRE2's \s also matches U+180E, Oniguruma's does not.
constexpr std::string_view kSpaceSet =
    "\\t-\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}"
    "\\x{3000}";
// Oniguruma's Unicode \w: Alphabetic, marks, decimal digits, connector punctuation, joiners.
constexpr std::string_view kWordSet = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}";
constexpr std::string_view kHexSet = "0-9A-Fa-f";

std::string pcre2_error(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof(buf));
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

std::string oniguruma_to_pcre2(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 32);
  bool in_class = false;
  size_t class_start = 0;  // index just after '[' or '[^'
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[++i];
      std::string_view set;
      bool negated = false;
      switch (e) {
        case 's': set = kSpaceSet; break;
        case 'S': set = kSpaceSet; negated = true; break;
        case 'w': set = kWordSet; break;
        case 'W': set = kWordSet; negated = true; break;
        case 'h': set = kHexSet; break;
        case 'H': set = kHexSet; negated = true; break;
        default:
          out.push_back('\\');
          out.push_back(e);
          continue;
      }
      if (!in_class) {
        out += negated ? "[^" : "[";
        out += set;
        out += "]";
      } else if (!negated) {
        out += set;
      } else if (e == 'S') {
        out += "\\P{White_Space}";
      } else {
        fail(ErrorKind::kUnsupported,
             "regex '{}': \\{} inside a character class is not supported", p, e);
      }
      continue;
    }
    if (!in_class) {
      if (c == '[') {
        in_class = true;
        out.push_back(c);
        if (i + 1 < p.size() && p[i + 1] == '^') out.push_back(p[++i]);
        class_start = i + 1;
        continue;
      }
    } else {
      if (c == ']' && i != class_start) {
        in_class = false;
      } else if (c == '[') {
        if (i + 1 < p.size() && p[i + 1] == ':') {  // POSIX class [:alpha:] is the same in both
          const size_t end = p.find(":]", i + 2);
          if (end == std::string_view::npos) fail("regex '{}': unterminated POSIX class", p);
          out.append(p.substr(i, end + 2 - i));
          i = end + 1;
          continue;
        }
        fail(ErrorKind::kUnsupported,
             "regex '{}': nested character classes (Oniguruma set operations) are not supported",
             p);
      } else if (c == '&' && i + 1 < p.size() && p[i + 1] == '&') {
        fail(ErrorKind::kUnsupported, "regex '{}': class intersection '&&' is not supported", p);
      }
    }
    out.push_back(c);
  }
  return out;
}

struct Regex::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Impl() {
    if (code) pcre2_code_free(code);
  }
};

namespace {

// Per-thread matching state, shared by all patterns (sized for the largest group count seen).
struct ThreadState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ThreadState() {
    data = pcre2_match_data_create(16, nullptr);
    context = pcre2_match_context_create(nullptr);
    // Long runs of one class (7000 spaces) need more than the default 32 KiB JIT stack.
    stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    R1_CHECK(data && context && stack, "out of memory creating PCRE2 match state");
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
  }
};

ThreadState& thread_state() {
  thread_local ThreadState state;
  return state;
}

}  // namespace

Regex::Regex(std::string_view pattern, bool literal) : impl_(std::make_unique<Impl>()) {
  pattern_ = literal ? std::string(pattern) : oniguruma_to_pcre2(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  // PCRE2 refuses UCP together with LITERAL (it has no classes to apply it to anyway).
  const uint32_t options = literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern_.data()), pattern_.size(),
                              options, &error, &offset, nullptr);
  if (!impl_->code)
    fail("regex '{}' does not compile: {} (at offset {} of '{}')", pattern, pcre2_error(error),
         offset, pattern_);
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

void Regex::find_all(std::string_view subject,
                     std::vector<std::pair<uint32_t, uint32_t>>& out) const {
  ThreadState& ts = thread_state();
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  const size_t len = subject.size();
  size_t pos = 0;
  size_t last_end = SIZE_MAX;
  while (pos <= len) {
    int rc = impl_->jit ? pcre2_jit_match(impl_->code, s, len, pos, 0, ts.data, ts.context)
                        : PCRE2_ERROR_JIT_BADOPTION;
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT || rc == PCRE2_ERROR_JIT_BADOPTION)
      rc = pcre2_match(impl_->code, s, len, pos, PCRE2_NO_UTF_CHECK, ts.data, ts.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0)
      fail(ErrorKind::kLimit, "regex '{}' failed on a {}-byte piece: {}", pattern_, len,
           pcre2_error(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(ts.data);
    const size_t b = ov[0], e = ov[1];
    if (b == e && e == last_end) {
      // Same rule as the reference's iterator: no empty match right after the previous match;
      // step over one character instead.
      if (pos >= len) break;
      ++pos;
      while (pos < len && (static_cast<uint8_t>(subject[pos]) & 0xC0) == 0x80) ++pos;
      continue;
    }
    out.emplace_back(static_cast<uint32_t>(b), static_cast<uint32_t>(e));
    pos = e;
    last_end = e;
  }
}

}  // namespace r1
