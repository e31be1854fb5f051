// `r1 render`: prints the prompt a model's chat template makes of a conversation, byte for byte
// (no newline added), so templates can be checked against transformers' apply_chat_template.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "cli/command.h"
#include "cli/common.h"
#include "core/error.h"

namespace r1::cli {

namespace {

struct RenderOptions {
  std::string model;
  std::string template_file;
  std::string messages_file;
  std::string tools_file;
  std::string template_name = "default";
  bool add_generation_prompt = false;
  std::vector<std::string> vars;
};

nlohmann::ordered_json read_json_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, "cannot read {} file {}", what, path);
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::ordered_json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", path, e.what());
  }
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, "cannot read template file {}", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int run_render(const RenderOptions& opt) {
  chat::ChatInputs inputs;
  std::string source, name;
  if (!opt.template_file.empty()) {
    source = read_text_file(opt.template_file);
    name = opt.template_file;
  }
  // Special tokens (and the template, unless --template gave one) come from the model directory.
  if (!opt.model.empty() || opt.template_file.empty()) {
    const std::string dir = resolve_model_path(opt.model);
    chat::ModelChatConfig config = chat::load_chat_config(dir, opt.template_name);
    inputs.special_tokens = config.special_tokens;
    if (opt.template_file.empty()) {
      source = std::move(config.template_source);
      name = config.template_origin;
    }
  }

  // --messages: a JSON array of messages, or an object with "messages" (and optionally "tools").
  nlohmann::ordered_json messages = read_json_file(opt.messages_file, "messages");
  if (messages.is_object()) {
    if (!messages.contains("messages")) fail("{}: expected an array of messages or an object with \"messages\"", opt.messages_file);
    if (messages.contains("tools")) inputs.tools = messages["tools"];
    messages = nlohmann::ordered_json(messages["messages"]);
  }
  if (!messages.is_array()) fail("{}: \"messages\" must be a JSON array", opt.messages_file);
  inputs.messages = std::move(messages);
  if (!opt.tools_file.empty()) {
    inputs.tools = read_json_file(opt.tools_file, "tools");
    if (!inputs.tools.is_array()) fail("{}: tools must be a JSON array", opt.tools_file);
  }
  inputs.add_generation_prompt = opt.add_generation_prompt;
  for (const std::string& var : opt.vars) {
    const std::size_t eq = var.find('=');
    if (eq == std::string::npos || eq == 0) fail("--var expects NAME=JSON, got '{}'", var);
    const std::string key = var.substr(0, eq);
    try {
      inputs.extra[key] = nlohmann::ordered_json::parse(var.substr(eq + 1));
    } catch (const nlohmann::json::exception&) {
      fail("--var {}: the value is not valid JSON (quote strings: {}='\"text\"')", key, key);
    }
  }

  const chat::ChatTemplate tmpl = chat::ChatTemplate::parse(std::move(source), name);
  const std::string prompt = tmpl.render(chat::build_context(inputs));
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace

R1_COMMAND("render", "Render a conversation with the model's chat template (prints the prompt exactly)",
           [](CLI::App& app) -> std::function<int()> {
             auto opt = std::make_shared<RenderOptions>();
             app.add_option("-m,--model", opt->model,
                            "Model directory (tokenizer files suffice; default: the bundled tiny-r1)");
             app.add_option("--template", opt->template_file, "Render this Jinja file instead of the model's template");
             app.add_option("--messages", opt->messages_file, "JSON file: array of chat messages")->required();
             app.add_option("--tools", opt->tools_file, "JSON file: array of tool definitions");
             app.add_flag("--add-generation-prompt", opt->add_generation_prompt,
                          "End with the assistant turn's opening (add_generation_prompt=true)");
             app.add_option("--var", opt->vars, "Extra template variable NAME=JSON (repeatable)");
             app.add_option("--template-name", opt->template_name,
                            "Which named template to use when the model has several (default: default)");
             return [opt] { return run_render(*opt); };
           });

}  // namespace r1::cli
