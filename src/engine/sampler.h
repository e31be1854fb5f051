// Per-request token sampler: logit_bias, penalties, temperature, top-k, top-p, min-p, an optional
// grammar mask, and log-probabilities. Randomness is counter-based — a uniform draw is a hash of
// (seed, index of the generated token) — so a seeded request gives the same tokens whatever else
// is running and however many threads compute the logits.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace r1 {

struct SamplingParams {
  float temperature = 1.0f;      // 0: greedy (argmax)
  float top_p = 1.0f;            // keep the smallest set of tokens whose probability reaches top_p
  int32_t top_k = 0;             // 0: off
  float min_p = 0.0f;            // drop tokens with p < min_p · p_max
  float frequency_penalty = 0;   // logit −= count · frequency_penalty (generated tokens)
  float presence_penalty = 0;    // logit −= presence_penalty if count > 0 (generated tokens)
  float repetition_penalty = 1;  // HF: logit / r if > 0 else logit · r (prompt + generated tokens)
  std::map<int32_t, float> logit_bias;  // token id → additive bias in [−100, 100]
  std::optional<uint64_t> seed;  // absent: drawn at random and reported
  bool logprobs = false;
  int32_t top_logprobs = 0;      // alternatives reported per token (0..20)

  // Throws r1::Error naming the parameter (OpenAI's name) when a value is out of range.
  void validate(int64_t vocab_size) const;
};

// Values a request sets explicitly; the rest come from the model's generation defaults.
struct SamplingOverrides {
  std::optional<float> temperature, top_p, min_p, frequency_penalty, presence_penalty, repetition_penalty;
  std::optional<int32_t> top_k;
  std::optional<uint64_t> seed;
  std::map<int32_t, float> logit_bias;
  bool logprobs = false;
  int32_t top_logprobs = 0;

  SamplingParams apply_to(SamplingParams defaults) const;
};

struct TokenLogprob {
  int32_t token;
  float logprob;
};

struct SampleResult {
  int32_t token = -1;
  float logprob = 0;                 // of the chosen token (when logprobs were requested)
  std::vector<TokenLogprob> top;     // the top_logprobs alternatives, best first
};

class Sampler {
 public:
  // `prompt` seeds the repetition-penalty set. The seed is fixed here (drawn if absent).
  Sampler(const SamplingParams& params, int64_t vocab_size, std::span<const int32_t> prompt);

  uint64_t seed() const { return seed_; }
  const SamplingParams& params() const { return params_; }

  // Picks the next token from `logits` (modified in place: it is scratch). `allowed`, when not
  // empty, is a bitmask over the vocabulary (bit i of word i/32); disallowed tokens are never
  // chosen. Records the token for the penalties.
  SampleResult sample(float* logits, std::span<const uint32_t> allowed = {});
  // Records a token chosen elsewhere (e.g. forced text) so penalties and the RNG stay in step.
  void accept(int32_t token);
  int64_t generated() const { return n_generated_; }

 private:
  void apply_penalties(float* logits) const;
  int32_t draw(const float* logits, int64_t best);
  void fill_logprobs(const float* logits, int64_t best, SampleResult& out);
  double uniform(uint64_t counter) const;

  SamplingParams params_;
  int64_t vocab_;
  uint64_t seed_;
  int64_t n_generated_ = 0;
  std::unordered_map<int32_t, int32_t> counts_;    // generated tokens
  std::unordered_map<int32_t, bool> seen_;          // prompt + generated (repetition penalty)
  std::vector<int32_t> order_;                      // scratch: candidate ids
  std::vector<float> probs_;                        // scratch
};

}  // namespace r1
