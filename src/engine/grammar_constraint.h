// Token constraints for structured outputs: a compiled grammar applied to the answer (after any
// reasoning, or from a trigger token on), and a plain token ban. Both are per request and run on
// the scheduler thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "grammar/grammar.h"

namespace r1 {

// Where the constrained part of the output starts.
struct ConstraintStart {
  // The prompt opened the reasoning: the grammar waits until the reasoning closes; a request cut
  // off before that is closed with `close_reasoning` (e.g. "</think>\n\n") first.
  bool after_reasoning = false;
  std::string close_reasoning = "</think>\n\n";
  // Otherwise the model may still open a reasoning as its first token (R1's first template ends the
  // prompt with "<｜Assistant｜>"); the grammar then waits for it to close.
  std::optional<int32_t> think;
  // When set, the output is free until the model produces this token, and the grammar (which
  // must begin with that token) applies from there: tool calls under tool_choice "auto".
  std::optional<int32_t> trigger;
};

class GrammarConstraint final : public TokenConstraint {
 public:
  GrammarConstraint(std::shared_ptr<const grammar::CompiledGrammar> grammar, ConstraintStart start);

  bool active() const override { return phase_ == Phase::kStart || phase_ == Phase::kActive; }
  void fill_mask(std::span<uint32_t> mask) override;
  void accept(int32_t token) override;
  bool done() const override;
  void on_reasoning_closed() override;
  std::string completion() const override;

  // A forced token the grammar did not allow: the constraint stopped applying.
  bool failed() const { return phase_ == Phase::kFailed; }

 private:
  enum class Phase {
    kStart,      // first answer token: the grammar, or the token that opens a reasoning
    kReasoning,  // free until the reasoning closes
    kFree,       // free until the trigger token
    kActive,     // the grammar applies
    kFailed,
  };
  Phase after_reasoning_phase() const { return start_.trigger ? Phase::kFree : Phase::kActive; }

  ConstraintStart start_;
  grammar::Matcher matcher_;
  Phase phase_;
  bool first_token_ = true;
};

// Never lets the model produce `tokens` (tool_choice "none": no tool-call block can start).
class TokenBan final : public TokenConstraint {
 public:
  TokenBan(std::vector<int32_t> tokens, int64_t vocab_size);
  bool active() const override { return true; }
  void fill_mask(std::span<uint32_t> mask) override;
  void accept(int32_t) override {}
  bool done() const override { return true; }

 private:
  std::vector<uint32_t> mask_;  // every id of the vocabulary except the banned ones
};

}  // namespace r1
