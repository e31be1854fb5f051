// Template lexer: splits Jinja source into text and tag tokens, applying whitespace control
// ({%- -%}, {%+ +%}) and trim_blocks / lstrip_blocks exactly as Jinja2's lexer does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace r1::chat::jinja {

struct SourcePos {
  int line = 1;
  int column = 1;  // in code points, 1-based
};

enum class TokenType { kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInteger, kFloat, kOperator, kEof };

struct Token {
  TokenType type = TokenType::kEof;
  std::string text;  // text data, name, decoded string literal, or operator spelling
  std::int64_t int_value = 0;
  double float_value = 0;
  SourcePos pos;
};

struct LexerOptions {
  bool trim_blocks = true;   // transformers sets both
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

// Throws TemplateError (kind kSyntax, located) naming the line and column of the problem.
std::vector<Token> tokenize(std::string_view source, const LexerOptions& options = {});

// Human-readable description of a token for error messages ("end of print statement", "'('").
std::string describe(const Token& token);

}  // namespace r1::chat::jinja
