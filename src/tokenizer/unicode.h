// UTF-8 and Unicode helpers for the tokenizer: decoding, validation, lossy repair (the way the
// reference's String::from_utf8_lossy does it), normalization forms and the few character
// properties the pipeline needs. Character data comes from utf8proc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace r1::unicode {

inline constexpr char32_t kReplacement = 0xFFFD;

// Length of the longest valid UTF-8 sequence at s[i] (1..4), or 0 if the bytes there are not a
// valid sequence (bad lead byte, bad continuation, overlong, surrogate, > U+10FFFF, truncated).
size_t valid_sequence_length(std::string_view s, size_t i);

// Decodes the valid sequence at s[i] of length n (as returned by valid_sequence_length).
char32_t decode_at(std::string_view s, size_t i, size_t n);

// Byte offset of the first invalid UTF-8 byte, or nullopt when the whole string is valid.
std::optional<size_t> find_invalid_utf8(std::string_view s);

// Appends the UTF-8 encoding of cp.
void append_utf8(std::string& out, char32_t cp);

// Appends s with every maximal invalid subsequence replaced by U+FFFD (Unicode's "maximal subpart"
// practice, which String::from_utf8_lossy follows).
void append_lossy(std::string& out, std::string_view s);
std::string lossy(std::string_view s);

// Length of a trailing prefix of a multi-byte character that more bytes could still complete
// (0..3). Bytes before it are either complete characters or definitely invalid.
size_t incomplete_tail_length(std::string_view s);

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };
// Normalizes valid UTF-8 text; `out` is replaced.
void normalize(NormalForm form, std::string_view text, std::string& out);

// White_Space property (Rust char::is_whitespace).
bool is_white_space(char32_t cp);
// Numeric general categories Nd, Nl, No (Rust char::is_numeric).
bool is_numeric(char32_t cp);
// Word characters as a Unicode regex \w sees them: letters, marks, Nd, Nl, Pc, joiners.
bool is_word_char(char32_t cp);

// Version of the Unicode data behind normalize() and the properties above.
const char* data_version();

}  // namespace r1::unicode
