// Exact grammars for bounded JSON numbers. Integer parts are canonical digit strings compared by
// length, then digit by digit; fractions go through an automaton over (digits read, still equal
// to the lower bound's digits, still equal to the upper bound's digits).
#include "grammar/number_range.h"

#include <algorithm>

#include "core/error.h"

namespace r1::grammar::detail {

namespace {

constexpr int kMaxExponent = 4000;  // bounds beyond ±1e4000 are not meaningful schema values

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Compares canonical non-negative digit strings.
int compare_uint(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

int compare_abs(const Decimal& a, const Decimal& b) {
  int c = compare_uint(a.int_digits, b.int_digits);
  if (c != 0) return c;
  c = a.frac_digits.compare(b.frac_digits);  // no trailing zeros: plain string order works
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

int compare(const Decimal& a, const Decimal& b) {
  if (a.negative != b.negative) return a.negative ? -1 : 1;
  int c = compare_abs(a, b);
  return a.negative ? -c : c;
}

bool is_zero(const Decimal& d) { return d.int_digits == "0" && d.frac_digits.empty(); }

std::string inc_uint(std::string s) {
  int i = static_cast<int>(s.size()) - 1;
  while (i >= 0 && s[i] == '9') s[i--] = '0';
  if (i < 0) return "1" + s;
  ++s[i];
  return s;
}

std::string dec_uint(std::string s) {  // s > 0
  int i = static_cast<int>(s.size()) - 1;
  while (s[i] == '0') s[i--] = '9';
  --s[i];
  size_t nz = s.find_first_not_of('0');
  return nz == std::string::npos ? "0" : s.substr(nz);
}

Decimal integer(bool negative, std::string digits) {
  Decimal d;
  d.int_digits = std::move(digits);
  d.negative = negative && d.int_digits != "0";
  return d;
}

Decimal add_one(const Decimal& x) {  // x integral
  if (!x.negative) return integer(false, inc_uint(x.int_digits));
  return integer(true, dec_uint(x.int_digits));
}

Decimal sub_one(const Decimal& x) {  // x integral
  if (x.negative || is_zero(x)) return integer(true, inc_uint(x.int_digits));
  return integer(false, dec_uint(x.int_digits));
}

Decimal floor_of(const Decimal& x) {
  if (x.frac_digits.empty()) return x;
  return x.negative ? integer(true, inc_uint(x.int_digits)) : integer(false, x.int_digits);
}

Decimal ceil_of(const Decimal& x) {
  if (x.frac_digits.empty()) return x;
  return x.negative ? integer(true, x.int_digits) : integer(false, inc_uint(x.int_digits));
}

Decimal magnitude(const Decimal& x) {
  Decimal m = x;
  m.negative = false;
  return m;
}

class NumberBuilder {
 public:
  explicit NumberBuilder(IrBuilder& b) : b_(b) {}

  int32_t digit(int lo, int hi) {
    return b_.byte_range(static_cast<uint8_t>('0' + lo), static_cast<uint8_t>('0' + hi));
  }
  int32_t any_digits(uint32_t n) { return b_.repeat(digit(0, 9), n, n); }

  // Same-length digit strings >= s[i:].
  int32_t lex_ge(const std::string& s, size_t i) {
    if (i == s.size()) return b_.empty();
    int d = s[i] - '0';
    std::vector<int32_t> alts;
    if (d < 9) alts.push_back(b_.seq({digit(d + 1, 9), any_digits(s.size() - i - 1)}));
    alts.push_back(b_.seq({digit(d, d), lex_ge(s, i + 1)}));
    return b_.choice(alts);
  }

  // Same-length digit strings <= s[i:], the first digit at least min_first.
  int32_t lex_le(const std::string& s, size_t i, int min_first) {
    if (i == s.size()) return b_.empty();
    int d = s[i] - '0', lo = i == 0 ? min_first : 0;
    std::vector<int32_t> alts;
    if (d > lo) alts.push_back(b_.seq({digit(lo, d - 1), any_digits(s.size() - i - 1)}));
    if (d >= lo) alts.push_back(b_.seq({digit(d, d), lex_le(s, i + 1, 0)}));
    return b_.choice(alts);
  }

  int32_t lex_range(const std::string& a, const std::string& z, size_t i) {
    if (i == a.size()) return b_.empty();
    int x = a[i] - '0', y = z[i] - '0';
    if (x == y) return b_.seq({digit(x, x), lex_range(a, z, i + 1)});
    std::vector<int32_t> alts{b_.seq({digit(x, x), lex_ge(a, i + 1)})};
    if (y - x > 1) alts.push_back(b_.seq({digit(x + 1, y - 1), any_digits(a.size() - i - 1)}));
    alts.push_back(b_.seq({digit(y, y), lex_le(z, i + 1, 0)}));
    return b_.choice(alts);
  }

  // Canonical non-negative integers in [a, z] (z null: no upper bound).
  int32_t uint_range(const std::string& a, const std::string* z) {
    size_t la = a.size();
    if (!z) {
      return b_.choice({lex_ge(a, 0), b_.seq({digit(1, 9), b_.repeat(digit(0, 9), la, kInf)})});
    }
    if (compare_uint(a, *z) > 0) return b_.nothing();
    size_t lz = z->size();
    if (la == lz) return lex_range(a, *z, 0);
    std::vector<int32_t> alts{lex_ge(a, 0)};
    if (lz - la >= 2) {
      alts.push_back(b_.seq({digit(1, 9), b_.repeat(digit(0, 9), la, lz - 2)}));
    }
    alts.push_back(lex_le(*z, 0, 1));
    return b_.choice(alts);
  }

  int32_t int_range(const std::optional<Decimal>& lo, const std::optional<Decimal>& hi) {
    if (lo && hi && compare(*lo, *hi) > 0) return b_.nothing();
    std::vector<int32_t> alts;
    if (!hi || !hi->negative) {
      std::string a = lo && !lo->negative ? lo->int_digits : "0";
      alts.push_back(uint_range(a, hi ? &hi->int_digits : nullptr));
    }
    if (!lo || lo->negative) {
      std::string a = hi && hi->negative ? hi->int_digits : "1";
      alts.push_back(b_.seq({b_.bytes("-"), uint_range(a, lo ? &lo->int_digits : nullptr)}));
    }
    return b_.choice(alts);
  }

  // The optional fraction after an integer part: "" or "." digits, whose value 0.digits lies
  // between 0.lo and 0.hi (digit strings without trailing zeros; null = unbounded).
  int32_t fraction(const std::string* lo, bool lo_strict, const std::string* hi, bool hi_strict) {
    uint32_t k = static_cast<uint32_t>(std::max(lo ? lo->size() : 0, hi ? hi->size() : 0)) + 1;
    auto digit_at = [](const std::string* s, uint32_t i) {
      return i < s->size() ? (*s)[i] - '0' : 0;
    };
    auto accepts = [&](uint32_t i, bool tl, bool th) {
      if (tl && (i < lo->size() || lo_strict)) return false;
      if (th && i >= hi->size() && hi_strict) return false;
      return true;
    };
    auto id = [&](uint32_t i, bool tl, bool th) { return 1 + (i * 2 + tl) * 2 + th; };
    GraphDef g;
    g.n_states = 1 + (k + 1) * 4;
    g.start = 0;
    bool tl0 = lo != nullptr, th0 = hi != nullptr;
    if (accepts(0, tl0, th0)) g.accept.push_back(0);
    g.edges.push_back({0, id(0, tl0, th0), b_.bytes(".")});
    for (uint32_t i = 0; i <= k; ++i) {
      for (int tl = 0; tl < 2; ++tl) {
        for (int th = 0; th < 2; ++th) {
          if ((tl && !lo) || (th && !hi)) continue;
          uint32_t from = id(i, tl, th);
          if (i >= 1 && accepts(i, tl, th)) g.accept.push_back(from);
          int a = tl ? digit_at(lo, i) : 0, c = th ? digit_at(hi, i) : 9;
          uint32_t next_i = std::min(i + 1, k);
          // Digits split into runs with the same target: equal to a bound's digit keeps that
          // bound tight, anything strictly between frees it.
          int d = a;
          while (d <= c) {
            bool tl2 = tl && d == a, th2 = th && d == c;
            int e = d;
            while (e + 1 <= c && (tl && e + 1 == a) == tl2 && (th && e + 1 == c) == th2) ++e;
            g.edges.push_back({from, id(next_i, tl2, th2), digit(d, e)});
            d = e + 1;
          }
        }
      }
    }
    return b_.graph(std::move(g));
  }

  int32_t any_fraction() {
    return b_.optional(b_.seq({b_.bytes("."), b_.repeat(digit(0, 9), 1, kInf)}));
  }

  // Non-negative decimals x (no sign, no exponent) with lo <(=) x <(=) hi.
  int32_t nonneg_decimal(const Decimal& lo, bool lo_strict, const std::optional<Decimal>& hi,
                         bool hi_strict) {
    if (hi) {
      int c = compare(lo, *hi);
      if (c > 0 || (c == 0 && (lo_strict || hi_strict))) return b_.nothing();
    }
    const std::string& li = lo.int_digits;
    std::vector<int32_t> alts;
    if (!hi) {
      alts.push_back(b_.seq({b_.bytes(li), fraction(&lo.frac_digits, lo_strict, nullptr, false)}));
      alts.push_back(b_.seq({uint_range(inc_uint(li), nullptr), any_fraction()}));
      return b_.choice(alts);
    }
    const std::string& ui = hi->int_digits;
    if (li == ui) {
      return b_.seq({b_.bytes(li), fraction(&lo.frac_digits, lo_strict, &hi->frac_digits,
                                            hi_strict)});
    }
    alts.push_back(b_.seq({b_.bytes(li), fraction(&lo.frac_digits, lo_strict, nullptr, false)}));
    std::string mid_lo = inc_uint(li), mid_hi = dec_uint(ui);
    if (compare_uint(mid_lo, mid_hi) <= 0) {
      alts.push_back(b_.seq({uint_range(mid_lo, &mid_hi), any_fraction()}));
    }
    alts.push_back(b_.seq({b_.bytes(ui), fraction(nullptr, false, &hi->frac_digits, hi_strict)}));
    return b_.choice(alts);
  }

  int32_t decimal_range(const std::optional<NumberBound>& lo,
                        const std::optional<NumberBound>& hi) {
    Decimal zero;
    std::vector<int32_t> alts;
    // x >= 0
    if (!hi || compare(hi->value, zero) > 0 || (is_zero(hi->value) && !hi->exclusive)) {
      bool lo_pos = lo && !lo->value.negative;
      std::optional<Decimal> upper;
      if (hi) upper = hi->value;
      alts.push_back(nonneg_decimal(lo_pos ? lo->value : zero, lo_pos && lo->exclusive, upper,
                                    hi && hi->exclusive));
    }
    // x < 0, written as "-" and its magnitude m > 0
    if (!lo || lo->value.negative) {
      bool hi_neg = hi && hi->value.negative;
      Decimal m_lo = hi_neg ? magnitude(hi->value) : zero;
      bool m_lo_strict = hi_neg ? hi->exclusive : true;
      std::optional<Decimal> m_hi;
      if (lo) m_hi = magnitude(lo->value);
      alts.push_back(b_.seq({b_.bytes("-"), nonneg_decimal(m_lo, m_lo_strict, m_hi,
                                                           lo && lo->exclusive)}));
    }
    return b_.choice(alts);
  }

 private:
  IrBuilder& b_;
};

}  // namespace

bool Decimal::parse(std::string_view text, Decimal& out) {
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && text[i] == '-') {
    negative = true;
    ++i;
  }
  std::string mantissa;
  size_t int_len = 0;
  while (i < text.size() && is_digit(text[i])) mantissa += text[i++];
  int_len = mantissa.size();
  if (int_len == 0) return false;
  if (i < text.size() && text[i] == '.') {
    ++i;
    size_t before = mantissa.size();
    while (i < text.size() && is_digit(text[i])) mantissa += text[i++];
    if (mantissa.size() == before) return false;
  }
  long exponent = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) exp_negative = text[i++] == '-';
    size_t start = i;
    while (i < text.size() && is_digit(text[i])) {
      exponent = std::min<long>(exponent * 10 + (text[i] - '0'), kMaxExponent + 1);
      ++i;
    }
    if (i == start) return false;
    if (exp_negative) exponent = -exponent;
  }
  if (i != text.size() || exponent > kMaxExponent || exponent < -kMaxExponent) return false;
  long point = static_cast<long>(int_len) + exponent;
  std::string int_part, frac_part;
  if (point <= 0) {
    int_part = "0";
    frac_part = std::string(static_cast<size_t>(-point), '0') + mantissa;
  } else if (point >= static_cast<long>(mantissa.size())) {
    int_part = mantissa + std::string(static_cast<size_t>(point) - mantissa.size(), '0');
  } else {
    int_part = mantissa.substr(0, static_cast<size_t>(point));
    frac_part = mantissa.substr(static_cast<size_t>(point));
  }
  size_t nz = int_part.find_first_not_of('0');
  out.int_digits = nz == std::string::npos ? "0" : int_part.substr(nz);
  size_t last = frac_part.find_last_not_of('0');
  out.frac_digits = last == std::string::npos ? "" : frac_part.substr(0, last + 1);
  out.negative = negative && !is_zero(out);
  return true;
}

