// Request validation and response shaping for the OpenAI-compatible API.
#include "server/openai.h"

#include <cmath>
#include <regex>

#include "core/error.h"

namespace r1::server {

using nlohmann::json;
using nlohmann::ordered_json;

ordered_json ApiError::to_json() const {
  ordered_json e = {{"message", what()}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) e["param"] = param;
  if (!code.empty()) e["code"] = code;
  return {{"error", e}};
}

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message, const std::string& code = "invalid_value") {
  throw ApiError(400, message, param, code);
}

// A field of the body: absent or null → nullptr.
const json* field(const json& body, const char* key) {
  auto it = body.find(key);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::string type_name(const json& v) { return v.is_number_integer() || v.is_number_unsigned() ? "integer" : v.type_name(); }

double number(const json& body, const char* key, double lo, double hi) {
  const json& v = *field(body, key);
  if (!v.is_number()) bad(key, fmt::format("'{}' must be a number, got {}", key, type_name(v)), "invalid_type");
  double d = v.get<double>();
  if (!(d >= lo && d <= hi)) bad(key, fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, d));
  return d;
}

int64_t integer(const json& body, const char* key, int64_t lo, int64_t hi) {
  const json& v = *field(body, key);
  if (!v.is_number_integer() && !v.is_number_unsigned())
    bad(key, fmt::format("'{}' must be an integer, got {}", key, type_name(v)), "invalid_type");
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(hi))
    bad(key, fmt::format("'{}' must be between {} and {}", key, lo, hi));
  int64_t i = v.get<int64_t>();
  if (i < lo || i > hi) bad(key, fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, i));
  return i;
}

bool boolean(const json& body, const char* key) {
  const json& v = *field(body, key);
  if (!v.is_boolean()) bad(key, fmt::format("'{}' must be a boolean, got {}", key, type_name(v)), "invalid_type");
  return v.get<bool>();
}

std::string string(const json& v, const std::string& param) {
  if (!v.is_string()) bad(param, fmt::format("'{}' must be a string, got {}", param, type_name(v)), "invalid_type");
  return v.get<std::string>();
}

