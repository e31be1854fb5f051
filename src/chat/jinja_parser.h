// Template parser: tokens → syntax tree, following the grammar and operator precedence of
// Jinja2's parser. Syntax errors are TemplateError(kSyntax) with "line:column: message".
#pragma once

#include <memory>
#include <string_view>

#include "chat/jinja_ast.h"

namespace r1::chat::jinja {

struct ParseLimits {
  int max_nesting = 128;  // nested statements, and parentheses/operators inside one expression
};

std::unique_ptr<Program> parse_template(std::string_view source, const ParseLimits& limits = {});

}  // namespace r1::chat::jinja
