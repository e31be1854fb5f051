// Everything needed to chat with a model, loaded together: the weights, the tokenizer, the chat
// template and the generation defaults of generation_config.json.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "chat/tool_calls.h"
#include "engine/reasoning.h"
#include "engine/sampler.h"
#include "grammar/grammar.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

// Sampling defaults of the model (generation_config.json); a request overrides each one it sets.
struct GenerationDefaults {
  SamplingParams sampling;  // temperature, top_p, top_k, repetition_penalty
  std::optional<int64_t> max_new_tokens;
};

struct ModelBundle {
  std::string path;
  std::string name;  // the id clients use (directory name)
  std::shared_ptr<Model> model;
  std::shared_ptr<const Tokenizer> tokenizer;
  std::optional<chat::ChatTemplate> chat_template;
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();  // bos_token, eos_token, …
  GenerationDefaults defaults;
  std::vector<int32_t> eos_ids;  // any of these ends generation
  ReasoningTokens think;         // <think> / </think> ids when they are single tokens
  bool reasoning_model = false;  // the template or vocabulary uses <think>

  // Renders a conversation with the chat template (throws r1::Error without one).
  std::string render(const chat::ChatInputs& inputs) const;
  // Token ids of a prompt: a rendered chat prompt is encoded as is (it carries its own BOS); raw
  // text gets the BOS the tokenizer config asks for, as transformers adds it.
  std::vector<int32_t> encode_prompt(const std::string& text, bool raw) const;
  // True when a rendered prompt ends inside an opened reasoning block ("…<think>\n").
  bool prompt_opens_reasoning(const std::string& prompt) const;

  // The vocabulary as constrained decoding sees it: one entry per logit, every added token
  // special (DeepSeek's chat and tool-call markers are added tokens with special=false, and a
  // grammar must never let them appear inside a JSON string), the bundle's eos ids. Built on
  // first use (thread-safe) and shared by every grammar compiled for this model.
  std::shared_ptr<const grammar::Vocabulary> grammar_vocabulary() const;
  // Whether the chat template renders `tools` and how it writes tool calls (probed once).
  const chat::TemplateToolSupport& tool_support() const;

 private:
  mutable std::once_flag vocabulary_once_, tool_support_once_;
  mutable std::shared_ptr<const grammar::Vocabulary> vocabulary_;
  mutable chat::TemplateToolSupport tool_support_;
};

// Loads a model directory (or GGUF file). Throws r1::Error naming what is missing or bad.
std::shared_ptr<ModelBundle> load_bundle(const std::string& path, LoadMode mode = LoadMode::kMmap);

}  // namespace r1