std::string Decimal::to_string() const {
  return (negative ? "-" : "") + int_digits + (frac_digits.empty() ? "" : "." + frac_digits);
}

int32_t build_number(IrBuilder& b, bool integer_only, const std::optional<NumberBound>& lo,
                     const std::optional<NumberBound>& hi) {
  NumberBuilder nb(b);
  if (integer_only) {
    std::optional<Decimal> ilo, ihi;
    if (lo) ilo = lo->exclusive ? add_one(floor_of(lo->value)) : ceil_of(lo->value);
    if (hi) ihi = hi->exclusive ? sub_one(ceil_of(hi->value)) : floor_of(hi->value);
    if (!ilo && !ihi) {
      return b.seq({b.optional(b.bytes("-")),
                    b.choice({b.bytes("0"), b.seq({nb.digit(1, 9),
                                                   b.repeat(nb.digit(0, 9), 0, kInf)})})});
    }
    return nb.int_range(ilo, ihi);
  }
  if (!lo && !hi) {
    int32_t digits = b.repeat(nb.digit(0, 9), 1, kInf);
    int32_t int_part = b.choice({b.bytes("0"), b.seq({nb.digit(1, 9),
                                                     b.repeat(nb.digit(0, 9), 0, kInf)})});
    ByteSet e, sign;
    e.set('e');
    e.set('E');
    sign.set('+');
    sign.set('-');
    // At most two exponent digits: every value then stays within what a parser reads as a double.
    int32_t exponent = b.seq({b.byte_set(e), b.optional(b.byte_set(sign)),
                              b.repeat(nb.digit(0, 9), 1, 2)});
    return b.seq({b.optional(b.bytes("-")), int_part, nb.any_fraction(), b.optional(exponent)});
  }
  return nb.decimal_range(lo, hi);
}

}  // namespace r1::grammar::detail
