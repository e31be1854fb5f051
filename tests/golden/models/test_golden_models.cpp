// Whole models against the golden references in tests/data/models (see GOLDEN_README.md there):
// logits of every prompt position, decode through the KV cache, greedy continuation, a ragged
// batch, for every checkpoint and every ISA this CPU runs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "models/model.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* const kModels[] = {"qwen2_untied_bf16", "qwen2_tied_f32", "llama_llama3rope_bf16",
                               "dsv3_v3style_f32", "dsv3_v2litestyle_bf16", "dsv3_fp8_blocks"};

std::string model_dir(const std::string& name) { return std::string(R1_TEST_DATA) + "/models/" + name; }

const json& golden(const std::string& name) {
  static std::map<std::string, json> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    std::ifstream in(model_dir(name) + "/golden.json");
    it = cache.emplace(name, json::parse(in)).first;
  }
  return it->second;
}

std::vector<float> row_of(const json& j) {
  std::vector<float> r;
  r.reserve(j.size());
  for (const auto& v : j) r.push_back(float(v.get<double>()));
  return r;
}

// Max of |ours - golden| / (max|golden| ), the README's tolerance being 1e-4 (+1e-5 absolute).
::testing::AssertionResult close_row(const float* ours, const std::vector<float>& want, const std::string& what) {
  float max_abs = 0;
  for (float w : want) max_abs = std::max(max_abs, std::fabs(w));
  const float tol = 1e-4f * max_abs + 1e-5f;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!(std::fabs(ours[i] - want[i]) <= tol))
      return ::testing::AssertionFailure() << what << ": logit " << i << " is " << ours[i] << ", golden "
                                           << want[i] << " (tolerance " << tol << ")";
  }
  return ::testing::AssertionSuccess();
}

struct Param {
  std::string model;
  Isa isa;
};

class GoldenModel : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam().isa)) GTEST_SKIP() << "CPU lacks " << isa_name(GetParam().isa);
    set_isa(GetParam().isa);
    model_ = load_model(model_dir(GetParam().model));
    vocab_ = model_->info().vocab_size;
  }
  void TearDown() override { set_isa(best_isa()); }

  std::unique_ptr<Model> model_;
  int64_t vocab_ = 0;
  ThreadPool pool_{2};
};

TEST_P(GoldenModel, PrefillDecodeAndGreedy) {
  const json& g = golden(GetParam().model);
  ASSERT_EQ(g["vocab_size"].get<int64_t>(), vocab_);
  for (const json& c : g["cases"]) {
    const std::string name = c["name"];
    std::vector<int32_t> prompt = c["prompt"].get<std::vector<int32_t>>();
    std::vector<int32_t> greedy = c["greedy_tokens"].get<std::vector<int32_t>>();
    const int64_t P = int64_t(prompt.size()), N = int64_t(greedy.size());
    KvCache cache(model_->kv_layout(), P + N);
    KvSeq seq;
    ASSERT_TRUE(seq.reserve(cache, int32_t(P + N)));
    FloatBuffer logits(static_cast<size_t>(P * vocab_));
    SeqChunk chunk{prompt, &seq, true};
    model_->forward(pool_, {&chunk, 1}, cache, MatView{logits.data(), P, vocab_, vocab_});
    for (int64_t t = 0; t < P; ++t)
      ASSERT_TRUE(close_row(logits.data() + t * vocab_, row_of(c["prefill_logits"][size_t(t)]),
                            name + " prefill position " + std::to_string(t)));
    // Free-running greedy decode through the cache must pick the golden tokens.
    int32_t next = int32_t(argmax(logits.data() + (P - 1) * vocab_, vocab_));
    FloatBuffer step(static_cast<size_t>(vocab_));
    for (int64_t j = 0; j < N; ++j) {
      ASSERT_EQ(next, greedy[size_t(j)]) << name << " greedy token " << j;
      SeqChunk one{std::span<const int32_t>(&greedy[size_t(j)], 1), &seq, false};
      model_->forward(pool_, {&one, 1}, cache, MatView{step.data(), 1, vocab_, vocab_});
      ASSERT_TRUE(close_row(step.data(), row_of(c["decode_logits"][size_t(j)]), name + " decode step " + std::to_string(j)));
      next = int32_t(argmax(step.data(), vocab_));
    }
    EXPECT_EQ(seq.length(), P + N);
  }
}

// Feeding the prompt one token at a time gives exactly the prefill rows: each row's numerics do
// not depend on how many rows share the step.
TEST_P(GoldenModel, DecodeEqualsPrefillBitwise) {
  const json& c = golden(GetParam().model)["cases"].back();
  std::vector<int32_t> prompt = c["prompt"].get<std::vector<int32_t>>();
  const int64_t P = int64_t(prompt.size());
  KvCache cache(model_->kv_layout(), 2 * (P + 16));  // whole pages for each sequence
  KvSeq a, b;
  ASSERT_TRUE(a.reserve(cache, int32_t(P)) && b.reserve(cache, int32_t(P)));
  FloatBuffer full(static_cast<size_t>(P * vocab_)), one(static_cast<size_t>(vocab_));
  SeqChunk chunk{prompt, &a, true};
  model_->forward(pool_, {&chunk, 1}, cache, MatView{full.data(), P, vocab_, vocab_});
  for (int64_t t = 0; t < P; ++t) {
    SeqChunk step{std::span<const int32_t>(prompt).subspan(size_t(t), 1), &b, false};
    model_->forward(pool_, {&step, 1}, cache, MatView{one.data(), 1, vocab_, vocab_});
    ASSERT_EQ(0, std::memcmp(one.data(), full.data() + t * vocab_, sizeof(float) * size_t(vocab_)))
        << "position " << t;
  }
}

