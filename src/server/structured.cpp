// Structured outputs: request → grammar plan → per-generation constraint; parsed calls → JSON.
#include "server/structured.h"

#include <fmt/format.h>

#include "core/error.h"
#include "engine/grammar_constraint.h"

namespace r1::server {

using nlohmann::ordered_json;
using Expr = grammar::GrammarBuilder::Expr;

std::shared_ptr<const grammar::CompiledGrammar> GrammarCache::find(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  entries_.splice(entries_.begin(), entries_, it->second);
  return it->second->second;
}

void GrammarCache::insert(const std::string& key, std::shared_ptr<const grammar::CompiledGrammar> grammar) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (index_.count(key)) return;
  entries_.emplace_front(key, std::move(grammar));
  index_[key] = entries_.begin();
  while (entries_.size() > capacity_) {
    index_.erase(entries_.back().first);
    entries_.pop_back();
  }
}

size_t GrammarCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

namespace {

// What the answer must look like, as far as a grammar is concerned.
struct Shape {
  std::optional<ordered_json> value;   // a JSON value matching this schema
  std::vector<chat::ToolSpec> tools;   // callable functions (empty: no calls)
  bool parallel = true;
  bool trigger = false;                // the grammar starts at the tool-call block (free text before)
  chat::ToolCallFormat format = chat::ToolCallFormat::kR1;

  std::string key() const {
    ordered_json k = {{"value", value ? *value : ordered_json()},
                      {"parallel", parallel}, {"trigger", trigger}, {"format", int(format)}};
    ordered_json t = ordered_json::array();
    for (const chat::ToolSpec& s : tools) t.push_back({s.name, s.parameters});
    k["tools"] = t;
    return k.dump();
  }
};

constexpr int kToolArgumentsWhitespace = 4;

[[noreturn]] void bad_schema(const Error& e, const std::string& param) {
  throw ApiError(400, fmt::format("{}: {}", param, e.what()), param,
                 e.kind() == ErrorKind::kUnsupported ? "unsupported_schema" : "invalid_schema");
}

grammar::Grammar build_grammar(const Shape& s) {
  grammar::GrammarOptions options;
  options.strict = true;  // no properties beyond those the schema lists, unless it allows them
  // Tool arguments are read by programs, and DeepSeek's models write them on one line: a short
  // whitespace bound (room for ", ", ": " or a newline and a small indent) keeps a model from
  // spending its token budget on padding between every two JSON tokens of a call.
  if (!s.tools.empty()) options.max_whitespace = kToolArgumentsWhitespace;
  grammar::GrammarBuilder b(options);
  std::optional<Expr> value, calls;
  if (s.value) {
    try {
      value = b.json_schema(*s.value);
    } catch (const Error& e) {
      bad_schema(e, "response_format");
    }
  }
  if (!s.tools.empty()) {
    try {
      calls = chat::tool_calls_grammar(b, s.tools, s.format, s.parallel);
    } catch (const Error& e) {
      bad_schema(e, "tools");
    }
  }
  if (s.trigger) return b.build(*calls);
  // Before the answer a model writes a line break or two (R1: "</think>\n\n"); JSON allows them.
  Expr lead = b.regex("[ \\t\\r\\n]{0,4}");
  Expr body = value && calls ? b.choice({*value, *calls}) : value ? *value : *calls;
  return b.build(b.seq({lead, body}));
}

std::optional<int32_t> added_token(const ModelBundle& b, std::string_view text) {
  auto id = b.tokenizer->token_to_id(text);
  if (id && b.tokenizer->is_added(*id)) return id;
  return std::nullopt;
}

}  // namespace

