// Splits a model's output into reasoning (between <think> and </think>) and the answer, while
// streaming. R1's current templates end the prompt with "<think>\n", so the output usually starts
// inside the reasoning with no opening tag; R1-0528-style outputs carry both tags. The decision
// is made on token ids when the vocabulary has <think>/</think> tokens, on the text otherwise
// (then text that might be the start of a tag is held back until it is known).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace r1 {

enum class Channel { kReasoning, kContent };

struct ReasoningTokens {
  std::optional<int32_t> think;      // id of "<think>" when it is one token
  std::optional<int32_t> end_think;  // id of "</think>"
};

class ReasoningParser {
 public:
  // starts_in_reasoning: the prompt already opened the reasoning (ends with "<think>" and
  // optional whitespace). enabled=false: everything is content.
  ReasoningParser(ReasoningTokens tokens, bool starts_in_reasoning, bool enabled = true);

  struct Piece {
    std::string reasoning;
    std::string content;
  };
  // One generated token: its id and its decoded text (possibly empty while a character is
  // incomplete). Returns the text to emit on each channel.
  Piece push(int32_t id, std::string_view text);
  // End of generation: `tail` is the last text (e.g. the detokenizer's flush, not a new token);
  // releases held text.
  Piece finish(std::string_view tail = {});

  Channel channel() const { return state_ == State::kContent ? Channel::kContent : Channel::kReasoning; }
  bool in_reasoning() const { return state_ == State::kReasoning || state_ == State::kStart; }
  bool reasoning_closed() const { return closed_; }
  // Tokens that belong to the reasoning, including its tags.
  int64_t reasoning_tokens() const { return reasoning_tokens_; }
  // True once the output started with reasoning (open tag seen or prompt opened it).
  bool has_reasoning() const { return had_reasoning_; }

 private:
  enum class State { kStart, kReasoning, kContent };
  void emit_reasoning(std::string_view text, Piece& out, bool final);
  void emit_content(std::string_view text, Piece& out);
  void close_reasoning(Piece& out);
  void push_text(std::string_view text, Piece& out);

  ReasoningTokens tokens_;
  bool enabled_;
  State state_;
  bool closed_ = false;
  bool had_reasoning_ = false;
  bool content_started_ = false;    // leading whitespace of the answer is dropped
  bool reasoning_started_ = false;  // leading whitespace of the reasoning is dropped
  std::string held_;                // text-mode: a possible partial tag
  std::string pending_ws_;          // reasoning: trailing whitespace held until more text comes
  int64_t reasoning_tokens_ = 0;
};

}  // namespace r1
