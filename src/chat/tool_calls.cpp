// Tool calls: request tools → prompt text and grammar; model text → OpenAI tool calls.
#include "chat/tool_calls.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"

namespace r1::chat {

using nlohmann::ordered_json;

namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool all_space(std::string_view s) { return std::all_of(s.begin(), s.end(), is_space); }

// Length of the longest suffix of `s` that is a proper prefix of `marker`.
size_t partial_suffix(std::string_view s, std::string_view marker) {
  for (size_t len = std::min(s.size(), marker.size() - 1); len > 0; --len)
    if (s.substr(s.size() - len) == marker.substr(0, len)) return len;
  return 0;
}

// Bytes at the end of `s` that start a UTF-8 character not yet complete (0 when none). Text is
// only ever handed out in whole characters, so a JSON encoder downstream never sees half of one.
size_t incomplete_utf8_tail(std::string_view s) {
  for (size_t back = 1; back <= std::min<size_t>(3, s.size()); ++back) {
    const auto c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

// Longest header or name accepted before the block is judged malformed.
constexpr size_t kMaxName = 256;

bool plausible_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxName && name.find('\n') == std::string_view::npos &&
         name.find("<｜") == std::string_view::npos;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Tools of a request

std::vector<ToolSpec> parse_tool_specs(const ordered_json& tools) {
  std::vector<ToolSpec> out;
  if (tools.is_null()) return out;
  if (!tools.is_array()) fail("'tools' must be an array");
  for (size_t i = 0; i < tools.size(); ++i) {
    const ordered_json& t = tools[i];
    const ordered_json* f = t.is_object() && t.contains("function") ? &t["function"] : nullptr;
    if (!f || !f->is_object() || !f->contains("name") || !(*f)["name"].is_string())
      fail("tools[{}] must be {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}", i);
    ToolSpec s;
    s.name = (*f)["name"].get<std::string>();
    if (!plausible_name(s.name)) fail("tools[{}].function.name '{}' is not a usable function name", i, s.name);
    if (f->contains("description") && (*f)["description"].is_string()) s.description = (*f)["description"];
    if (f->contains("parameters") && !(*f)["parameters"].is_null()) {
      if (!(*f)["parameters"].is_object()) fail("tools[{}].function.parameters must be a JSON schema object", i);
      s.parameters = (*f)["parameters"];
    } else {
      s.parameters = {{"type", "object"}};
    }
    out.push_back(std::move(s));
  }
  return out;
}

TemplateToolSupport probe_tool_support(const ChatTemplate& tmpl, const ordered_json& special_tokens) {
  // A name no real conversation uses: if it shows up in the output, the template used the input.
  const std::string probe = "r1_probe_function_5c1e";
  const ordered_json tools = ordered_json::array(
      {{{"type", "function"},
        {"function", {{"name", probe}, {"description", "probe"}, {"parameters", {{"type", "object"}}}}}}});
  TemplateToolSupport s;
  ChatInputs in;
  in.messages = ordered_json::array({{{"role", "user"}, {"content", "hi"}}});
  in.tools = tools;
  in.add_generation_prompt = true;
  in.special_tokens = special_tokens;
  try {
    s.renders_tools = tmpl.render(build_context(in)).find(probe) != std::string::npos;
  } catch (const Error&) {
    // A template that cannot render tools does not render them.
  }
  in.messages.push_back({{"role", "assistant"},
                         {"content", nullptr},
                         {"tool_calls", ordered_json::array({{{"id", "call_0"},
                                                              {"type", "function"},
                                                              {"function", {{"name", probe}, {"arguments", "{}"}}}}})}});
  in.messages.push_back({{"role", "tool"}, {"tool_call_id", "call_0"}, {"content", "ok"}});
  in.add_generation_prompt = false;
  try {
    const std::string out = tmpl.render(build_context(in));
    if (out.find(probe + std::string(kToolSep)) != std::string::npos) s.format = ToolCallFormat::kV31;
  } catch (const Error&) {
  }
  return s;
}

std::string builtin_tool_prompt(const std::vector<ToolSpec>& tools, ToolCallFormat format) {
  std::string p = "## Tools\n\nYou may call the functions listed below. Each entry gives the function's name, "
                  "what it does, and a JSON Schema for its arguments.\n";
  for (const ToolSpec& t : tools) {
    p += fmt::format("\n### {}\n", t.name);
    if (!t.description.empty()) p += fmt::format("Description: {}\n", t.description);
    p += fmt::format("Parameters: {}\n", t.parameters.dump());
  }
  p += "\nTo call functions, reply with a tool-call block in exactly this form and write nothing after it:\n";
  p += std::string(kToolCallsBegin) + std::string(kToolCallBegin);
  if (format == ToolCallFormat::kR1) {
    p += "function" + std::string(kToolSep) + "FUNCTION_NAME\n```json\nARGUMENTS\n```";
  } else {
    p += "FUNCTION_NAME" + std::string(kToolSep) + "ARGUMENTS";
  }
  p += std::string(kToolCallEnd) + std::string(kToolCallsEnd) + "\n";
  p += "FUNCTION_NAME is one of the names above and ARGUMENTS is a JSON object that matches its Parameters. "
       "Several calls go one after another inside the same block. The results come back in the next message; "
       "answer the user directly when no function is needed.";
  return p;
}

void add_system_prompt(ordered_json& messages, const std::string& prompt) {
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    ordered_json& m = *it;
    if (m.is_object() && m.value("role", "") == "system") {
      std::string content = m.contains("content") && m["content"].is_string() ? m["content"].get<std::string>() : "";
      m["content"] = content.empty() ? prompt : content + "\n\n" + prompt;
      return;
    }
  }
  messages.insert(messages.begin(), ordered_json{{"role", "system"}, {"content", prompt}});
}

grammar::GrammarBuilder::Expr tool_calls_grammar(grammar::GrammarBuilder& b, const std::vector<ToolSpec>& tools,
                                                 ToolCallFormat format, bool parallel) {
  using Expr = grammar::GrammarBuilder::Expr;
  if (tools.empty()) fail("a tool-call grammar needs at least one function");
  std::vector<Expr> alternatives;
  for (const ToolSpec& t : tools) {
    Expr args = b.json_schema(t.parameters);
    if (format == ToolCallFormat::kR1) {
      alternatives.push_back(b.seq({b.token(kToolCallBegin), b.literal("function"), b.token(kToolSep),
                                    b.literal(t.name + "\n```json\n"), args, b.literal("\n```"),
                                    b.token(kToolCallEnd)}));
    } else {
      alternatives.push_back(
          b.seq({b.token(kToolCallBegin), b.literal(t.name), b.token(kToolSep), args, b.token(kToolCallEnd)}));
    }
  }
  grammar::GrammarBuilder::Rule call = b.declare("tool_call");
  b.define(call, alternatives.size() == 1 ? alternatives[0] : b.choice(alternatives));
  Expr calls = b.ref(call);
  if (parallel) {
    // R1's template separates the calls of a turn with a newline.
    Expr more = b.seq({b.optional(b.literal("\n")), b.ref(call)});
    calls = b.seq({b.ref(call), b.repeat(more, 0, grammar::GrammarBuilder::kUnbounded)});
  }
  return b.seq({b.token(kToolCallsBegin), calls, b.token(kToolCallsEnd)});
}

// ---------------------------------------------------------------------------------------------
// Parsing

ToolCallParser::ToolCallParser(std::string id_prefix) : id_prefix_(std::move(id_prefix)) {}

ToolCallParser::Output ToolCallParser::push(std::string_view text) {
  Output out;
  buf_.append(text);
  while (step(out, false)) {
  }
  return out;
}

ToolCallParser::Output ToolCallParser::finish() {
  Output out;
  while (step(out, true)) {
  }
  buf_.clear();
  raw_.clear();
  state_ = State::kText;
  return out;
}

void ToolCallParser::start_call(Output& out, std::string name) {
  ToolCall c;
  c.id = id_prefix_ + std::to_string(calls_.size());
  c.name = std::move(name);
  ToolCallDelta d;
  d.index = int(calls_.size());
  d.first = true;
  d.id = c.id;
  d.name = c.name;
  out.deltas.push_back(std::move(d));
  calls_.push_back(std::move(c));
  raw_.clear();  // the call is out: what came before it can no longer be given back as text
}

void ToolCallParser::emit_args(Output& out, std::string_view text) {
  if (text.empty()) return;
  calls_.back().arguments.append(text);
  const int index = int(calls_.size()) - 1;
  if (!out.deltas.empty() && out.deltas.back().index == index && !out.deltas.back().first) {
    out.deltas.back().arguments.append(text);
    return;
  }
  ToolCallDelta d;
  d.index = index;
  d.arguments = std::string(text);
  out.deltas.push_back(std::move(d));
}

void ToolCallParser::give_back(Output& out) {
  out.content += raw_;
  raw_.clear();
  state_ = State::kText;
}

// One move of the state machine over buf_. Returns false when it needs more text (or, when
// `final`, when everything is consumed).
bool ToolCallParser::step(Output& out, bool final) {
  switch (state_) {
    case State::kText: {
      const size_t block = buf_.find(kToolCallsBegin);
      const size_t call = buf_.find(kToolCallBegin);  // a call without the block marker
      const size_t at = std::min(block, call);
      if (at != std::string::npos) {
        out.content.append(buf_, 0, at);
        const std::string_view marker = at == block ? kToolCallsBegin : kToolCallBegin;
        raw_.assign(marker);
        buf_.erase(0, at + marker.size());
        state_ = at == block ? State::kBlock : State::kHeader;
        header_.clear();
        return true;
      }
      size_t hold = final ? 0 : std::max(partial_suffix(buf_, kToolCallsBegin), partial_suffix(buf_, kToolCallBegin));
      if (!final && hold == 0) hold = incomplete_utf8_tail(buf_);
      out.content.append(buf_, 0, buf_.size() - hold);
      buf_.erase(0, buf_.size() - hold);
      return false;
    }
    case State::kBlock: {
      size_t ws = 0;
      while (ws < buf_.size() && is_space(buf_[ws])) ++ws;
      const std::string_view rest = std::string_view(buf_).substr(ws);
      for (std::string_view marker : {kToolCallBegin, kToolCallsEnd}) {
        if (rest.substr(0, marker.size()) != marker) continue;
        raw_.append(buf_, 0, ws + marker.size());
        buf_.erase(0, ws + marker.size());
        if (marker == kToolCallsEnd) {
          raw_.clear();
          state_ = State::kText;
        } else {
          header_.clear();
          state_ = State::kHeader;
        }
        return true;
      }
      const bool undecided = kToolCallBegin.substr(0, rest.size()) == rest || kToolCallsEnd.substr(0, rest.size()) == rest;
      if (!final && undecided) return false;
      if (final && raw_.empty() && all_space(buf_)) {
        // Calls ended and the answer stopped before the block's end marker.
        buf_.clear();
        state_ = State::kText;
        return false;
      }
      give_back(out);  // text where a call must start: the rest of the block is content
      return true;
    }
    case State::kHeader: {
      const size_t sep = buf_.find(kToolSep);
      if (sep != std::string::npos) {
        // The same limits as the wait below applies to a header still arriving, so that where the
        // text was cut never changes the verdict.
        const std::string_view raw_header = std::string_view(buf_).substr(0, sep);
        const std::string header(trim(raw_header));
        if (raw_header.find('\n') != std::string_view::npos || raw_header.size() > kMaxName + 8 ||
            !plausible_name(header)) {
          give_back(out);
          return true;
        }
        raw_.append(buf_, 0, sep + kToolSep.size());
        buf_.erase(0, sep + kToolSep.size());
        header_ = header;
        if (header_ == "function") {
          state_ = State::kName;  // R1 (the call type), unless V3.1 named a function "function"
        } else {
          start_call(out, header_);
          fenced_ = false;
          state_ = State::kArgs;
        }
        return true;
      }
      // A header never holds a newline or another marker; a partial separator may end the text.
      const std::string_view seen = std::string_view(buf_).substr(0, buf_.size() - partial_suffix(buf_, kToolSep));
      if (final || seen.find('\n') != std::string_view::npos || seen.find("<｜") != std::string_view::npos ||
          seen.size() > kMaxName + 8) {
        give_back(out);
        return true;
      }
      return false;
    }
    case State::kName: {
      size_t first = 0;
      while (first < buf_.size() && is_space(buf_[first])) ++first;
      if (first < buf_.size() && (buf_[first] == '{' || buf_[first] == '[')) {
        // V3.1: the header was the function's name and the arguments follow the separator.
        start_call(out, header_);
        fenced_ = false;
        state_ = State::kArgs;
        return true;
      }
      const size_t nl = buf_.find('\n', first);
      if (nl != std::string::npos) {
        const std::string name(trim(std::string_view(buf_).substr(0, nl)));
        if (nl > kMaxName || !plausible_name(name)) {  // the length limit of the wait below
          give_back(out);
          return true;
        }
        buf_.erase(0, nl + 1);
        start_call(out, name);
        state_ = State::kFence;
        return true;
      }
      if (final || buf_.size() > kMaxName || buf_.find("<｜") != std::string::npos) {
        give_back(out);
        return true;
      }
      return false;
    }
    case State::kFence: {
      // R1 wraps the arguments in ```json ... ```; accept any language tag or none.
      fenced_ = false;
      if (buf_.size() < 3 && !final && std::string_view("```").substr(0, buf_.size()) == buf_) return false;
      if (buf_.compare(0, 3, "```") == 0) {
        const size_t nl = buf_.find('\n');
        if (nl == std::string::npos) {
          if (!final && buf_.size() <= 16) return false;
        } else if (nl <= 16) {
          buf_.erase(0, nl + 1);
          fenced_ = true;
        }
      }
      state_ = State::kArgs;
      return true;
    }
    case State::kArgs: {
      if (calls_.back().arguments.empty()) {
        size_t ws = 0;  // the arguments start at their first non-blank character
        while (ws < buf_.size() && is_space(buf_[ws])) ++ws;
        buf_.erase(0, ws);
      }
      const size_t end = buf_.find(kToolCallEnd);
      std::string_view body = std::string_view(buf_).substr(0, end == std::string::npos ? buf_.size() : end);
      if (end != std::string::npos || final) {
        // The arguments end before trailing whitespace and, in a fence, its closing ```.
        size_t n = body.size();
        while (n > 0 && is_space(body[n - 1])) --n;
        if (fenced_ && n >= 3 && body.substr(n - 3, 3) == "```") n -= 3;
        while (n > 0 && is_space(body[n - 1])) --n;
        emit_args(out, body.substr(0, n));
        calls_.back().complete = end != std::string::npos;
        if (end != std::string::npos) {
          buf_.erase(0, end + kToolCallEnd.size());
          raw_.clear();
          state_ = State::kBlock;
          return true;
        }
        buf_.clear();
        state_ = State::kText;
        return false;
      }
      // Hold back what may still turn out to be the end: a partial marker, and before it any
      // whitespace or backticks (the fence's closing line).
      size_t keep = partial_suffix(body, kToolCallEnd);
      size_t n = body.size() - keep;
      while (n > 0 && (is_space(body[n - 1]) || body[n - 1] == '`')) --n;
      n -= incomplete_utf8_tail(body.substr(0, n));
      emit_args(out, body.substr(0, n));
      buf_.erase(0, n);
      return false;
    }
  }
  return false;
}

}  // namespace r1::chat
