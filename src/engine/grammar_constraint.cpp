// GrammarConstraint: a small phase machine (start / reasoning / free / active) in front of a
// grammar::Matcher; TokenBan: a fixed mask.
#include "engine/grammar_constraint.h"

#include "core/error.h"
#include "core/log.h"

namespace r1 {

GrammarConstraint::GrammarConstraint(std::shared_ptr<const grammar::CompiledGrammar> grammar, ConstraintStart start)
    : start_(std::move(start)), matcher_(std::move(grammar)) {
  if (start_.after_reasoning) phase_ = Phase::kReasoning;
  else if (start_.trigger) phase_ = Phase::kFree;
  else phase_ = Phase::kStart;
}

void GrammarConstraint::fill_mask(std::span<uint32_t> mask) {
  matcher_.fill_mask(mask);
  // Before the first answer token the model may still open a reasoning instead.
  if (phase_ == Phase::kStart && start_.think) mask[size_t(*start_.think / 32)] |= 1u << (*start_.think % 32);
}

void GrammarConstraint::accept(int32_t token) {
  const bool first = first_token_;
  first_token_ = false;
  switch (phase_) {
    case Phase::kStart:
    case Phase::kFree:
      if (first && start_.think && token == *start_.think) {
        phase_ = Phase::kReasoning;
        return;
      }
      if (phase_ == Phase::kFree && (!start_.trigger || token != *start_.trigger)) return;
      phase_ = Phase::kActive;
      [[fallthrough]];
    case Phase::kActive:
      if (!matcher_.accept_token(token)) {
        // Only a forced token can get here (sampled ones come from the mask): stop constraining
        // rather than stall the request.
        log_warn("structured output: token {} does not fit the grammar; the rest of the answer is unconstrained", token);
        phase_ = Phase::kFailed;
      } else if (matcher_.is_terminated()) {
        phase_ = Phase::kFailed;  // end-of-sequence went through (ignore_eos): nothing left to constrain
      }
      return;
    case Phase::kReasoning:
    case Phase::kFailed:
      return;
  }
}

bool GrammarConstraint::done() const {
  // A reasoning followed by free text (tool calls under "auto") owes no answer: like completion().
  return phase_ == Phase::kFailed || phase_ == Phase::kFree || (phase_ == Phase::kReasoning && start_.trigger) ||
         (phase_ == Phase::kActive && matcher_.is_complete());
}

void GrammarConstraint::on_reasoning_closed() {
  if (phase_ == Phase::kReasoning) phase_ = after_reasoning_phase();
}

std::string GrammarConstraint::completion() const {
  switch (phase_) {
    case Phase::kReasoning:
      // Still reasoning: close it, then the shortest answer (a free answer owes nothing).
      return start_.trigger ? std::string() : start_.close_reasoning + matcher_.shortest_completion();
    case Phase::kStart:
    case Phase::kActive:
      return matcher_.shortest_completion();
    case Phase::kFree:
    case Phase::kFailed:
      break;
  }
  return {};
}

TokenBan::TokenBan(std::vector<int32_t> tokens, int64_t vocab_size) {
  R1_CHECK(vocab_size > 0);
  mask_.assign(size_t((vocab_size + 31) / 32), ~0u);
  if (vocab_size % 32) mask_.back() = (1u << (vocab_size % 32)) - 1;
  for (int32_t t : tokens) {
    R1_CHECK(t >= 0 && t < vocab_size);
    mask_[size_t(t / 32)] &= ~(1u << (t % 32));
  }
}

void TokenBan::fill_mask(std::span<uint32_t> mask) {
  R1_CHECK(mask.size() == mask_.size());
  std::copy(mask_.begin(), mask_.end(), mask.begin());
}

}  // namespace r1
