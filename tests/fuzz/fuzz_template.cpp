// libFuzzer target for chat templates: arbitrary template text is parsed and rendered against a
// conversation with every message kind; the result must be output or an r1::Error, never a crash,
// a hang or runaway memory (small limits keep each input fast).
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "chat/chat_template.h"
#include "core/error.h"

namespace {

const nlohmann::ordered_json& context() {
  static const nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "Weather in Paris? ｜ é 😀"},
      {"role": "assistant", "content": "<think>\nneed a tool\n</think>\n\nChecking.", "reasoning_content": "need a tool",
       "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "content": "{\"temp\": 21.5}", "tool_call_id": "c1"},
      {"role": "assistant", "content": null},
      {"role": "user", "content": ""}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    "add_generation_prompt": true,
    "bos_token": "<｜begin▁of▁sentence｜>",
    "eos_token": "<｜end▁of▁sentence｜>",
    "thinking": true,
    "n": 3, "f": 2.5, "nothing": null, "nested": {"a": [1, {"b": [true, false]}]}
  })");
  return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string source(reinterpret_cast<const char*>(data), size);
  r1::chat::TemplateLimits limits;
  limits.max_output_bytes = 1 << 20;
  limits.max_steps = 200000;
  limits.max_call_depth = 50;
  try {
    auto tmpl = r1::chat::ChatTemplate::parse(source, "fuzz");
    tmpl.set_limits(limits);
    const std::string out = tmpl.render(context());
    (void)out;
  } catch (const r1::Error&) {
    // Bad templates are expected; anything else escaping is a bug.
  }
  return 0;
}
