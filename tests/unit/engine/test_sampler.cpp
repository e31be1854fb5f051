// Sampler math: each truncation keeps exactly the documented set, penalties change logits by the
// exact formula, seeds reproduce, draws follow the distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "engine/sampler.h"

namespace r1 {
namespace {

// Logits whose softmax is exactly `probs`.
std::vector<float> logits_for(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(float(std::log(p)));
  return l;
}

std::set<int32_t> support(const SamplingParams& params, const std::vector<double>& probs, int draws = 400) {
  std::set<int32_t> seen;
  for (int s = 0; s < draws; ++s) {
    SamplingParams p = params;
    p.seed = uint64_t(s);
    Sampler sampler(p, int64_t(probs.size()), {});
    auto l = logits_for(probs);
    seen.insert(sampler.sample(l.data()).token);
  }
  return seen;
}

const std::vector<double> kProbs = {0.5, 0.3, 0.15, 0.05};

TEST(Sampler, GreedyAtTemperatureZero) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p, 4, {});
  std::vector<float> l = {0.1f, 3.0f, 2.9f, -1.0f};
  EXPECT_EQ(s.sample(l.data()).token, 1);
}

TEST(Sampler, TopPKeepsSmallestSetReachingP) {
  SamplingParams p;
  p.top_p = 0.8f;
  EXPECT_EQ(support(p, kProbs), (std::set<int32_t>{0, 1}));
  p.top_p = 0.81f;
  EXPECT_EQ(support(p, kProbs), (std::set<int32_t>{0, 1, 2}));
  p.top_p = 0.4f;
  EXPECT_EQ(support(p, kProbs), (std::set<int32_t>{0}));
  p.top_p = 1.0f;
  EXPECT_EQ(support(p, kProbs), (std::set<int32_t>{0, 1, 2, 3}));
}

TEST(Sampler, TopKAndMinP) {
  SamplingParams p;
  p.top_k = 2;
  EXPECT_EQ(support(p, kProbs), (std::set<int32_t>{0, 1}));
  p.top_k = 0;
  p.min_p = 0.5f;  // keep p >= 0.25
  EXPECT_EQ(support(p, kProbs), (std::set<int32_t>{0, 1}));
  p.min_p = 0.29f;  // keep p >= 0.145
  EXPECT_EQ(support(p, kProbs), (std::set<int32_t>{0, 1, 2}));
}

TEST(Sampler, TopPAfterTopKRenormalizes) {
  // top_k=2 leaves {0.5, 0.3} → renormalized {0.625, 0.375}; top_p 0.6 keeps only token 0.
  SamplingParams p;
  p.top_k = 2;
  p.top_p = 0.6f;
  EXPECT_EQ(support(p, kProbs), (std::set<int32_t>{0}));
}

TEST(Sampler, LargeVocabularyNucleusBeyondFirstPrefix) {
  // 5000 equally likely tokens (ties keep id order): top_p 0.4901 keeps the first 2451 of them,
  // which needs the sorted head to widen past its first 1024 candidates.
  std::vector<double> flat(5000, 1.0 / 5000);
  SamplingParams p;
  p.top_p = 0.4901f;
  auto seen = support(p, flat, 1500);
  EXPECT_LE(*seen.rbegin(), 2450);
  EXPECT_GT(*seen.rbegin(), 2000);  // draws reach deep into the kept set
}

TEST(Sampler, DrawsFollowTheDistribution) {
  SamplingParams p;
  std::vector<int> counts(4, 0);
  const int n = 20000;
  for (int s = 0; s < n; ++s) {
    p.seed = uint64_t(s) * 7919;
    Sampler sampler(p, 4, {});
    auto l = logits_for(kProbs);
    counts[size_t(sampler.sample(l.data()).token)]++;
  }
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(double(counts[i]) / n, kProbs[i], 0.015) << i;
  // Temperature 0.5 squares the odds: p ∝ {0.25, 0.09, 0.0225, 0.0025}.
  p.temperature = 0.5f;
  std::fill(counts.begin(), counts.end(), 0);
  for (int s = 0; s < n; ++s) {
    p.seed = uint64_t(s);
    Sampler sampler(p, 4, {});
    auto l = logits_for(kProbs);
    counts[size_t(sampler.sample(l.data()).token)]++;
  }
  EXPECT_NEAR(double(counts[0]) / n, 0.25 / 0.365, 0.015);
}

