// Structured outputs of a chat request: response_format (json_object, json_schema, enum schemas)
// and tools/tool_choice become a compiled grammar (cached by request shape) or a token ban, the
// tool prompt is added when the chat template does not render tools, and each generation gets its
// own TokenConstraint.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/tool_calls.h"
#include "engine/engine.h"
#include "grammar/grammar.h"
#include "server/openai.h"

namespace r1::server {

// Compiled grammars by key (the canonical text of what shaped them), least recently used evicted.
// Thread-safe; two requests that miss at once may both compile, and one result is kept.
class GrammarCache {
 public:
  explicit GrammarCache(size_t capacity = 64) : capacity_(capacity) {}
  std::shared_ptr<const grammar::CompiledGrammar> find(const std::string& key);
  void insert(const std::string& key, std::shared_ptr<const grammar::CompiledGrammar> grammar);
  size_t size() const;

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const grammar::CompiledGrammar>>;
  size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

// What a request asks of its output beyond free text.
struct StructuredPlan {
  std::shared_ptr<const grammar::CompiledGrammar> grammar;  // null: no grammar
  bool trigger_on_tool_calls = false;  // tool_choice "auto": the grammar starts at <｜tool▁calls▁begin｜>
  std::vector<int32_t> banned;         // tool_choice "none" with tools: the tool-call openers
  bool parse_tool_calls = false;       // the answer may hold tool calls to turn into tool_calls
};

// Reads response_format, tools, tool_choice and parallel_tool_calls of a parsed chat request for
// model `b`; adds the built-in tool prompt to pr.inputs when the template ignores tools. Throws
// ApiError (400) naming the parameter, e.g. an unsupported schema keyword.
StructuredPlan plan_structured(ParsedRequest& pr, const ModelBundle& b, GrammarCache& cache);

// The constraint for one generation of `req` (each choice needs its own); null when none applies.
std::shared_ptr<TokenConstraint> make_constraint(const StructuredPlan& plan, const ModelBundle& b,
                                                 const GenerationRequest& req);

// OpenAI message.tool_calls for parsed calls.
nlohmann::ordered_json tool_calls_json(const std::vector<chat::ToolCall>& calls);
// OpenAI delta.tool_calls entries for streamed pieces.
nlohmann::ordered_json tool_call_deltas_json(const std::vector<chat::ToolCallDelta>& deltas);

}  // namespace r1::server