// Parameters shared by chat and text completions.
void parse_common(const json& body, ParsedRequest& r) {
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
  if (auto* m = field(body, "model")) r.model = string(*m, "model");
  SamplingOverrides& s = r.sampling;
  if (field(body, "temperature")) s.temperature = float(number(body, "temperature", 0, 2));
  if (field(body, "top_p")) s.top_p = float(number(body, "top_p", 0, 1));
  if (field(body, "min_p")) s.min_p = float(number(body, "min_p", 0, 1));
  if (field(body, "top_k")) {
    // -1 means "off" in several servers' APIs; accept it as 0.
    s.top_k = int32_t(std::max<int64_t>(0, integer(body, "top_k", -1, 1 << 24)));
  }
  if (field(body, "frequency_penalty")) s.frequency_penalty = float(number(body, "frequency_penalty", -2, 2));
  if (field(body, "presence_penalty")) s.presence_penalty = float(number(body, "presence_penalty", -2, 2));
  if (field(body, "repetition_penalty")) {
    double v = number(body, "repetition_penalty", 0, 10);
    if (v <= 0) bad("repetition_penalty", "'repetition_penalty' must be greater than 0");
    s.repetition_penalty = float(v);
  }
  if (field(body, "seed")) {
    const json& v = *field(body, "seed");
    if (v.is_number_unsigned()) s.seed = v.get<uint64_t>();
    else if (v.is_number_integer()) s.seed = uint64_t(v.get<int64_t>());  // negative seeds wrap
    else bad("seed", "'seed' must be an integer", "invalid_type");
  }
  if (auto* lb = field(body, "logit_bias")) {
    if (!lb->is_object()) bad("logit_bias", "'logit_bias' must be an object mapping token ids to biases", "invalid_type");
    for (auto& [k, v] : lb->items()) {
      size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(k, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != k.size() || id < 0 || id > (1ll << 31) - 1)
        bad("logit_bias", fmt::format("'logit_bias' key '{}' is not a token id", k));
      if (!v.is_number()) bad("logit_bias", "'logit_bias' values must be numbers", "invalid_type");
      double b = v.get<double>();
      if (!(b >= -100 && b <= 100)) bad("logit_bias", fmt::format("'logit_bias' value for {} must be between -100 and 100", k));
      s.logit_bias[int32_t(id)] = float(b);
    }
  }
  // max_completion_tokens is the current name, max_tokens the older alias.
  for (const char* key : {"max_tokens", "max_completion_tokens"})
    if (field(body, key)) r.max_tokens = integer(body, key, 1, int64_t(1) << 30);
  if (field(body, "max_reasoning_tokens")) r.max_reasoning_tokens = integer(body, "max_reasoning_tokens", 0, int64_t(1) << 30);
  if (auto* st = field(body, "stop")) {
    if (st->is_string()) {
      r.stop = {st->get<std::string>()};
    } else if (st->is_array()) {
      if (st->size() > 4) bad("stop", fmt::format("'stop' may hold at most 4 sequences, got {}", st->size()));
      for (const json& x : *st) r.stop.push_back(string(x, "stop"));
    } else {
      bad("stop", "'stop' must be a string or an array of strings", "invalid_type");
    }
    for (const std::string& x : r.stop)
      if (x.empty()) bad("stop", "'stop' sequences must not be empty");
  }
  if (field(body, "n")) r.n = int(integer(body, "n", 1, 16));
  if (field(body, "stream")) r.stream = boolean(body, "stream");
  if (auto* so = field(body, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "'stream_options' must be an object", "invalid_type");
    if (!r.stream) bad("stream_options", "'stream_options' is only allowed when 'stream' is true");
    if (field(*so, "include_usage")) r.include_usage = boolean(*so, "include_usage");
  }
}

std::string content_text(const json& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad(param, fmt::format("'{}' must be a string, an array of content parts or null", param), "invalid_type");
  std::string out;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string p = fmt::format("{}[{}]", param, i);
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      bad(p, fmt::format("'{}' must be an object with a 'type'", p), "invalid_type");
    if (part["type"] != "text") bad(p, fmt::format("content part type '{}' is not supported (text only)", part["type"].get<std::string>()));
    if (!part.contains("text")) bad(p + ".text", "a text content part needs 'text'");
    out += string(part["text"], p + ".text");
  }
  return out;
}

ordered_json parse_tool_calls(const json& calls, const std::string& param) {
  if (!calls.is_array()) bad(param, fmt::format("'{}' must be an array", param), "invalid_type");
  ordered_json out = ordered_json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const json& c = calls[i];
    const std::string p = fmt::format("{}[{}]", param, i);
    if (!c.is_object() || !c.contains("function") || !c["function"].is_object())
      bad(p, fmt::format("'{}' must be an object with a 'function'", p), "invalid_type");
    const json& f = c["function"];
    ordered_json call = {{"type", "function"},
                         {"function", {{"name", string(f.value("name", json()), p + ".function.name")},
                                       {"arguments", string(f.value("arguments", json()), p + ".function.arguments")}}}};
    if (c.contains("id") && !c["id"].is_null()) call["id"] = string(c["id"], p + ".id");
    out.push_back(call);
  }
  return out;
}

