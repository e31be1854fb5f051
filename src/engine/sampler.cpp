// Sampling. Order of operations (as the OpenAI API and HF transformers apply them): logit_bias,
// repetition / frequency / presence penalties, grammar mask → (log-probabilities reported from
// this distribution) → temperature → top-k → top-p → min-p → draw.
#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"

namespace r1 {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

bool allowed_bit(std::span<const uint32_t> mask, int64_t i) {
  return mask.empty() || (mask[size_t(i >> 5)] >> (i & 31)) & 1u;
}

// splitmix64 finalizer: a bijective mix, good enough to turn (seed, counter) into a uniform draw.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

void SamplingParams::validate(int64_t vocab_size) const {
  auto range = [](const char* name, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi)) fail("'{}' must be between {} and {}, got {}", name, lo, hi, v);
  };
  range("temperature", temperature, 0, 2);
  range("top_p", top_p, 0, 1);
  range("min_p", min_p, 0, 1);
  range("frequency_penalty", frequency_penalty, -2, 2);
  range("presence_penalty", presence_penalty, -2, 2);
  if (!(repetition_penalty > 0 && repetition_penalty <= 10))
    fail("'repetition_penalty' must be greater than 0 and at most 10, got {}", repetition_penalty);
  if (top_k < 0) fail("'top_k' must be >= 0 (0 disables it), got {}", top_k);
  if (top_logprobs < 0 || top_logprobs > 20) fail("'top_logprobs' must be between 0 and 20, got {}", top_logprobs);
  for (const auto& [id, bias] : logit_bias) {
    if (id < 0 || id >= vocab_size) fail("'logit_bias' has token id {} outside the vocabulary [0, {})", id, vocab_size);
    if (!(bias >= -100 && bias <= 100)) fail("'logit_bias' value for token {} must be between -100 and 100", id);
  }
}

SamplingParams SamplingOverrides::apply_to(SamplingParams p) const {
  if (temperature) p.temperature = *temperature;
  if (top_p) p.top_p = *top_p;
  if (min_p) p.min_p = *min_p;
  if (frequency_penalty) p.frequency_penalty = *frequency_penalty;
  if (presence_penalty) p.presence_penalty = *presence_penalty;
  if (repetition_penalty) p.repetition_penalty = *repetition_penalty;
  if (top_k) p.top_k = *top_k;
  if (seed) p.seed = *seed;
  p.logit_bias = logit_bias;
  p.logprobs = logprobs;
  p.top_logprobs = top_logprobs;
  return p;
}