// An f16 KV cache: K and V rounded to half precision once. The logits stay within kF16CacheTol of
// the golden ones (relative to the row's largest), greedy decoding picks the golden tokens, and
// decode still equals prefill bit for bit (rounding a value does not depend on the batch).
TEST_P(GoldenModel, F16CacheStaysCloseAndConsistent) {
  constexpr float kF16CacheTol = 2e-3f;
  for (const json& c : golden(GetParam().model)["cases"]) {
    const std::string name = c["name"];
    std::vector<int32_t> prompt = c["prompt"].get<std::vector<int32_t>>();
    std::vector<int32_t> greedy = c["greedy_tokens"].get<std::vector<int32_t>>();
    const int64_t P = int64_t(prompt.size()), N = int64_t(greedy.size());
    KvCache cache(model_->kv_layout(), 2 * (P + N + 16), 16, DType::kF16);
    KvSeq a, b;
    ASSERT_TRUE(a.reserve(cache, int32_t(P + N)) && b.reserve(cache, int32_t(P)));
    FloatBuffer full(static_cast<size_t>(P * vocab_)), one(static_cast<size_t>(vocab_));
    SeqChunk chunk{prompt, &a, true};
    model_->forward(pool_, {&chunk, 1}, cache, MatView{full.data(), P, vocab_, vocab_});
    float worst = 0;
    auto track = [&](const float* ours, const std::vector<float>& want) {
      float max_abs = 0, diff = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        max_abs = std::max(max_abs, std::fabs(want[i]));
        diff = std::max(diff, std::fabs(ours[i] - want[i]));
      }
      worst = std::max(worst, diff / max_abs);
    };
    for (int64_t t = 0; t < P; ++t) {
      track(full.data() + t * vocab_, row_of(c["prefill_logits"][size_t(t)]));
      SeqChunk step{std::span<const int32_t>(prompt).subspan(size_t(t), 1), &b, false};
      model_->forward(pool_, {&step, 1}, cache, MatView{one.data(), 1, vocab_, vocab_});
      ASSERT_EQ(0, std::memcmp(one.data(), full.data() + t * vocab_, sizeof(float) * size_t(vocab_)))
          << name << " position " << t;
    }
    int32_t next = int32_t(argmax(full.data() + (P - 1) * vocab_, vocab_));
    for (int64_t j = 0; j < N; ++j) {
      ASSERT_EQ(next, greedy[size_t(j)]) << name << " greedy token " << j;
      SeqChunk step{std::span<const int32_t>(&greedy[size_t(j)], 1), &a, false};
      model_->forward(pool_, {&step, 1}, cache, MatView{one.data(), 1, vocab_, vocab_});
      track(one.data(), row_of(c["decode_logits"][size_t(j)]));
      next = int32_t(argmax(one.data(), vocab_));
    }
    EXPECT_LE(worst, kF16CacheTol) << name;  // measured: 2.3e-4 to 6.1e-4 on the golden models
  }
}

// The golden batch: both prompts in one ragged prefill step, then both decoded together.
TEST_P(GoldenModel, MixedLengthBatch) {
  for (const json& batch : golden(GetParam().model)["batches"]) {
    const size_t S = batch["prompts"].size();
    std::vector<std::vector<int32_t>> prompts, greedy;
    int64_t total = 0;
    for (size_t s = 0; s < S; ++s) {
      prompts.push_back(batch["prompts"][s].get<std::vector<int32_t>>());
      greedy.push_back(batch["results"][s]["greedy_tokens"].get<std::vector<int32_t>>());
      total += int64_t(prompts[s].size() + greedy[s].size());
    }
    KvCache cache(model_->kv_layout(), total + 16 * int64_t(S));
    std::vector<KvSeq> seqs(S);
    std::vector<SeqChunk> chunks;
    int64_t rows = 0;
    for (size_t s = 0; s < S; ++s) {
      ASSERT_TRUE(seqs[s].reserve(cache, int32_t(prompts[s].size() + greedy[s].size())));
      chunks.push_back({prompts[s], &seqs[s], true});
      rows += int64_t(prompts[s].size());
    }
    FloatBuffer logits(static_cast<size_t>(rows * vocab_));
    model_->forward(pool_, chunks, cache, MatView{logits.data(), rows, vocab_, vocab_});
    int64_t r = 0;
    for (size_t s = 0; s < S; ++s) {
      const json& res = batch["results"][s];
      for (size_t t = 0; t < prompts[s].size(); ++t, ++r)
        ASSERT_TRUE(close_row(logits.data() + r * vocab_, row_of(res["prefill_logits"][t]),
                              "batch seq " + std::to_string(s) + " position " + std::to_string(t)));
    }
    const size_t N = greedy[0].size();
    FloatBuffer step(S * size_t(vocab_));
    for (size_t j = 0; j < N; ++j) {
      chunks.clear();
      for (size_t s = 0; s < S; ++s) chunks.push_back({std::span<const int32_t>(&greedy[s][j], 1), &seqs[s], false});
      model_->forward(pool_, chunks, cache, MatView{step.data(), int64_t(S), vocab_, vocab_});
      for (size_t s = 0; s < S; ++s) {
        ASSERT_TRUE(close_row(step.data() + s * vocab_, row_of(batch["results"][s]["decode_logits"][j]),
                              "batch seq " + std::to_string(s) + " decode " + std::to_string(j)));
        if (j + 1 < N) EXPECT_EQ(argmax(step.data() + s * vocab_, vocab_), greedy[s][j + 1]);
      }
    }
  }
}

