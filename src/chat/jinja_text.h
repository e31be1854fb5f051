// Text helpers for the template interpreter: UTF-8 code points, Python's notion of whitespace and
// case, and Python's printing of floats and strings (repr) and JSON strings (json.dumps).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace r1::chat::jinja {

// Decodes UTF-8 leniently: an invalid byte becomes its own code point (0xDC80 + byte, like
// Python's surrogateescape) so that any byte string survives a decode/encode round trip.
std::vector<char32_t> utf8_decode(std::string_view s);
// Decodes the code point at s[i] (leniently, as above) and advances i past it.
char32_t utf8_next(std::string_view s, std::size_t& i);
void utf8_append(std::string& out, char32_t cp);
std::string utf8_encode(const std::vector<char32_t>& cps);
// Number of code points (Python len(str)).
std::size_t utf8_length(std::string_view s);
bool is_ascii(std::string_view s);

// str.isspace() of one code point (Unicode White_Space plus the ASCII separators Python adds).
bool py_isspace(char32_t cp);
// Python str.strip()/lstrip()/rstrip() without arguments (Unicode whitespace).
std::string_view py_strip(std::string_view s, bool left, bool right);
// str.strip(chars): removes any of the code points in `chars`.
std::string py_strip_chars(std::string_view s, std::string_view chars, bool left, bool right);

// Case mapping of whole strings (Unicode simple case mapping from the C.UTF-8 locale, plus
// ß → SS for upper as Python does). Falls back to ASCII if that locale is unavailable.
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
char32_t cp_upper(char32_t cp);
char32_t cp_lower(char32_t cp);
bool cp_isalpha(char32_t cp);
bool cp_isdigit(char32_t cp);
bool cp_isalnum(char32_t cp);
bool cp_isupper(char32_t cp);
bool cp_islower(char32_t cp);

// Python repr() of a float: shortest round-trip digits, fixed notation for exponents in
// [-4, 16), "1e+20" style otherwise, always a '.0' or exponent, "inf"/"nan".
std::string py_float_repr(double v);
// Python repr() of a str: single quotes unless the text has ' and no ", with Python's escapes.
std::string py_str_repr(std::string_view s);
// json.dumps of a string (quotes included): escapes \" \\ \n \r \t \b \f and other control
// characters as \u00XX; with ensure_ascii, every non-ASCII code point as \uXXXX (surrogate pairs).
void json_escape_string(std::string& out, std::string_view s, bool ensure_ascii);

}  // namespace r1::chat::jinja
