// OpenAI API objects ⇄ engine types: parsing and validating /v1/chat/completions and
// /v1/completions bodies into generation requests, and shaping results as chat.completion,
// chat.completion.chunk, text_completion objects. Errors are ApiError with OpenAI's fields.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "engine/engine.h"

namespace r1::server {

// An error as OpenAI reports it: {"error": {"message", "type", "param", "code"}} + HTTP status.
struct ApiError : std::runtime_error {
  ApiError(int status, std::string message, std::string param = {}, std::string code = {},
           std::string type = "invalid_request_error")
      : std::runtime_error(std::move(message)), status(status), param(std::move(param)),
        code(std::move(code)), type(std::move(type)) {}
  int status;
  std::string param, code, type;
  nlohmann::ordered_json to_json() const;
};

// A parsed and validated request: everything needed to submit `n` generations.
struct ParsedRequest {
  bool chat = true;            // /v1/chat/completions (else /v1/completions)
  std::string model;
  chat::ChatInputs inputs;     // chat: messages, tools, extra template variables
  std::string prompt_text;     // completions: the raw prompt
  SamplingOverrides sampling;
  std::optional<int64_t> max_tokens;
  std::vector<std::string> stop;
  std::optional<int64_t> max_reasoning_tokens;
  int n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;           // completions
  nlohmann::ordered_json response_format;  // null when absent or "text"
  nlohmann::ordered_json tools;            // null when absent or empty
  nlohmann::ordered_json tool_choice;      // null when absent
  bool parallel_tool_calls = true;
};

// Throws ApiError(400) naming the offending parameter.
ParsedRequest parse_chat_request(const nlohmann::json& body);
// Gives response_format and tools the key order of the body as the client wrote it (`body` parsed
// again as ordered_json): a schema's property order is the order the answer writes them in, and
// templates print tool schemas as given.
void keep_key_order(ParsedRequest& r, const nlohmann::ordered_json& body);
ParsedRequest parse_completion_request(const nlohmann::json& body);

// What one choice produced.
struct ChoiceOutput {
  std::string reasoning, content;
  FinishReason finish = FinishReason::kNone;
  std::vector<TokenOutput> tokens;  // kept when logprobs were asked for
  nlohmann::ordered_json tool_calls = nullptr;  // OpenAI tool_calls array when the model called tools
};

std::string openai_finish_reason(const ChoiceOutput& c);
nlohmann::ordered_json usage_json(const Usage& u);
// OpenAI chat logprobs: {"content": [{"token","logprob","bytes","top_logprobs":[...]}]}.
nlohmann::ordered_json chat_logprobs_json(const std::vector<TokenOutput>& tokens, const Tokenizer& tok, bool reasoning);

nlohmann::ordered_json chat_completion_json(const std::string& id, int64_t created, const std::string& model,
                                            const std::vector<ChoiceOutput>& choices, const Usage& usage,
                                            const Tokenizer& tok, bool logprobs);
nlohmann::ordered_json text_completion_json(const std::string& id, int64_t created, const std::string& model,
                                            const std::vector<ChoiceOutput>& choices, const Usage& usage,
                                            const Tokenizer& tok, bool logprobs);

}  // namespace r1::server
