// Chat templates: the public face of the Jinja interpreter (parse once, render per request) and
// the loading of a model directory's template and special tokens.
#include "chat/chat_template.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/jinja_interp.h"
#include "chat/jinja_parser.h"
#include "core/error.h"

namespace r1::chat {

namespace fs = std::filesystem;

struct ChatTemplate::Parsed {
  std::string name;
  std::string source;
  std::unique_ptr<jinja::Program> program;
};

namespace {

[[noreturn]] void to_error(const std::string& name, const jinja::TemplateError& e) {
  switch (e.kind()) {
    case jinja::TemplateError::Kind::kRaised: throw Error(e.what());
    case jinja::TemplateError::Kind::kLimit: throw Error(fmt::format("{}:{}", name, e.what()), ErrorKind::kLimit);
    default: throw Error(fmt::format("{}:{}", name, e.what()));
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, "cannot read {}", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::ordered_json read_json(const fs::path& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", path.string(), e.what());
  }
}

}  // namespace

ChatTemplate ChatTemplate::parse(std::string source, std::string name) {
  auto parsed = std::make_shared<Parsed>();
  parsed->name = std::move(name);
  try {
    parsed->program = jinja::parse_template(source);
  } catch (const jinja::TemplateError& e) {
    to_error(parsed->name, e);
  }
  parsed->source = std::move(source);
  ChatTemplate t;
  t.parsed_ = std::move(parsed);
  return t;
}

const std::string& ChatTemplate::name() const { return parsed_->name; }
const std::string& ChatTemplate::source() const { return parsed_->source; }
void ChatTemplate::set_limits(const TemplateLimits& limits) { limits_ = limits; }

static std::string render_value(const ChatTemplate::Parsed& parsed, const TemplateLimits& limits,
                                const jinja::Value& context) {
  jinja::RenderLimits rl;
  rl.max_output_bytes = limits.max_output_bytes;
  rl.max_steps = limits.max_steps;
  rl.max_call_depth = limits.max_call_depth;
  if (!context.is_dict()) fail("chat template context must be a JSON object of variables");
  try {
    jinja::Interpreter interp(rl);
    return interp.render(*parsed.program, context.as_dict());
  } catch (const jinja::TemplateError& e) {
    to_error(parsed.name, e);
  }
}

std::string ChatTemplate::render(const nlohmann::ordered_json& context) const {
  jinja::Value v;
  try {
    v = jinja::from_json(context);
  } catch (const jinja::TemplateError& e) {
    to_error(parsed_->name, e);
  }
  return render_value(*parsed_, limits_, v);
}

std::string ChatTemplate::render(const nlohmann::json& context) const {
  jinja::Value v;
  try {
    v = jinja::from_json(context);
  } catch (const jinja::TemplateError& e) {
    to_error(parsed_->name, e);
  }
  return render_value(*parsed_, limits_, v);
}

// ---------------------------------------------------------------------------------------------

static void take_special_tokens(const nlohmann::ordered_json& config, ModelChatConfig& out) {
  for (const char* key : {"bos_token", "eos_token", "pad_token", "unk_token"}) {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) continue;
    if (it->is_string()) {
      out.special_tokens[key] = *it;
    } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
      out.special_tokens[key] = (*it)["content"];
    }
  }
}

static bool pick_template(const nlohmann::ordered_json& value, const std::string& wanted, const fs::path& file,
                          std::string& out) {
  if (value.is_string()) {
    out = value.get<std::string>();
    return true;
  }
  if (value.is_array()) {
    std::string names;
    for (const auto& entry : value) {
      if (!entry.is_object() || !entry.contains("name") || !entry.contains("template")) continue;
      if (!entry["name"].is_string() || !entry["template"].is_string()) continue;
      const std::string name = entry["name"].get<std::string>();
      names += (names.empty() ? "" : ", ") + name;
      if (name == wanted) {
        out = entry["template"].get<std::string>();
        return true;
      }
    }
    fail(ErrorKind::kNotFound, "{}: no chat template named '{}' (it has: {})", file.string(), wanted, names);
  }
  if (!value.is_null()) fail("{}: chat_template must be a string or a list of named templates", file.string());
  return false;
}

ModelChatConfig load_chat_config(const std::string& model_dir, const std::string& template_name) {
  const fs::path dir(model_dir);
  if (!fs::is_directory(dir)) fail(ErrorKind::kNotFound, "{}: not a model directory", model_dir);
  ModelChatConfig out;
  const fs::path config_path = dir / "tokenizer_config.json";
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  if (fs::exists(config_path)) {
    config = read_json(config_path);
    if (!config.is_object()) fail("{}: expected a JSON object", config_path.string());
    take_special_tokens(config, out);
  }
  const fs::path jinja_path = dir / "chat_template.jinja";
  if (fs::exists(jinja_path)) {
    out.template_source = read_file(jinja_path);
    out.template_origin = jinja_path.string();
    return out;
  }
  if (config.contains("chat_template") &&
      pick_template(config["chat_template"], template_name, config_path, out.template_source)) {
    out.template_origin = config_path.string();
    return out;
  }
  const fs::path json_path = dir / "chat_template.json";
  if (fs::exists(json_path)) {
    const nlohmann::ordered_json j = read_json(json_path);
    if (j.is_object() && j.contains("chat_template") &&
        pick_template(j["chat_template"], template_name, json_path, out.template_source)) {
      out.template_origin = json_path.string();
      return out;
    }
  }
  fail(ErrorKind::kNotFound, "{}: no chat template (looked for chat_template.jinja, chat_template in "
       "tokenizer_config.json, and chat_template.json)", model_dir);
}

nlohmann::ordered_json build_context(const ChatInputs& inputs) {
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = inputs.messages;
  ctx["tools"] = inputs.tools;
  ctx["add_generation_prompt"] = inputs.add_generation_prompt;
  for (auto it = inputs.special_tokens.begin(); it != inputs.special_tokens.end(); ++it) ctx[it.key()] = it.value();
  for (auto it = inputs.extra.begin(); it != inputs.extra.end(); ++it) ctx[it.key()] = it.value();
  return ctx;
}

}  // namespace r1::chat
