// Template lexer. Mirrors the behaviour of Jinja2's regex lexer: newlines are normalized to \n,
// one trailing newline is dropped, `-` strips all whitespace on its side of a tag, `+` keeps it,
// trim_blocks eats the newline after a block or comment tag and lstrip_blocks the indentation
// before one. Inside a tag, `}}` / `%}` only close it when no bracket is open.
#include "chat/jinja_lexer.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

#include "chat/jinja_text.h"
#include "chat/jinja_value.h"

namespace r1::chat::jinja {

namespace {

[[noreturn]] void syntax_error(SourcePos pos, const std::string& message) {
  TemplateError e(fmt::format("{}:{}: {}", pos.line, pos.column, message), TemplateError::Kind::kSyntax);
  e.set_located();
  throw e;
}

// \r\n and \r become \n; one trailing newline goes unless kept (Jinja2's keep_trailing_newline).
std::string normalize_newlines(std::string_view src, bool keep_trailing_newline) {
  std::string out;
  out.reserve(src.size());
  for (std::size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out.push_back(src[i]);
    }
  }
  if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool is_name_start(char32_t cp) { return cp == '_' || cp_isalpha(cp); }
bool is_name_part(char32_t cp) { return cp == '_' || cp_isalnum(cp); }

class Lexer {
 public:
  Lexer(std::string source, const LexerOptions& options) : src_(std::move(source)), opt_(options) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      const std::size_t tag = find_tag(pos_);
      std::string text = src_.substr(pos_, tag - pos_);
      if (tag == src_.size()) {
        emit_text(std::move(text));
        advance(tag);
        break;
      }
      const char kind = src_[tag + 1];  // '{', '%' or '#'
      const char sign = tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+') ? src_[tag + 2] : 0;
      apply_left_control(text, sign, kind != '{', line_starting);
      emit_text(std::move(text));
      advance(tag);
      const SourcePos tag_pos = here();
      const std::size_t after = tag + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        line_starting = lex_comment(after, tag_pos);
      } else if (kind == '%' && is_raw_begin(after)) {
        line_starting = lex_raw(after);
      } else {
        line_starting = lex_tag(kind == '%', after, tag_pos);
      }
    }
    Token eof;
    eof.type = TokenType::kEof;
    eof.pos = here();
    tokens_.push_back(std::move(eof));
    return std::move(tokens_);
  }

 private:
  SourcePos here() const { return {line_, col_}; }

  // Moves the cursor to `to`, counting lines and code points on the way.
  void advance(std::size_t to) {
    for (; pos_ < to; ++pos_) {
      const auto c = static_cast<unsigned char>(src_[pos_]);
      if (c == '\n') {
        ++line_;
        col_ = 1;
      } else if ((c & 0xC0) != 0x80) {
        ++col_;
      }
    }
  }

  std::size_t find_tag(std::size_t from) const {
    for (std::size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return src_.size();
  }

  void emit_text(std::string text) {
    if (text.empty()) return;
    Token t;
    t.type = TokenType::kText;
    t.text = std::move(text);
    t.pos = here();
    tokens_.push_back(std::move(t));
  }

  // Whitespace control on the text before a tag: `-` strips everything, otherwise
  // lstrip_blocks removes the indentation of a block/comment tag that starts its line.
  void apply_left_control(std::string& text, char sign, bool block_or_comment, bool line_starting) const {
    if (sign == '-') {
      text.resize(py_strip(text, false, true).size());
      return;
    }
    if (sign == '+' || !opt_.lstrip_blocks || !block_or_comment) return;
    const std::size_t nl = text.rfind('\n');
    const std::size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
    if (l_pos == 0 && !line_starting) return;
    if (l_pos == text.size()) return;
    const std::string_view rest = std::string_view(text).substr(l_pos);
    if (py_strip(rest, true, true).empty()) text.resize(l_pos);
  }

  // After a tag ends at `end`: `-` eats all following whitespace, trim_blocks one newline.
  // Returns whether the consumed tag end finished with a newline (Jinja2's line_starting).
  bool finish_tag(std::size_t end, char end_sign, bool trim) {
    std::size_t p = end;
    if (end_sign == '-') {
      const std::string_view rest = std::string_view(src_).substr(p);
      p += rest.size() - py_strip(rest, true, false).size();
    } else if (end_sign != '+' && trim && p < src_.size() && src_[p] == '\n') {
      ++p;
    }
    advance(p);
    return p > 0 && src_[p - 1] == '\n';
  }

  bool lex_comment(std::size_t from, SourcePos tag_pos) {
    const std::size_t end = src_.find("#}", from);
    if (end == std::string::npos) syntax_error(tag_pos, "missing end of comment tag '#}'");
    char end_sign = 0;
    if (end > from && (src_[end - 1] == '-' || src_[end - 1] == '+')) end_sign = src_[end - 1];
    return finish_tag(end + 2, end_sign, opt_.trim_blocks);
  }

  std::size_t skip_spaces(std::size_t p) const {
    while (p < src_.size() && py_isspace(static_cast<unsigned char>(src_[p]))) ++p;
    return p;
  }

  bool word_at(std::size_t p, std::string_view word) const {
    if (src_.compare(p, word.size(), word) != 0) return false;
    const std::size_t q = p + word.size();
    return q >= src_.size() || !(std::isalnum(static_cast<unsigned char>(src_[q])) || src_[q] == '_');
  }

  // `{% raw %}` (possibly with `-`), whose end must be `%}` or `-%}`.
  bool is_raw_begin(std::size_t p) const {
    p = skip_spaces(p);
    if (!word_at(p, "raw")) return false;
    p = skip_spaces(p + 3);
    return src_.compare(p, 2, "%}") == 0 || src_.compare(p, 3, "-%}") == 0;
  }

  bool lex_raw(std::size_t from) {
    const SourcePos raw_pos = here();
    std::size_t p = skip_spaces(skip_spaces(from) + 3);
    // Jinja2 never applies trim_blocks to the raw opening tag.
    bool line_starting;
    if (src_[p] == '-') line_starting = finish_tag(p + 3, '-', false);
    else line_starting = finish_tag(p + 2, '+', false);
    // Find `{%[-+]? endraw [-+]?%}`.
    for (std::size_t q = src_.find("{%", pos_); q != std::string::npos; q = src_.find("{%", q + 2)) {
      std::size_t r = q + 2;
      const char sign = r < src_.size() && (src_[r] == '-' || src_[r] == '+') ? src_[r] : 0;
      if (sign) ++r;
      r = skip_spaces(r);
      if (!word_at(r, "endraw")) continue;
      r = skip_spaces(r + 6);
      char end_sign = 0;
      if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) end_sign = src_[r++];
      if (src_.compare(r, 2, "%}") != 0) continue;
      std::string text = src_.substr(pos_, q - pos_);
      apply_left_control(text, sign, true, line_starting);
      emit_text(std::move(text));
      advance(q);
      return finish_tag(r + 2, end_sign, opt_.trim_blocks);
    }
    syntax_error(raw_pos, "missing end of raw directive '{% endraw %}'");
  }

  void push(TokenType type, std::string text, SourcePos pos) {
    Token t;
    t.type = type;
    t.text = std::move(text);
    t.pos = pos;
    tokens_.push_back(std::move(t));
  }

  // Lexes the inside of {{ ... }} or {% ... %} starting at `from` (after the opening and sign).
  bool lex_tag(bool block, std::size_t from, SourcePos tag_pos) {
    push(block ? TokenType::kBlockBegin : TokenType::kVarBegin, block ? "{%" : "{{", tag_pos);
    advance(from);
    std::string brackets;  // open ( [ { awaiting their closers
    while (true) {
      advance(skip_spaces(pos_));
      if (pos_ >= src_.size())
        syntax_error(tag_pos, block ? "unexpected end of template: block tag '{%' is never closed with '%}'"
                                    : "unexpected end of template: '{{' is never closed with '}}'");
      const SourcePos at = here();
      if (brackets.empty()) {
        const char* close = block ? "%}" : "}}";
        if (src_.compare(pos_, 2, close) == 0) {
          push(block ? TokenType::kBlockEnd : TokenType::kVarEnd, close, at);
          return finish_tag(pos_ + 2, 0, block && opt_.trim_blocks);
        }
        if ((src_[pos_] == '-' || (block && src_[pos_] == '+')) && src_.compare(pos_ + 1, 2, close) == 0) {
          push(block ? TokenType::kBlockEnd : TokenType::kVarEnd, close, at);
          return finish_tag(pos_ + 3, src_[pos_], block && opt_.trim_blocks);
        }
      }
      const char c = src_[pos_];
      if (std::isdigit(static_cast<unsigned char>(c))) {
        lex_number(at);
      } else if (c == '\'' || c == '"') {
        lex_string(at);
      } else {
        std::size_t q = pos_;
        if (is_name_start(utf8_next(src_, q))) {
          std::size_t end = q;
          while (end < src_.size()) {
            std::size_t next = end;
            if (!is_name_part(utf8_next(src_, next))) break;
            end = next;
          }
          push(TokenType::kName, src_.substr(pos_, end - pos_), at);
          advance(end);
        } else {
          lex_operator(at, brackets);
        }
      }
    }
  }

  void lex_operator(SourcePos at, std::string& brackets) {
    static const char* kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
    for (const char* op : kTwo) {
      if (src_.compare(pos_, 2, op) == 0) {
        push(TokenType::kOperator, op, at);
        advance(pos_ + 2);
        return;
      }
    }
    const char c = src_[pos_];
    static const std::string_view kOne = "+-/*%~[](){}<>=.:|,;";
    if (kOne.find(c) == std::string_view::npos) {
      std::size_t q = pos_;
      std::string shown = utf8_encode({utf8_next(src_, q)});
      syntax_error(at, fmt::format("unexpected character '{}'", shown));
    }
    if (c == '(' || c == '[' || c == '{') brackets.push_back(c);
    if (c == ')' || c == ']' || c == '}') {
      const char open = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (brackets.empty()) syntax_error(at, fmt::format("unexpected '{}'", c));
      if (brackets.back() != open) {
        const char want = brackets.back() == '(' ? ')' : brackets.back() == '[' ? ']' : '}';
        syntax_error(at, fmt::format("unexpected '{}', expected '{}'", c, want));
      }
      brackets.pop_back();
    }
    push(TokenType::kOperator, std::string(1, c), at);
    advance(pos_ + 1);
  }

  // Digits with optional `_` separators starting at p; returns the end.
  std::size_t digits_end(std::size_t p) const {
    auto is_digit = [](unsigned char ch) { return ch >= '0' && ch <= '9'; };
    if (p >= src_.size() || !is_digit(static_cast<unsigned char>(src_[p]))) return p;
    ++p;
    while (p < src_.size()) {
      if (is_digit(static_cast<unsigned char>(src_[p]))) ++p;
      else if (src_[p] == '_' && p + 1 < src_.size() && is_digit(static_cast<unsigned char>(src_[p + 1]))) p += 2;
      else break;
    }
    return p;
  }

  void lex_number(SourcePos at) {
    const std::size_t start = pos_;
    const bool after_dot = start > 0 && src_[start - 1] == '.';
    std::size_t p = digits_end(start);
    // Float: digits '.' digits [e..] | digits e[+-]digits (not right after a '.', as in Jinja2).
    if (!after_dot) {
      std::size_t q = p;
      bool is_float = false;
      if (q + 1 < src_.size() && src_[q] == '.' && std::isdigit(static_cast<unsigned char>(src_[q + 1]))) {
        q = digits_end(q + 1);
        is_float = true;
      }
      if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
        std::size_t r = q + 1;
        if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) ++r;
        const std::size_t e = digits_end(r);
        if (e > r) q = e, is_float = true;
      }
      if (is_float) {
        std::string text;
        for (std::size_t i = start; i < q; ++i)
          if (src_[i] != '_') text.push_back(src_[i]);
        Token t;
        t.type = TokenType::kFloat;
        t.text = src_.substr(start, q - start);
        t.float_value = std::strtod(text.c_str(), nullptr);
        t.pos = at;
        tokens_.push_back(std::move(t));
        advance(q);
        return;
      }
    }
    // Integer: 0b / 0o / 0x prefixes, or decimal without leading zeros (a lone 0 or 0_0...).
    int base = 10;
    std::size_t digits_from = start;
    if (src_[start] == '0' && start + 1 < src_.size()) {
      const char x = static_cast<char>(std::tolower(static_cast<unsigned char>(src_[start + 1])));
      if (x == 'b' || x == 'o' || x == 'x') {
        base = x == 'b' ? 2 : x == 'o' ? 8 : 16;
        std::size_t q = start + 2;
        auto ok = [&](char ch) {
          const int d = std::isdigit(static_cast<unsigned char>(ch)) ? ch - '0'
                        : std::isxdigit(static_cast<unsigned char>(ch)) ? std::tolower(static_cast<unsigned char>(ch)) - 'a' + 10
                                                                         : 99;
          return d < base;
        };
        while (q < src_.size() && (ok(src_[q]) || (src_[q] == '_' && q + 1 < src_.size() && ok(src_[q + 1])))) ++q;
        if (q > start + 2) {
          p = q;
          digits_from = start + 2;
        } else {
          base = 10;
          p = start + 1;
        }
      } else {
        // "0" followed by more digits is "0" then another number, as in Jinja2's regex.
        p = start + 1;
        while (p < src_.size() && (src_[p] == '0' || (src_[p] == '_' && p + 1 < src_.size() && src_[p + 1] == '0')))
          p += src_[p] == '_' ? 2 : 1;
      }
    }
    std::int64_t value = 0;
    for (std::size_t i = digits_from; i < p; ++i) {
      const char ch = src_[i];
      if (ch == '_') continue;
      const int d = std::isdigit(static_cast<unsigned char>(ch)) ? ch - '0' : std::tolower(static_cast<unsigned char>(ch)) - 'a' + 10;
      if (__builtin_mul_overflow(value, base, &value) || __builtin_add_overflow(value, d, &value))
        syntax_error(at, "integer literal too large");
    }
    Token t;
    t.type = TokenType::kInteger;
    t.text = src_.substr(start, p - start);
    t.int_value = value;
    t.pos = at;
    tokens_.push_back(std::move(t));
    advance(p);
  }

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }

  // A quoted literal with Python's escapes (Jinja2 decodes them with 'unicode-escape').
  void lex_string(SourcePos at) {
    const char quote = src_[pos_];
    std::string value;
    std::size_t p = pos_ + 1;
    while (true) {
      if (p >= src_.size()) syntax_error(at, "unterminated string literal");
      const char c = src_[p];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++p;
        continue;
      }
      if (p + 1 >= src_.size()) syntax_error(at, "unterminated string literal");
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': value.push_back('\\'); break;
        case '\'': value.push_back('\''); break;
        case '"': value.push_back('"'); break;
        case 'a': value.push_back('\a'); break;
        case 'b': value.push_back('\b'); break;
        case 'f': value.push_back('\f'); break;
        case 'n': value.push_back('\n'); break;
        case 'r': value.push_back('\r'); break;
        case 't': value.push_back('\t'); break;
        case 'v': value.push_back('\v'); break;
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          char32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            const int h = p + k < src_.size() ? hex_value(src_[p + k]) : -1;
            if (h < 0) syntax_error(at, fmt::format("truncated \\{}{} escape in string literal", e, std::string(n, 'X')));
            cp = cp * 16 + static_cast<char32_t>(h);
          }
          p += static_cast<std::size_t>(n);
          if (cp > 0x10FFFF) syntax_error(at, "illegal Unicode character in \\U escape");
          if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // lone surrogates cannot be UTF-8
          utf8_append(value, cp);
          break;
        }
        case 'N': syntax_error(at, "\\N{...} escapes are not supported in string literals");
        default:
          if (e >= '0' && e <= '7') {
            char32_t cp = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && p < src_.size() && src_[p] >= '0' && src_[p] <= '7'; ++k, ++p)
              cp = cp * 8 + static_cast<char32_t>(src_[p] - '0');
            utf8_append(value, cp);
          } else {
            value.push_back('\\');  // unknown escapes stay as written
            value.push_back(e);
          }
      }
    }
    Token t;
    t.type = TokenType::kString;
    t.text = std::move(value);
    t.pos = at;
    tokens_.push_back(std::move(t));
    advance(p + 1);
  }

  std::string src_;
  LexerOptions opt_;
  std::size_t pos_ = 0;
  int line_ = 1;
  int col_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexerOptions& options) {
  return Lexer(normalize_newlines(source, options.keep_trailing_newline), options).run();
}

std::string describe(const Token& token) {
  switch (token.type) {
    case TokenType::kText: return "template data";
    case TokenType::kVarBegin: return "'{{'";
    case TokenType::kVarEnd: return "end of print statement";
    case TokenType::kBlockBegin: return "'{%'";
    case TokenType::kBlockEnd: return "end of statement block";
    case TokenType::kName: return "'" + token.text + "'";
    case TokenType::kString: return "string literal";
    case TokenType::kInteger:
    case TokenType::kFloat: return "number " + token.text;
    case TokenType::kOperator: return "'" + token.text + "'";
    case TokenType::kEof: return "end of template";
  }
  return "token";
}

}  // namespace r1::chat::jinja