TEST(Sampler, PenaltiesFollowTheOpenAiFormula) {
  SamplingParams p;
  p.temperature = 0;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  Sampler s(p, 5, {});
  s.accept(2);
  s.accept(2);
  s.accept(4);
  std::vector<float> l = {1, 1, 1, 1, 1};
  s.sample(l.data());  // logits are adjusted in place
  EXPECT_FLOAT_EQ(l[0], 1.0f);
  EXPECT_FLOAT_EQ(l[2], 1.0f - 2 * 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(l[4], 1.0f - 0.5f - 0.25f);
}

TEST(Sampler, RepetitionPenaltyCoversPromptAndSign) {
  SamplingParams p;
  p.temperature = 0;
  p.repetition_penalty = 2.0f;
  std::vector<int32_t> prompt = {0, 1};
  Sampler s(p, 4, prompt);
  s.accept(3);
  std::vector<float> l = {4, -4, 4, -2};
  s.sample(l.data());
  EXPECT_FLOAT_EQ(l[0], 2.0f);   // positive: divided
  EXPECT_FLOAT_EQ(l[1], -8.0f);  // negative: multiplied
  EXPECT_FLOAT_EQ(l[2], 4.0f);   // not seen
  EXPECT_FLOAT_EQ(l[3], -4.0f);  // generated
}

TEST(Sampler, LogitBiasAndMask) {
  SamplingParams p;
  p.logit_bias[3] = 100;
  EXPECT_EQ(support(p, kProbs), (std::set<int32_t>{3}));
  p.logit_bias.clear();
  p.logit_bias[0] = -100;
  EXPECT_EQ(support(p, kProbs).count(0), 0u);
  // Mask allows only tokens 1 and 3.
  SamplingParams q;
  std::set<int32_t> seen;
  for (int s = 0; s < 200; ++s) {
    q.seed = uint64_t(s);
    Sampler sampler(q, 4, {});
    auto l = logits_for(kProbs);
    std::vector<uint32_t> mask = {0b1010};
    seen.insert(sampler.sample(l.data(), mask).token);
  }
  EXPECT_EQ(seen, (std::set<int32_t>{1, 3}));
}

TEST(Sampler, SeedsReproduceAndDiffer) {
  auto run = [](uint64_t seed) {
    SamplingParams p;
    p.seed = seed;
    Sampler s(p, 50, {});
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) {
      std::vector<float> l(50);
      for (int j = 0; j < 50; ++j) l[size_t(j)] = float((j * 37 + i * 11) % 17) * 0.1f;
      out.push_back(s.sample(l.data()).token);
    }
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
  SamplingParams unseeded;
  Sampler a(unseeded, 4, {}), b(unseeded, 4, {});
  EXPECT_NE(a.seed(), b.seed());  // drawn, and reported through seed()
}

TEST(Sampler, Logprobs) {
  SamplingParams p;
  p.temperature = 0;
  p.logprobs = true;
  p.top_logprobs = 4;
  Sampler s(p, 4, {});
  auto l = logits_for(kProbs);
  SampleResult r = s.sample(l.data());
  EXPECT_EQ(r.token, 0);
  EXPECT_NEAR(r.logprob, std::log(0.5), 1e-6);
  ASSERT_EQ(r.top.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r.top[i].token, int32_t(i));
    EXPECT_NEAR(std::exp(r.top[i].logprob), kProbs[i], 1e-6);
  }
}

TEST(Sampler, ValidationNamesTheParameter) {
  auto err = [](SamplingParams p) {
    try {
      p.validate(100);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  SamplingParams p;
  EXPECT_EQ(err(p), "");
  p.temperature = 2.5f;
  EXPECT_NE(err(p).find("'temperature'"), std::string::npos);
  p = {};
  p.top_p = -0.1f;
  EXPECT_NE(err(p).find("'top_p'"), std::string::npos);
  p = {};
  p.presence_penalty = 3;
  EXPECT_NE(err(p).find("'presence_penalty'"), std::string::npos);
  p = {};
  p.top_logprobs = 21;
  EXPECT_NE(err(p).find("'top_logprobs'"), std::string::npos);
  p = {};
  p.logit_bias[100] = 1;
  EXPECT_NE(err(p).find("'logit_bias'"), std::string::npos);
  p = {};
  p.logit_bias[5] = 101;
  EXPECT_NE(err(p).find("'logit_bias'"), std::string::npos);
  p = {};
  p.temperature = std::nanf("");
  EXPECT_NE(err(p).find("'temperature'"), std::string::npos);
}

}  // namespace
}  // namespace r1
