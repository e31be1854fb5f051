// JSON numbers whose value lies within bounds (minimum / maximum / exclusive forms), as exact
// digit-level grammars: integers by length and lexicographic comparison, fractions by a small
// automaton that tracks whether the digits so far equal a bound's digits.
#pragma once

#include <optional>
#include <string>

#include "grammar/ir.h"

namespace r1::grammar::detail {

// A finite decimal: -? int_digits . frac_digits, canonical (no leading zeros in int_digits, "0"
// for zero; no trailing zeros in frac_digits; zero is never negative).
struct Decimal {
  bool negative = false;
  std::string int_digits = "0";
  std::string frac_digits;

  // From JSON number text such as "12", "-0.5", "1e+20", "2.5E-7"; false if malformed.
  static bool parse(std::string_view text, Decimal& out);
  std::string to_string() const;
};

struct NumberBound {
  Decimal value;
  bool exclusive = false;
};

// A JSON number (or integer) within the bounds. Bounded numbers are written without an exponent;
// unbounded ones may use one of at most two digits. Integers are written as plain digits.
int32_t build_number(IrBuilder& b, bool integer, const std::optional<NumberBound>& lo,
                     const std::optional<NumberBound>& hi);

}  // namespace r1::grammar::detail
