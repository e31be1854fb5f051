// Regex for pre-tokenizer patterns: tokenizer.json patterns are written for Oniguruma; they are
// translated to PCRE2 syntax where the two disagree and run with PCRE2 (UTF + UCP, JIT).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

// Rewrites the escapes whose meaning differs between Oniguruma (Unicode encoding) and PCRE2 UCP:
// \s/\S (Oniguruma: the White_Space property; PCRE2 also counts U+180E), \h/\H (Oniguruma: hex
// digit; PCRE2: horizontal space), \w/\W (Oniguruma: the Unicode word property). Throws r1::Error
// for constructs it cannot express.
std::string oniguruma_to_pcre2(std::string_view pattern);

class Regex {
 public:
  // literal: the pattern is a plain string (tokenizer.json Split {"String": ...}).
  explicit Regex(std::string_view pattern, bool literal = false);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  // Non-overlapping matches in `subject` (valid UTF-8, checked by the caller) as [begin, end)
  // byte offsets, appended to `out` as pairs. An empty match splits nothing but still consumes
  // one character, so iteration always advances. Safe to call from several threads at once.
  void find_all(std::string_view subject, std::vector<std::pair<uint32_t, uint32_t>>& out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string pattern_;
};

}  // namespace r1