Sampler::Sampler(const SamplingParams& params, int64_t vocab_size, std::span<const int32_t> prompt)
    : params_(params), vocab_(vocab_size) {
  seed_ = params.seed ? *params.seed : (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
  if (params_.repetition_penalty != 1)
    for (int32_t t : prompt) seen_[t] = true;
  order_.reserve(size_t(vocab_size));
  probs_.reserve(size_t(vocab_size));
}

double Sampler::uniform(uint64_t counter) const {
  uint64_t r = mix(mix(seed_ ^ 0x6a09e667f3bcc909ull) + counter * 0x9e3779b97f4a7c15ull);
  return double(r >> 11) * 0x1.0p-53;  // [0, 1)
}

void Sampler::accept(int32_t token) {
  counts_[token]++;
  if (params_.repetition_penalty != 1) seen_[token] = true;
  ++n_generated_;
}

void Sampler::apply_penalties(float* logits) const {
  for (const auto& [id, bias] : params_.logit_bias) logits[id] += bias;
  if (params_.repetition_penalty != 1) {
    for (const auto& [id, _] : seen_) {
      float& l = logits[id];
      l = l > 0 ? l / params_.repetition_penalty : l * params_.repetition_penalty;
    }
  }
  if (params_.frequency_penalty != 0 || params_.presence_penalty != 0) {
    for (const auto& [id, count] : counts_)
      logits[id] -= float(count) * params_.frequency_penalty + (count > 0 ? params_.presence_penalty : 0.0f);
  }
}

SampleResult Sampler::sample(float* logits, std::span<const uint32_t> allowed) {
  const int64_t V = vocab_;
  apply_penalties(logits);
  if (!allowed.empty())
    for (int64_t i = 0; i < V; ++i)
      if (!allowed_bit(allowed, i)) logits[i] = kNegInf;
  int64_t best = 0;  // greedy pick; ties go to the lower id
  for (int64_t i = 1; i < V; ++i)
    if (logits[i] > logits[best]) best = i;
  R1_CHECK(logits[best] > kNegInf, "no token allowed");

  SampleResult out;
  out.token = params_.temperature > 0 ? draw(logits, best) : int32_t(best);
  if (params_.logprobs || params_.top_logprobs > 0) fill_logprobs(logits, best, out);
  accept(out.token);
  return out;
}

// Log-probabilities come from the adjusted distribution (bias, penalties, mask) before
// temperature and truncation, as OpenAI reports them.
void Sampler::fill_logprobs(const float* logits, int64_t best, SampleResult& out) {
  const int64_t V = vocab_;
  double sum = 0;
  for (int64_t i = 0; i < V; ++i) sum += std::exp(double(logits[i]) - double(logits[best]));
  const double log_z = double(logits[best]) + std::log(sum);
  out.logprob = float(double(logits[out.token]) - log_z);
  if (params_.top_logprobs <= 0) return;
  order_.resize(size_t(V));
  for (int64_t i = 0; i < V; ++i) order_[size_t(i)] = int32_t(i);
  const int64_t k = std::min<int64_t>(params_.top_logprobs, V);
  std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  for (int64_t j = 0; j < k; ++j)
    out.top.push_back({order_[size_t(j)], float(double(logits[order_[size_t(j)]]) - log_z)});
}

// Temperature, then top-k, top-p and min-p over the candidates sorted by logit (ties by id),
// then one counter-based uniform draw. Only the head of the order matters, so a prefix is
// sorted first and widened only when the nucleus does not fit in it.
int32_t Sampler::draw(const float* logits, int64_t best) {
  const int64_t V = vocab_;
  order_.resize(size_t(V));
  int64_t n = 0;
  for (int64_t i = 0; i < V; ++i)
    if (logits[i] > kNegInf) order_[size_t(n++)] = int32_t(i);
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  const double inv_t = 1.0 / double(params_.temperature);
  const double max_l = logits[best];
  auto weight = [&](int32_t id) { return std::exp((double(logits[id]) - max_l) * inv_t); };
  double total = 0;
  for (int64_t j = 0; j < n; ++j) total += weight(order_[size_t(j)]);

  const int64_t limit = params_.top_k > 0 ? std::min<int64_t>(params_.top_k, n) : n;
  int64_t head = std::min<int64_t>(limit, 1024);
  for (;;) {
    std::partial_sort(order_.begin(), order_.begin() + head, order_.begin() + n, by_logit);
    if (head == limit) break;
    double mass = 0;
    for (int64_t j = 0; j < head; ++j) mass += weight(order_[size_t(j)]);
    if (params_.top_k == 0 && mass / total >= double(params_.top_p)) break;
    head = std::min<int64_t>(limit, head * 8);
  }
  probs_.resize(size_t(head));
  for (int64_t j = 0; j < head; ++j) probs_[size_t(j)] = float(weight(order_[size_t(j)]) / total);
  // With top-k, probabilities are renormalized over the k kept tokens before top-p (HF order);
  // without it the head is just a sorted prefix of the full distribution.
  double head_mass = 1;
  if (params_.top_k > 0) {
    head_mass = 0;
    for (int64_t j = 0; j < head; ++j) head_mass += probs_[size_t(j)];
  }
  int64_t keep = head;
  if (params_.top_p < 1) {
    double cum = 0;
    for (int64_t j = 0; j < head; ++j) {
      cum += probs_[size_t(j)] / head_mass;
      if (cum >= double(params_.top_p)) {
        keep = j + 1;
        break;
      }
    }
  }
  if (params_.min_p > 0) {
    const float floor_p = params_.min_p * probs_[0];
    int64_t j = 1;
    while (j < keep && probs_[size_t(j)] >= floor_p) ++j;
    keep = j;
  }
  double kept = 0;
  for (int64_t j = 0; j < keep; ++j) kept += probs_[size_t(j)];
  const double u = uniform(uint64_t(n_generated_)) * kept;
  double cum = 0;
  for (int64_t j = 0; j < keep; ++j) {
    cum += probs_[size_t(j)];
    if (u < cum) return order_[size_t(j)];
  }
  return order_[size_t(keep - 1)];
}

}  // namespace r1