std::vector<Param> all_params() {
  std::vector<Param> out;
  for (const char* m : kModels)
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) out.push_back({m, isa});
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, GoldenModel, ::testing::ValuesIn(all_params()),
                         [](const ::testing::TestParamInfo<Param>& p) {
                           return p.param.model + "_" + std::string(isa_name(p.param.isa));
                         });

// The MLA cache stores only the compressed latent and the roped key: R + rope values per token-layer.
TEST(GoldenDeepseekV3, LatentCacheWidth) {
  for (const char* name : {"dsv3_v3style_f32", "dsv3_v2litestyle_bf16", "dsv3_fp8_blocks"}) {
    auto model = load_model(model_dir(name));
    const json& cfg = golden(name);  // ensures the fixture exists
    (void)cfg;
    std::ifstream in(model_dir(name) + "/config.json");
    json config = json::parse(in);
    const int64_t expect = config["kv_lora_rank"].get<int64_t>() + config["qk_rope_head_dim"].get<int64_t>();
    EXPECT_EQ(model->kv_layout().width, expect) << name;
    EXPECT_EQ(model->kv_layout().n_layers, config["num_hidden_layers"].get<int64_t>());
    KvCache cache(model->kv_layout(), 64, 16);
    EXPECT_EQ(cache.bytes(), uint64_t(64 * expect * config["num_hidden_layers"].get<int64_t>() * 4)) << name;
  }
}

// A step with more routed rows than the MoE scratch holds at once (4096: here 5 prompts of 220
// tokens, 4 experts per token) runs the experts in groups, the shared expert's down projection in
// the first group's batch; every row still equals its prompt prefilled alone, bit for bit.
TEST(GoldenDeepseekV3, ExpertGroupsGiveTheRowsOfOnePrompt) {
  const std::string name = "dsv3_v3style_f32";
  auto model = load_model(model_dir(name));
  std::ifstream in(model_dir(name) + "/config.json");
  const json config = json::parse(in);
  const int64_t vocab = model->info().vocab_size;
  constexpr int64_t kSeqs = 5, kLen = 220;
  ASSERT_GT(kSeqs * kLen * config["num_experts_per_tok"].get<int64_t>(), 4096);
  ASSERT_GT(config["n_shared_experts"].get<int64_t>(), 0);
  std::vector<std::vector<int32_t>> prompts(kSeqs);
  uint64_t state = 7;
  for (auto& p : prompts)
    for (int64_t i = 0; i < kLen; ++i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      p.push_back(int32_t((state >> 33) % uint64_t(vocab)));
    }
  ThreadPool pool(2);
  KvCache cache(model->kv_layout(), 2 * kSeqs * (kLen + 16));
  std::vector<KvSeq> seqs(kSeqs);
  std::vector<SeqChunk> chunks;
  for (int64_t s = 0; s < kSeqs; ++s) {
    ASSERT_TRUE(seqs[size_t(s)].reserve(cache, int32_t(kLen)));
    chunks.push_back({prompts[size_t(s)], &seqs[size_t(s)], true});
  }
  FloatBuffer all(size_t(kSeqs * kLen * vocab)), alone(size_t(kLen * vocab));
  model->forward(pool, chunks, cache, MatView{all.data(), kSeqs * kLen, vocab, vocab});
  for (int64_t s = 0; s < kSeqs; ++s) {
    KvSeq one;
    ASSERT_TRUE(one.reserve(cache, int32_t(kLen)));
    SeqChunk chunk{prompts[size_t(s)], &one, true};
    model->forward(pool, {&chunk, 1}, cache, MatView{alone.data(), kLen, vocab, vocab});
    for (int64_t t = 0; t < kLen; ++t)
      ASSERT_EQ(0, std::memcmp(alone.data() + t * vocab, all.data() + (s * kLen + t) * vocab, sizeof(float) * size_t(vocab)))
          << "prompt " << s << " position " << t;
    one.release(cache);
  }
}

}  // namespace
}  // namespace r1
