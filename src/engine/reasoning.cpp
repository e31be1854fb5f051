// ReasoningParser state machine: start → reasoning → content. Whitespace right after the opening
// tag and right before the closing tag, and at the start of the answer, is not part of either
// channel (R1 writes "<think>\n…\n</think>\n\n answer").
#include "engine/reasoning.h"

#include <algorithm>

namespace r1 {

namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view ltrim(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  return s.substr(i);
}

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
  for (size_t len = std::min(s.size(), tag.size() - 1); len > 0; --len)
    if (s.substr(s.size() - len) == tag.substr(0, len)) return len;
  return 0;
}

}  // namespace

ReasoningParser::ReasoningParser(ReasoningTokens tokens, bool starts_in_reasoning, bool enabled)
    : tokens_(tokens), enabled_(enabled) {
  state_ = !enabled ? State::kContent : starts_in_reasoning ? State::kReasoning : State::kStart;
  had_reasoning_ = enabled && starts_in_reasoning;
}

void ReasoningParser::emit_reasoning(std::string_view text, Piece& out, bool final) {
  if (!reasoning_started_) {
    text = ltrim(text);
    if (text.empty()) return;
    reasoning_started_ = true;
  }
  size_t body = text.size();
  while (body > 0 && is_space(text[body - 1])) --body;
  if (body == 0) {
    pending_ws_.append(text);
  } else {
    out.reasoning += pending_ws_;
    out.reasoning.append(text.substr(0, body));
    pending_ws_.assign(text.substr(body));
  }
  if (final) pending_ws_.clear();
}

void ReasoningParser::emit_content(std::string_view text, Piece& out) {
  if (!content_started_) {
    text = ltrim(text);
    if (text.empty()) return;
    content_started_ = true;
  }
  out.content.append(text);
}

void ReasoningParser::close_reasoning(Piece& out) {
  (void)out;
  pending_ws_.clear();  // whitespace before </think> belongs to neither channel
  closed_ = true;
  state_ = State::kContent;
}

void ReasoningParser::push_text(std::string_view text, Piece& out) {
  held_.append(text);
  for (;;) {
    if (state_ == State::kStart) {
      std::string_view rest = ltrim(held_);
      if (rest.substr(0, kOpen.size()) == kOpen) {
        held_.erase(0, held_.size() - rest.size() + kOpen.size());
        state_ = State::kReasoning;
        had_reasoning_ = true;
        continue;
      }
      if (rest.empty() || kOpen.substr(0, rest.size()) == rest) return;  // undecided yet
      state_ = State::kContent;
      continue;
    }
    if (state_ == State::kReasoning) {
      size_t pos = held_.find(kClose);
      if (pos != std::string::npos) {
        emit_reasoning(std::string_view(held_).substr(0, pos), out, false);
        held_.erase(0, pos + kClose.size());
        close_reasoning(out);
        continue;
      }
      size_t keep = partial_tag_suffix(held_, kClose);
      emit_reasoning(std::string_view(held_).substr(0, held_.size() - keep), out, false);
      held_.erase(0, held_.size() - keep);
      return;
    }
    emit_content(held_, out);
    held_.clear();
    return;
  }
}

ReasoningParser::Piece ReasoningParser::push(int32_t id, std::string_view text) {
  Piece out;
  if (state_ != State::kContent) ++reasoning_tokens_;
  if (!tokens_.end_think) {
    push_text(text, out);
    if (state_ == State::kContent && !closed_ && !had_reasoning_) reasoning_tokens_ = 0;
    return out;
  }
  switch (state_) {
    case State::kStart:
      if (tokens_.think && id == *tokens_.think) {
        state_ = State::kReasoning;
        had_reasoning_ = true;
      } else if (ltrim(text).empty()) {
        held_.append(text);  // leading whitespace: not decided yet
      } else {
        state_ = State::kContent;
        reasoning_tokens_ = 0;
        emit_content(held_ + std::string(text), out);
        held_.clear();
      }
      break;
    case State::kReasoning:
      if (id == *tokens_.end_think) close_reasoning(out);
      else emit_reasoning(text, out, false);
      break;
    case State::kContent:
      emit_content(text, out);
      break;
  }
  return out;
}

ReasoningParser::Piece ReasoningParser::finish(std::string_view tail) {
  Piece out;
  if (!tail.empty()) {
    if (tokens_.end_think) {
      if (state_ == State::kReasoning) emit_reasoning(tail, out, false);
      else held_.append(tail);
    } else {
      push_text(tail, out);
    }
  }
  if (state_ == State::kReasoning) emit_reasoning(held_, out, true);
  else emit_content(held_, out);
  held_.clear();
  pending_ws_.clear();
  return out;
}

}  // namespace r1
