// Tool calls in DeepSeek's chat format: the functions a request offers, the tool prompt used when a
// chat template does not render tools itself, the grammar of a tool-call block (for forced or
// constrained calls), and an incremental parser that turns the model's tool-call syntax back into
// OpenAI tool_calls while the text streams in.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_template.h"
#include "grammar/grammar.h"

namespace r1::chat {

// The markers are added tokens of DeepSeek's vocabularies (special=false, so they decode as text).
inline constexpr std::string_view kToolCallsBegin = "<｜tool▁calls▁begin｜>";
inline constexpr std::string_view kToolCallsEnd = "<｜tool▁calls▁end｜>";
inline constexpr std::string_view kToolCallBegin = "<｜tool▁call▁begin｜>";
inline constexpr std::string_view kToolCallEnd = "<｜tool▁call▁end｜>";
inline constexpr std::string_view kToolSep = "<｜tool▁sep｜>";

// How a model writes one call.
//   kR1:  <｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>
//         (DeepSeek-V3, R1, R1-0528 and the distills)
//   kV31: <｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>  (DeepSeek-V3.1)
// Calls of one turn follow each other between <｜tool▁calls▁begin｜> and <｜tool▁calls▁end｜>.
enum class ToolCallFormat { kR1, kV31 };

// One function of a request's `tools` (OpenAI shape, already validated by the server).
struct ToolSpec {
  std::string name;
  std::string description;
  nlohmann::ordered_json parameters;  // a JSON Schema; {"type": "object"} when the request gave none
};

// Reads OpenAI `tools` ([{"type": "function", "function": {name, description, parameters}}]).
// Throws r1::Error naming the bad entry ("tools[2].function.name ...").
std::vector<ToolSpec> parse_tool_specs(const nlohmann::ordered_json& tools);

// What a chat template does with tools, found by rendering probe conversations once.
struct TemplateToolSupport {
  bool renders_tools = false;               // the `tools` variable reaches the prompt
  ToolCallFormat format = ToolCallFormat::kR1;  // how it writes an assistant turn's tool calls
};
TemplateToolSupport probe_tool_support(const ChatTemplate& tmpl, const nlohmann::ordered_json& special_tokens);

// A system prompt that lists `tools` and explains `format`, for templates that ignore `tools`.
std::string builtin_tool_prompt(const std::vector<ToolSpec>& tools, ToolCallFormat format);
// Adds `prompt` to the conversation's system prompt: appended to the last system message (some
// templates keep only the last one), or as a new first message when there is none.
void add_system_prompt(nlohmann::ordered_json& messages, const std::string& prompt);

// The grammar of one tool-call block: <｜tool▁calls▁begin｜>, one call (or one or more when
// `parallel`), <｜tool▁calls▁end｜>. Each call names one of `tools` and its arguments match that
// function's parameter schema. Throws r1::Error (kind kUnsupported naming the keyword) for a schema
// the grammar engine cannot express.
grammar::GrammarBuilder::Expr tool_calls_grammar(grammar::GrammarBuilder& b, const std::vector<ToolSpec>& tools,
                                                 ToolCallFormat format, bool parallel);

// A parsed call. `arguments` is the model's JSON text, as OpenAI returns it.
struct ToolCall {
  std::string id, name, arguments;
  bool complete = false;  // its <｜tool▁call▁end｜> was seen
};

// Part of a call while streaming: the first delta of call `index` carries its id and name (with
// empty arguments), later ones carry pieces of the arguments.
struct ToolCallDelta {
  int index = 0;
  bool first = false;
  std::string id, name, arguments;
};

// Splits a model's answer into content and tool calls, in either format, while the text arrives
// in pieces cut anywhere (even inside a marker or a UTF-8 character). Text that might still become
// a marker is held back until it is decided. Syntax that breaks the format (text where a call must
// start, an overlong or unterminated header) is given back as content from where the block
// began; calls completed before it stay calls. Never throws on any input.
class ToolCallParser {
 public:
  // Call i gets the id `id_prefix` + i.
  explicit ToolCallParser(std::string id_prefix = "call_");

  struct Output {
    std::string content;
    std::vector<ToolCallDelta> deltas;
  };
  Output push(std::string_view text);
  // End of the answer: releases held text. A call cut off inside its arguments is kept with the
  // arguments seen so far (complete = false).
  Output finish();

  const std::vector<ToolCall>& calls() const { return calls_; }

 private:
  enum class State { kText, kBlock, kHeader, kName, kFence, kArgs };
  bool step(Output& out, bool final);
  void start_call(Output& out, std::string name);
  void emit_args(Output& out, std::string_view text);
  void give_back(Output& out);

  std::string id_prefix_;
  State state_ = State::kText;
  std::string buf_;          // text not yet consumed
  std::string raw_;          // the text of the current block not yet committed as calls (for give_back)
  std::string header_;       // text between <｜tool▁call▁begin｜> and <｜tool▁sep｜>
  bool fenced_ = false;      // arguments sit in a ```json fence
  std::vector<ToolCall> calls_;
};

}  // namespace r1::chat