void parse_messages(const json& body, ParsedRequest& r) {
  const json* msgs = field(body, "messages");
  if (!msgs) bad("messages", "'messages' is required", "missing_required_parameter");
  if (!msgs->is_array()) bad("messages", "'messages' must be an array", "invalid_type");
  if (msgs->empty()) bad("messages", "'messages' must contain at least one message");
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const std::string p = fmt::format("messages[{}]", i);
    if (!m.is_object()) bad(p, fmt::format("'{}' must be an object", p), "invalid_type");
    if (!m.contains("role")) bad(p + ".role", fmt::format("'{}.role' is required", p), "missing_required_parameter");
    std::string role = string(m["role"], p + ".role");
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      bad(p + ".role", fmt::format("unknown role '{}' (expected system, developer, user, assistant or tool)", role));
    ordered_json out = {{"role", role}};
    const json* content = field(m, "content");
    if (content) {
      out["content"] = content_text(*content, p + ".content");
    } else {
      if (role != "assistant" || !field(m, "tool_calls"))
        bad(p + ".content", fmt::format("'{}.content' is required", p), "missing_required_parameter");
      out["content"] = nullptr;
    }
    if (role == "assistant") {
      if (auto* rc = field(m, "reasoning_content")) out["reasoning_content"] = string(*rc, p + ".reasoning_content");
      if (auto* tc = field(m, "tool_calls")) out["tool_calls"] = parse_tool_calls(*tc, p + ".tool_calls");
      if (auto* pre = field(m, "prefix")) out["prefix"] = *pre;
    }
    if (role == "tool") {
      if (auto* id = field(m, "tool_call_id")) out["tool_call_id"] = string(*id, p + ".tool_call_id");
    }
    if (auto* name = field(m, "name")) out["name"] = string(*name, p + ".name");
    r.inputs.messages.push_back(std::move(out));
  }
}

void parse_tools(const json& body, ParsedRequest& r) {
  if (auto* rf = field(body, "response_format")) {
    if (!rf->is_object() || !rf->contains("type") || !(*rf)["type"].is_string())
      bad("response_format", "'response_format' must be an object with a 'type'", "invalid_type");
    std::string type = (*rf)["type"];
    if (type == "json_schema") {
      const json* js = field(*rf, "json_schema");
      if (!js || !js->is_object()) bad("response_format.json_schema", "'response_format.json_schema' must be an object");
      const json* schema = field(*js, "schema");
      if (schema && !schema->is_object() && !schema->is_boolean())
        bad("response_format.json_schema.schema", "'response_format.json_schema.schema' must be a JSON schema object");
      if (auto* name = field(*js, "name")) string(*name, "response_format.json_schema.name");
    } else if (type != "text" && type != "json_object") {
      bad("response_format.type", fmt::format("unknown response_format type '{}' (expected text, json_object or json_schema)", type));
    }
    if (type != "text") r.response_format = *rf;
  }
  if (auto* tools = field(body, "tools")) {
    if (!tools->is_array()) bad("tools", "'tools' must be an array", "invalid_type");
    static const std::regex kName("^[A-Za-z0-9_-]{1,64}$");
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& t = (*tools)[i];
      const std::string p = fmt::format("tools[{}]", i);
      if (!t.is_object() || t.value("type", json()) != "function" || !t.contains("function") || !t["function"].is_object())
        bad(p, fmt::format("'{}' must be {{\"type\": \"function\", \"function\": {{...}}}}", p));
      const json& f = t["function"];
      std::string name = string(f.value("name", json()), p + ".function.name");
      if (!std::regex_match(name, kName))
        bad(p + ".function.name", "function names must be 1-64 characters of a-z, A-Z, 0-9, _ or -");
      if (f.contains("parameters") && !f["parameters"].is_null() && !f["parameters"].is_object())
        bad(p + ".function.parameters", "'parameters' must be a JSON schema object");
      if (f.contains("description") && !f["description"].is_null()) string(f["description"], p + ".function.description");
    }
    if (!tools->empty()) r.tools = *tools;
  }
  if (auto* tc = field(body, "tool_choice")) {
    if (tc->is_string()) {
      std::string v = *tc;
      if (v != "none" && v != "auto" && v != "required")
        bad("tool_choice", fmt::format("'tool_choice' must be none, auto, required or a function, got '{}'", v));
    } else if (tc->is_object()) {
      const json* f = field(*tc, "function");
      if (tc->value("type", json()) != "function" || !f || !f->is_object() || !f->contains("name"))
        bad("tool_choice", "'tool_choice' object must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
      std::string name = string((*f)["name"], "tool_choice.function.name");
      bool known = false;
      if (r.tools.is_array())
        for (const auto& t : r.tools) known = known || t["function"]["name"] == name;
      if (!known) bad("tool_choice", fmt::format("'tool_choice' names function '{}', which is not in 'tools'", name));
    } else {
      bad("tool_choice", "'tool_choice' must be a string or an object", "invalid_type");
    }
    if (!r.tools.is_array() && *tc != "none") bad("tool_choice", "'tool_choice' needs 'tools'");
    r.tool_choice = *tc;
  }
  if (field(body, "parallel_tool_calls")) r.parallel_tool_calls = boolean(body, "parallel_tool_calls");
  if (r.tools.is_array()) r.inputs.tools = r.tools;
}

}  // namespace

