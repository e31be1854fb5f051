// Chat templates: a model's Jinja chat template, parsed once and rendered for many conversations
// exactly as Hugging Face transformers renders it (Jinja2 with trim_blocks and lstrip_blocks, an
// immutable sandbox, tojson as json.dumps, raise_exception and strftime_now).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace r1::chat {

// Guards against runaway templates; exceeding one is an r1::Error of kind kLimit.
struct TemplateLimits {
  std::size_t max_output_bytes = std::size_t{64} << 20;  // output, and any string built on the way
  std::uint64_t max_steps = 20'000'000;                  // evaluation steps (nodes, iterations, data walked)
  int max_call_depth = 100;                              // nested macro or recursive-loop calls
};

class ChatTemplate {
 public:
  // Parses `source`. `name` prefixes error messages, which also carry line and column:
  // "deepseek-r1:3:14: expected end of print statement, got ')'". Throws r1::Error.
  static ChatTemplate parse(std::string source, std::string name = "chat_template");

  // Renders with `context` (a JSON object: its keys are the template's variables). An
  // ordered_json keeps object keys in the caller's order, which tojson then reproduces like
  // Python does; nlohmann::json sorts keys. Safe to call from several threads at once.
  // Errors are r1::Error: "name:line:col: message"; raise_exception(msg) gives exactly msg.
  std::string render(const nlohmann::ordered_json& context) const;
  std::string render(const nlohmann::json& context) const;

  const std::string& name() const;
  const std::string& source() const;
  void set_limits(const TemplateLimits& limits);
  const TemplateLimits& limits() const { return limits_; }

  struct Parsed;  // the syntax tree (opaque)

 private:
  ChatTemplate() = default;
  std::shared_ptr<const Parsed> parsed_;
  TemplateLimits limits_;
};

// What a model directory says about chat formatting.
struct ModelChatConfig {
  std::string template_source;
  std::string template_origin;  // the file the template came from, for messages
  // Special tokens as template variables (bos_token, eos_token, pad_token, unk_token) when the
  // tokenizer config sets them; an AddedToken object {"content": ...} gives its content.
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();
};

// Reads DIR/chat_template.jinja if present, else the chat_template of DIR/tokenizer_config.json
// (a string, or a list of {name, template} from which `template_name` is taken: "default"
// unless asked otherwise), else DIR/chat_template.json. The directory may hold only tokenizer
// files. Throws r1::Error naming the file when there is no template.
ModelChatConfig load_chat_config(const std::string& model_dir, const std::string& template_name = "default");

// Inputs of one rendering, as the server and CLI collect them.
struct ChatInputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;  // null: no tools
  bool add_generation_prompt = false;
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();  // bos_token, eos_token, ...
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();           // further variables
};

// The context transformers' apply_chat_template passes: messages, tools (None when there are
// none, as transformers passes tools=None), add_generation_prompt, the special tokens, then the
// extra variables (which may override any of these).
nlohmann::ordered_json build_context(const ChatInputs& inputs);

}  // namespace r1::chat