StructuredPlan plan_structured(ParsedRequest& pr, const ModelBundle& b, GrammarCache& cache) {
  StructuredPlan plan;
  Shape shape;
  if (!pr.response_format.is_null()) {
    const ordered_json& rf = pr.response_format;
    const std::string type = rf.value("type", "");
    if (type == "json_object") {
      shape.value = ordered_json{{"type", "object"}};
    } else if (type == "json_schema") {
      const ordered_json& js = rf["json_schema"];
      if (js.contains("schema") && !js["schema"].is_null()) shape.value = js["schema"];
      else shape.value = ordered_json{{"type", "object"}};
    }
  }

  std::vector<chat::ToolSpec> tools;
  try {
    tools = chat::parse_tool_specs(pr.tools);
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "tools");
  }
  std::string choice = "auto";
  std::string named;
  if (pr.tool_choice.is_string()) choice = pr.tool_choice.get<std::string>();
  else if (pr.tool_choice.is_object()) choice = "function", named = pr.tool_choice["function"]["name"].get<std::string>();
  if (tools.empty()) choice = "none";

  const chat::TemplateToolSupport& support = b.tool_support();
  shape.format = support.format;
  if (!tools.empty()) {
    for (std::string_view marker : {chat::kToolCallsBegin, chat::kToolCallsEnd, chat::kToolCallBegin,
                                    chat::kToolCallEnd, chat::kToolSep}) {
      if (!added_token(b, marker) && choice != "none")
        throw ApiError(400, fmt::format("the model '{}' cannot call tools: its vocabulary has no {} token", b.name, marker),
                       "tools", "unsupported_parameter");
    }
    if (choice == "none") {
      for (std::string_view marker : {chat::kToolCallsBegin, chat::kToolCallBegin})
        if (auto id = added_token(b, marker)) plan.banned.push_back(*id);
    } else {
      plan.parse_tool_calls = true;
      if (!support.renders_tools) chat::add_system_prompt(pr.inputs.messages, chat::builtin_tool_prompt(tools, shape.format));
      shape.parallel = pr.parallel_tool_calls;
      if (choice == "function") {
        for (const chat::ToolSpec& t : tools)
          if (t.name == named) shape.tools = {t};
        shape.parallel = false;
        shape.value.reset();
      } else if (choice == "required") {
        shape.tools = tools;
        shape.value.reset();
      } else {  // auto: free text, or calls once the model opens a block (then constrained)
        shape.tools = tools;
        shape.trigger = !shape.value;
      }
    }
  }
  if (shape.value || !shape.tools.empty()) {
    plan.trigger_on_tool_calls = shape.trigger;
    const std::string key = shape.key();
    plan.grammar = cache.find(key);
    if (!plan.grammar) {
      grammar::Grammar g = build_grammar(shape);
      try {
        plan.grammar = grammar::CompiledGrammar::compile(g, b.grammar_vocabulary());
      } catch (const Error& e) {
        bad_schema(e, shape.value ? "response_format" : "tools");
      }
      cache.insert(key, plan.grammar);
    }
    plan.banned.clear();  // the grammar never lets tool-call markers in where they don't belong
  }
  return plan;
}

std::shared_ptr<TokenConstraint> make_constraint(const StructuredPlan& plan, const ModelBundle& b,
                                                 const GenerationRequest& req) {
  if (plan.grammar) {
    ConstraintStart start;
    const bool reasoning = req.split_reasoning && b.reasoning_model;
    start.after_reasoning = reasoning && req.prompt_opens_reasoning;
    if (reasoning && !start.after_reasoning) start.think = b.think.think;
    if (plan.trigger_on_tool_calls) start.trigger = added_token(b, chat::kToolCallsBegin);
    return std::make_shared<GrammarConstraint>(plan.grammar, start);
  }
  if (!plan.banned.empty()) return std::make_shared<TokenBan>(plan.banned, b.model->info().vocab_size);
  return nullptr;
}

ordered_json tool_calls_json(const std::vector<chat::ToolCall>& calls) {
  ordered_json out = ordered_json::array();
  for (const chat::ToolCall& c : calls)
    out.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  return out;
}

ordered_json tool_call_deltas_json(const std::vector<chat::ToolCallDelta>& deltas) {
  ordered_json out = ordered_json::array();
  for (const chat::ToolCallDelta& d : deltas) {
    if (d.first) {
      out.push_back({{"index", d.index},
                     {"id", d.id},
                     {"type", "function"},
                     {"function", {{"name", d.name}, {"arguments", d.arguments}}}});
    } else {
      out.push_back({{"index", d.index}, {"function", {{"arguments", d.arguments}}}});
    }
  }
  return out;
}

}  // namespace r1::server
