// Bundle loading: model, tokenizer, chat template and generation defaults from one directory.
#include "engine/model_bundle.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "formats/json_config.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

GenerationDefaults read_defaults(const Checkpoint& ckpt) {
  GenerationDefaults d;
  if (!ckpt.generation_config || !ckpt.generation_config->is_object()) return d;
  JsonConfig g(*ckpt.generation_config, ckpt.path + "/generation_config.json");
  const bool sample = g.boolean("do_sample", true);
  d.sampling.temperature = sample ? float(g.number("temperature", 1.0)) : 0.0f;
  d.sampling.top_p = float(g.number("top_p", 1.0));
  d.sampling.top_k = int32_t(g.integer("top_k", 0));
  d.sampling.repetition_penalty = float(g.number("repetition_penalty", 1.0));
  if (g.has("max_new_tokens")) d.max_new_tokens = g.integer("max_new_tokens");
  return d;
}

}  // namespace

std::string ModelBundle::render(const chat::ChatInputs& inputs) const {
  if (!chat_template) fail(ErrorKind::kUnsupported, "{}: the model has no chat template; use a raw completion", name);
  return chat_template->render(chat::build_context(inputs));
}

std::vector<int32_t> ModelBundle::encode_prompt(const std::string& text, bool raw) const {
  if (!raw) return tokenizer->encode(text, false);
  std::vector<int32_t> ids = tokenizer->encode(text, true);
  const TokenizerConfig& c = tokenizer->config();
  if (c.add_bos_token && c.bos_id && (ids.empty() || ids.front() != *c.bos_id)) ids.insert(ids.begin(), *c.bos_id);
  return ids;
}

bool ModelBundle::prompt_opens_reasoning(const std::string& prompt) const {
  if (!reasoning_model) return false;
  size_t end = prompt.size();
  while (end > 0 && (prompt[end - 1] == '\n' || prompt[end - 1] == ' ' || prompt[end - 1] == '\r')) --end;
  constexpr std::string_view kOpen = "<think>";
  return end >= kOpen.size() && std::string_view(prompt).substr(end - kOpen.size(), kOpen.size()) == kOpen;
}

std::shared_ptr<const grammar::Vocabulary> ModelBundle::grammar_vocabulary() const {
  std::call_once(vocabulary_once_, [&] {
    const int32_t n = int32_t(model->info().vocab_size);  // the tokenizer may have fewer ids
    std::vector<std::string> bytes(static_cast<size_t>(n));
    std::vector<int32_t> special;
    for (int32_t id = 0; id < std::min(n, tokenizer->vocab_size()); ++id) {
      if (!tokenizer->is_valid_id(id)) continue;
      bytes[size_t(id)] = tokenizer->token_bytes(id);
      if (tokenizer->is_added(id)) special.push_back(id);
    }
    vocabulary_ = std::make_shared<const grammar::Vocabulary>(std::move(bytes), eos_ids, std::move(special));
  });
  return vocabulary_;
}

const chat::TemplateToolSupport& ModelBundle::tool_support() const {
  std::call_once(tool_support_once_, [&] {
    if (chat_template) tool_support_ = chat::probe_tool_support(*chat_template, special_tokens);
  });
  return tool_support_;
}

std::shared_ptr<ModelBundle> load_bundle(const std::string& path, LoadMode mode) {
  auto b = std::make_shared<ModelBundle>();
  b->path = path;
  fs::path p(path);
  if (p.filename().empty()) p = p.parent_path();
  b->name = p.extension() == ".gguf" ? p.stem().string() : p.filename().string();
  auto ckpt = open_checkpoint(path, mode);
  b->defaults = read_defaults(*ckpt);
  b->model = load_model(ckpt);

  if (ckpt->tokenizer_json) {
    // A GGUF file carries its tokenizer and chat template in its metadata.
    const nlohmann::json* tc = ckpt->tokenizer_config ? &*ckpt->tokenizer_config : nullptr;
    b->tokenizer = std::make_shared<const Tokenizer>(Tokenizer::from_json(*ckpt->tokenizer_json, tc));
    if (tc && tc->contains("chat_template") && (*tc)["chat_template"].is_string())
      b->chat_template = chat::ChatTemplate::parse((*tc)["chat_template"].get<std::string>(), b->name + ":chat_template");
    const TokenizerConfig& cfg = b->tokenizer->config();
    if (cfg.bos_token) b->special_tokens["bos_token"] = *cfg.bos_token;
    if (cfg.eos_token) b->special_tokens["eos_token"] = *cfg.eos_token;
  } else {
    if (!fs::exists(fs::path(path) / "tokenizer.json"))
      fail(ErrorKind::kNotFound, "{}: tokenizer.json is missing (needed to generate text)", path);
    b->tokenizer = std::make_shared<const Tokenizer>(Tokenizer::from_dir(path));
    try {
      chat::ModelChatConfig chat = chat::load_chat_config(path);
      b->chat_template = chat::ChatTemplate::parse(chat.template_source, chat.template_origin);
      b->special_tokens = chat.special_tokens;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kNotFound) throw;  // a broken template is an error; none is fine
    }
  }
  if (b->tokenizer->vocab_size() > b->model->info().vocab_size)
    fail("{}: the tokenizer has {} ids but the model only {} logits", path, b->tokenizer->vocab_size(),
         b->model->info().vocab_size);

  b->eos_ids = b->model->info().eos_token_ids;
  if (auto eos = b->tokenizer->config().eos_id) b->eos_ids.push_back(*eos);
  std::sort(b->eos_ids.begin(), b->eos_ids.end());
  b->eos_ids.erase(std::unique(b->eos_ids.begin(), b->eos_ids.end()), b->eos_ids.end());
  b->think.think = b->tokenizer->token_to_id("<think>");
  b->think.end_think = b->tokenizer->token_to_id("</think>");
  // Only a tag that is an added token is a real tag; V3's "<think>" is ordinary text.
  if (b->think.think && !b->tokenizer->is_added(*b->think.think)) b->think.think.reset();
  if (b->think.end_think && !b->tokenizer->is_added(*b->think.end_think)) b->think.end_think.reset();
  b->reasoning_model = b->think.end_think.has_value() ||
                       (b->chat_template && b->chat_template->source().find("<think>") != std::string::npos);
  return b;
}

}  // namespace r1