ParsedRequest parse_chat_request(const json& body) {
  ParsedRequest r;
  parse_common(body, r);
  r.chat = true;
  parse_messages(body, r);
  parse_tools(body, r);
  if (field(body, "logprobs")) r.sampling.logprobs = boolean(body, "logprobs");
  if (field(body, "top_logprobs")) {
    r.sampling.top_logprobs = int32_t(integer(body, "top_logprobs", 0, 20));
    if (!r.sampling.logprobs && r.sampling.top_logprobs > 0)
      bad("top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
  }
  // Template variables some chat templates read (e.g. V3.1's "thinking").
  if (auto* kw = field(body, "chat_template_kwargs")) {
    if (!kw->is_object()) bad("chat_template_kwargs", "'chat_template_kwargs' must be an object", "invalid_type");
    for (auto& [k, v] : kw->items()) r.inputs.extra[k] = v;
  }
  r.inputs.add_generation_prompt = true;
  return r;
}

ParsedRequest parse_completion_request(const json& body) {
  ParsedRequest r;
  parse_common(body, r);
  r.chat = false;
  const json* prompt = field(body, "prompt");
  if (!prompt) bad("prompt", "'prompt' is required", "missing_required_parameter");
  if (prompt->is_string()) {
    r.prompt_text = prompt->get<std::string>();
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    r.prompt_text = (*prompt)[0].get<std::string>();
  } else {
    bad("prompt", "'prompt' must be a string (batches of prompts are not supported; send one request each)", "invalid_type");
  }
  if (field(body, "echo")) r.echo = boolean(body, "echo");
  if (field(body, "logprobs")) {
    int64_t lp = integer(body, "logprobs", 0, 5);
    r.sampling.logprobs = true;
    r.sampling.top_logprobs = int32_t(lp);
  }
  if (field(body, "best_of") && integer(body, "best_of", 1, 16) != 1) bad("best_of", "'best_of' other than 1 is not supported");
  if (field(body, "suffix")) bad("suffix", "'suffix' (fill-in-the-middle) is not supported");
  return r;
}

void keep_key_order(ParsedRequest& r, const ordered_json& body) {
  if (!body.is_object()) return;
  if (!r.response_format.is_null() && body.contains("response_format")) r.response_format = body["response_format"];
  if (r.tools.is_array() && body.contains("tools")) {
    r.tools = body["tools"];
    r.inputs.tools = r.tools;
  }
}

// A request cut off by its token limit says "length" even when its (force-completed) answer
// holds tool calls.
std::string openai_finish_reason(const ChoiceOutput& c) {
  if (c.finish == FinishReason::kLength) return "length";
  if (!c.tool_calls.is_null() && !c.tool_calls.empty()) return "tool_calls";
  return "stop";
}

ordered_json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}},
          {"completion_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}},
          {"prompt_cache_hit_tokens", u.cached_tokens},
          {"prompt_cache_miss_tokens", u.prompt_tokens - u.cached_tokens}};
}

namespace {
ordered_json token_entry(const Tokenizer& tok, int32_t id, float logprob) {
  const std::string& bytes = tok.token_bytes(id);
  ordered_json b = ordered_json::array();
  for (unsigned char c : bytes) b.push_back(int(c));
  // The token text as valid UTF-8 (a partial character becomes U+FFFD, as decode would).
  std::vector<int32_t> one = {id};
  return {{"token", tok.decode(one, false)}, {"logprob", logprob}, {"bytes", b}};
}
}  // namespace

ordered_json chat_logprobs_json(const std::vector<TokenOutput>& tokens, const Tokenizer& tok, bool reasoning) {
  ordered_json content = ordered_json::array();
  for (const TokenOutput& t : tokens) {
    if (t.reasoning != reasoning) continue;
    ordered_json e = token_entry(tok, t.id, t.logprob);
    ordered_json top = ordered_json::array();
    for (const TokenLogprob& alt : t.top) top.push_back(token_entry(tok, alt.token, alt.logprob));
    e["top_logprobs"] = top;
    content.push_back(e);
  }
  return content;
}

ordered_json chat_completion_json(const std::string& id, int64_t created, const std::string& model,
                                  const std::vector<ChoiceOutput>& choices, const Usage& usage,
                                  const Tokenizer& tok, bool logprobs) {
  ordered_json out = {{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", model},
                      {"system_fingerprint", "r1"}};
  ordered_json arr = ordered_json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceOutput& c = choices[i];
    ordered_json msg = {{"role", "assistant"}, {"content", c.content}};
    if (!c.reasoning.empty()) msg["reasoning_content"] = c.reasoning;
    else msg["reasoning_content"] = nullptr;
    if (!c.tool_calls.is_null() && !c.tool_calls.empty()) {
      msg["tool_calls"] = c.tool_calls;
      if (c.content.empty()) msg["content"] = nullptr;
    }
    ordered_json choice = {{"index", i}, {"message", msg}};
    choice["logprobs"] = logprobs ? ordered_json{{"content", chat_logprobs_json(c.tokens, tok, false)},
                                                 {"reasoning_content", chat_logprobs_json(c.tokens, tok, true)}}
                                  : ordered_json(nullptr);
    choice["finish_reason"] = openai_finish_reason(c);
    arr.push_back(choice);
  }
  out["choices"] = arr;
  out["usage"] = usage_json(usage);
  return out;
}

ordered_json text_completion_json(const std::string& id, int64_t created, const std::string& model,
                                  const std::vector<ChoiceOutput>& choices, const Usage& usage,
                                  const Tokenizer& tok, bool logprobs) {
  ordered_json out = {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model},
                      {"system_fingerprint", "r1"}};
  ordered_json arr = ordered_json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceOutput& c = choices[i];
    ordered_json choice = {{"index", i}, {"text", c.content}};
    if (logprobs) {
      ordered_json tokens = ordered_json::array(), lps = ordered_json::array(), tops = ordered_json::array();
      for (const TokenOutput& t : c.tokens) {
        std::vector<int32_t> one = {t.id};
        tokens.push_back(tok.decode(one, false));
        lps.push_back(t.logprob);
        ordered_json top = ordered_json::object();
        for (const TokenLogprob& alt : t.top) {
          std::vector<int32_t> a = {alt.token};
          top[tok.decode(a, false)] = alt.logprob;
        }
        tops.push_back(top);
      }
      choice["logprobs"] = {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}};
    } else {
      choice["logprobs"] = nullptr;
    }
    choice["finish_reason"] = openai_finish_reason(c);
    arr.push_back(choice);
  }
  out["choices"] = arr;
  out["usage"] = usage_json(usage);
  return out;
}

}  // namespace r1::server
