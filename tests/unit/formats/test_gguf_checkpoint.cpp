// A GGUF file as a checkpoint: the converted golden models give the same config values and the
// same tensors (by HF name) as their safetensors originals, llama's q/k rows are the converter's
// permutation of HF's, the tokenizer round-trips HF → GGUF metadata → tokenizer.json with
// identical ids on the golden tokenizer corpora, and bad files give clear errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>

#include "core/error.h"
#include "formats/checkpoint.h"
#include "formats/gguf.h"
#include "formats/gguf_arch.h"
#include "formats/gguf_checkpoint.h"
#include "core/quants.h"
#include "formats/gguf_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace r1 {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
namespace fs = std::filesystem;

std::string gguf_path(const std::string& name) { return std::string(R1_TEST_DATA) + "/gguf/" + name; }
std::string model_dir(const std::string& name) { return std::string(R1_TEST_DATA) + "/models/" + name; }
std::string tokenizer_dir(const std::string& name) { return std::string(R1_TEST_DATA) + "/tokenizers/" + name; }

std::vector<float> to_f32(const TensorView& v) {
  std::vector<float> out(size_t(v.numel()));
  dequantize(v.dtype, v.data, out.data(), v.numel());
  return out;
}

// The converter's llama permutation of one [n_head * head_dim, in] matrix: GGUF row
// h·hd + 2i + t holds HF row h·hd + t·hd/2 + i.
std::vector<float> permute_rows(const std::vector<float>& w, int64_t rows, int64_t cols, int64_t n_head) {
  const int64_t hd = rows / n_head;
  std::vector<float> out(w.size());
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t i = 0; i < hd / 2; ++i)
      for (int64_t t = 0; t < 2; ++t)
        std::copy_n(&w[size_t((h * hd + t * hd / 2 + i) * cols)], cols, &out[size_t((h * hd + 2 * i + t) * cols)]);
  return out;
}

struct Pair {
  std::string gguf, model;
};

class ConvertedGolden : public ::testing::TestWithParam<Pair> {};

TEST_P(ConvertedGolden, SameConfigAndTensorsAsSafetensors) {
  std::shared_ptr<Checkpoint> g = open_checkpoint(gguf_path(GetParam().gguf));  // via the .gguf dispatch
  std::shared_ptr<Checkpoint> hf = open_checkpoint(model_dir(GetParam().model));
  const bool llama = hf->config["model_type"] == "llama";
  EXPECT_EQ(g->rope_interleaved_qk, llama);
  for (const char* key : {"model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
                          "tie_word_embeddings", "rope_theta", "bos_token_id", "eos_token_id"})
    EXPECT_EQ(g->config[key], hf->config[key]) << key;
  EXPECT_EQ(float(g->config["rms_norm_eps"].get<double>()), float(hf->config["rms_norm_eps"].get<double>()));
  // llama3 rope travels as rope_freqs.weight, not as rope_scaling keys.
  EXPECT_FALSE(g->config.contains("rope_scaling"));

  std::set<std::string> extra;
  for (const auto& [name, entry] : g->tensors)
    if (!hf->find(name)) extra.insert(name);
  EXPECT_EQ(extra, llama ? std::set<std::string>{"rope_freqs.weight"} : std::set<std::string>{});
  const int64_t heads = hf->config["num_attention_heads"], kv_heads = hf->config["num_key_value_heads"];
  for (const auto& [name, entry] : hf->tensors) {
    SCOPED_TRACE(name);
    const TensorEntry* t = g->find(name);
    ASSERT_NE(t, nullptr);
    ASSERT_EQ(t->view.shape, entry.view.shape);
    std::vector<float> want = to_f32(entry.view);
    if (llama && name.find("q_proj.weight") != std::string::npos)
      want = permute_rows(want, entry.view.shape[0], entry.view.shape[1], heads);
    if (llama && name.find("k_proj.weight") != std::string::npos)
      want = permute_rows(want, entry.view.shape[0], entry.view.shape[1], kv_heads);
    // The converter rounds to f16 (exact for bf16 values except a few subnormal ones).
    if (t->view.dtype == DType::kF16)
      for (float& v : want) v = f16_to_f32(f32_to_f16(v));
    EXPECT_EQ(to_f32(t->view), want);
  }
}

INSTANTIATE_TEST_SUITE_P(Files, ConvertedGolden,
                         ::testing::Values(Pair{"qwen2_untied_bf16.f32.gguf", "qwen2_untied_bf16"},
                                           Pair{"qwen2_untied_bf16.f16.gguf", "qwen2_untied_bf16"},
                                           Pair{"llama_llama3rope_bf16.f32.gguf", "llama_llama3rope_bf16"},
                                           Pair{"llama_llama3rope_bf16.f16.gguf", "llama_llama3rope_bf16"}),
                         [](const auto& info) {
                           std::string n = info.param.gguf;
                           for (char& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// rope_freqs.weight holds the llama3 divisors of the HF config: base^(-2i/d) / f_i equals the
// scaled inverse frequency HF computes.
TEST(GgufCheckpoint, RopeFreqsAreTheLlama3Divisors) {
  std::shared_ptr<Checkpoint> g = open_checkpoint(gguf_path("llama_llama3rope_bf16.f32.gguf"));
  json rs = read_json_file(model_dir("llama_llama3rope_bf16") + "/config.json")["rope_scaling"];
  const TensorEntry* f = g->find("rope_freqs.weight");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->view.shape, (Shape{16}));
  const double factor = rs["factor"], lf = rs["low_freq_factor"], hf = rs["high_freq_factor"];
  const double old_ctx = rs["original_max_position_embeddings"];
  for (int i = 0; i < 16; ++i) {
    const double inv = std::pow(500000.0, -2.0 * i / 32.0), wavelen = 2 * std::numbers::pi / inv;
    double scaled = inv;
    if (wavelen > old_ctx / lf) scaled = inv / factor;
    else if (wavelen >= old_ctx / hf) {
      const double s = (old_ctx / wavelen - lf) / (hf - lf);
      scaled = (1 - s) * inv / factor + s * inv;
    }
    EXPECT_NEAR(inv / f->view.as<float>()[i], scaled, scaled * 1e-6) << i;
  }
}

TEST(GgufCheckpoint, FixtureTokenizerLoadsAndEncodes) {
  std::shared_ptr<Checkpoint> g = open_checkpoint(gguf_path("qwen2_untied_bf16.f16.gguf"));
  ASSERT_TRUE(g->tokenizer_json.has_value());
  ASSERT_TRUE(g->tokenizer_config.has_value());
  EXPECT_EQ((*g->tokenizer_config)["add_bos_token"], false);
  Tokenizer tok = Tokenizer::from_json(*g->tokenizer_json, &*g->tokenizer_config);
  EXPECT_EQ(tok.vocab_size(), 512);
  // " t" is one pre-token; its bytes "Ġ" "t" merge into id 256. Added tokens are cut out first.
  EXPECT_EQ(tok.encode(" t", false), (std::vector<int32_t>{256}));
  EXPECT_EQ(tok.encode("a<|tok_300|> ta", false), (std::vector<int32_t>{97, 300, 256, 97}));
  EXPECT_EQ(tok.decode(std::vector<int32_t>{256, 300}, false), " t<|tok_300|>");
}

// A GgufFile holding only metadata, for the tokenizer functions.
GgufFile metadata_file(const std::vector<std::pair<std::string, GgufValue>>& kvs) {
  GgufFile g;
  g.path = "meta.gguf";
  for (const auto& [k, v] : kvs) {
    g.metadata_index[k] = g.metadata.size();
    g.metadata.emplace_back(k, v);
  }
  return g;
}

class TokenizerRoundTrip : public ::testing::TestWithParam<std::string> {};

// HF tokenizer → GGUF metadata → tokenizer.json: the ids of every golden line are unchanged.
TEST_P(TokenizerRoundTrip, GoldenIdsUnchanged) {
  const std::string dir = tokenizer_dir(GetParam());
  const json tj = read_json_file(dir + "/tokenizer.json");
  const json tc = read_json_file(dir + "/tokenizer_config.json");
  auto kvs = gguf_tokenizer_from_hf(tj, &tc, json::object(), 0, dir);
  GgufFile g = metadata_file(kvs);
  const std::string pre = g.get_string("tokenizer.ggml.pre");
  EXPECT_EQ(pre, GetParam().find("qwen") != std::string::npos    ? "qwen2"
                 : GetParam().find("llama") != std::string::npos ? "llama-bpe"
                                                                 : "deepseek-v3");
  EXPECT_EQ(g.get_int("tokenizer.ggml.bos_token_id"), GetParam().find("qwen") != std::string::npos ? 151646
                                                      : GetParam().find("llama") != std::string::npos ? 128000
                                                                                                       : 0);
  EXPECT_EQ(g.get_bool_opt("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(g.get_string("tokenizer.chat_template"), tc["chat_template"].get<std::string>());
  std::optional<HfTokenizerFiles> back = hf_tokenizer_from_gguf(g);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->tokenizer_config["chat_template"], tc["chat_template"]);
  Tokenizer original = Tokenizer::from_json(tj, &tc);
  Tokenizer tok = Tokenizer::from_json(back->tokenizer, &back->tokenizer_config);
  EXPECT_EQ(tok.vocab_size(), original.vocab_size());
  // The V3/R1 tokenizer.json adds no BOS itself; transformers and llama.cpp add it
  // (add_bos_token), and so does the GGUF tokenizer.
  const bool bos_from_config_only = GetParam().find("deepseek-r1-distill") == std::string::npos;
  std::ifstream in(dir + "/golden_public.jsonl");
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    const json c = json::parse(line);
    const std::string text = c["text"];
    const bool special = c["add_special_tokens"];
    std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    if (special && bos_from_config_only) want.insert(want.begin(), int32_t(*g.get_int_opt("tokenizer.ggml.bos_token_id")));
    ASSERT_EQ(tok.encode(text, special), want) << c.dump();
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

INSTANTIATE_TEST_SUITE_P(Golden, TokenizerRoundTrip,
                         ::testing::Values("deepseek-v3", "deepseek-r1", "deepseek-r1-distill-qwen",
                                           "deepseek-r1-distill-llama"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(needle));
  }
}

TEST(GgufCheckpoint, TokenizerErrors) {
  auto base = [](const std::string& model, const std::string& pre) {
    return std::vector<std::pair<std::string, GgufValue>>{
        {"tokenizer.ggml.model", GgufValue::of_string(model)},
        {"tokenizer.ggml.pre", GgufValue::of_string(pre)},
        {"tokenizer.ggml.tokens", gguf_string_array({"a", "b"})},
        {"tokenizer.ggml.merges", gguf_string_array({"a b"})}};
  };
  EXPECT_TRUE(hf_tokenizer_from_gguf(metadata_file(base("gpt2", "llama-bpe"))).has_value());
  EXPECT_FALSE(hf_tokenizer_from_gguf(metadata_file({})).has_value());
  expect_error([&] { hf_tokenizer_from_gguf(metadata_file(base("llama", "default"))); },
               "tokenizer.ggml.model is 'llama'");
  expect_error([&] { hf_tokenizer_from_gguf(metadata_file(base("gpt2", "starcoder"))); },
               "tokenizer.ggml.pre 'starcoder' is not a pre-tokenizer r1 knows (known: deepseek-v3");
  auto bad_merge = base("gpt2", "qwen2");
  bad_merge[3].second = gguf_string_array({"ab"});
  expect_error([&] { hf_tokenizer_from_gguf(metadata_file(bad_merge)); }, "merges[0] = 'ab'");
  auto bad_types = base("gpt2", "qwen2");
  bad_types.emplace_back("tokenizer.ggml.token_type", gguf_i32_array({1}));
  expect_error([&] { hf_tokenizer_from_gguf(metadata_file(bad_types)); }, "token_type has 1 entries");
  auto bad_bos = base("gpt2", "qwen2");
  bad_bos.emplace_back("tokenizer.ggml.bos_token_id", GgufValue::of_u32(7));
  expect_error([&] { hf_tokenizer_from_gguf(metadata_file(bad_bos)); }, "bos_token_id = 7 is outside the vocabulary");
}

// Writes a GGUF with the given metadata and F32 tensors (zeros) to a temp file.
std::string write_temp(const std::string& name, const std::vector<std::pair<std::string, GgufValue>>& kvs,
                       const std::vector<std::pair<std::string, std::vector<uint64_t>>>& tensors) {
  const std::string path = (fs::temp_directory_path() / name).string();
  GgufWriter w(path);
  for (const auto& [k, v] : kvs) w.set(k, v);
  std::vector<uint64_t> sizes;
  for (const auto& [n, dims] : tensors) sizes.push_back(w.add_tensor(n, dims, DType::kF32));
  w.write_header();
  for (uint64_t s : sizes) {
    std::vector<char> zeros(s);
    w.write_data(zeros.data(), s);
  }
  w.finish();
  return path;
}

std::vector<std::pair<std::string, GgufValue>> deepseek2_keys() {
  std::vector<std::pair<std::string, GgufValue>> kv = {{"general.architecture", GgufValue::of_string("deepseek2")}};
  for (auto [k, v] : std::vector<std::pair<const char*, uint32_t>>{
           {"block_count", 2}, {"context_length", 64}, {"embedding_length", 32}, {"feed_forward_length", 48},
           {"attention.head_count", 2}, {"expert_count", 4}, {"expert_used_count", 2}, {"expert_shared_count", 1},
           {"expert_feed_forward_length", 16}, {"leading_dense_block_count", 1}, {"vocab_size", 10},
           {"attention.kv_lora_rank", 8}, {"attention.key_length", 12}, {"attention.value_length", 8},
           {"attention.key_length_mla", 10}, {"attention.value_length_mla", 6}, {"rope.dimension_count", 4},
           {"expert_gating_func", 2}, {"expert_group_count", 2}, {"expert_group_used_count", 1}})
    kv.emplace_back(std::string("deepseek2.") + k, GgufValue::of_u32(v));
  kv.emplace_back("deepseek2.attention.layer_norm_rms_epsilon", GgufValue::of_f32(1e-6f));
  kv.emplace_back("deepseek2.expert_weights_scale", GgufValue::of_f32(2.5f));
  kv.emplace_back("deepseek2.expert_weights_norm", GgufValue::of_bool(true));
  return kv;
}

TEST(GgufCheckpoint, Deepseek2ConfigExpertsAndSplitMla) {
  const std::string path = write_temp("r1_test_ds2.gguf", deepseek2_keys(),
                                      {{"blk.1.ffn_down_exps.weight", {16, 32, 4}},
                                       {"blk.1.exp_probs_b.bias", {4}},
                                       {"blk.1.attn_k_b.weight", {4, 8, 2}},
                                       {"blk.1.attn_v_b.weight", {8, 6, 2}},
                                       {"blk.2.nextn.eh_proj.weight", {64, 32}}});
  std::shared_ptr<Checkpoint> c = open_checkpoint(path);
  const json& cfg = c->config;
  EXPECT_EQ(cfg["model_type"], "deepseek_v3");
  EXPECT_EQ(cfg["num_hidden_layers"], 2);
  EXPECT_EQ(cfg["qk_nope_head_dim"], 6);  // key_length_mla 10 - rope 4
  EXPECT_EQ(cfg["qk_rope_head_dim"], 4);
  EXPECT_EQ(cfg["v_head_dim"], 6);
  EXPECT_EQ(cfg["kv_lora_rank"], 8);
  EXPECT_TRUE(cfg["q_lora_rank"].is_null());
  EXPECT_EQ(cfg["scoring_func"], "sigmoid");
  EXPECT_EQ(cfg["topk_method"], "noaux_tc");
  EXPECT_EQ(cfg["n_group"], 2);
  EXPECT_EQ(cfg["topk_group"], 1);
  EXPECT_EQ(cfg["norm_topk_prob"], true);
  EXPECT_EQ(cfg["routed_scaling_factor"], 2.5);
  EXPECT_EQ(cfg["n_shared_experts"], 1);
  EXPECT_EQ(cfg["moe_intermediate_size"], 16);
  EXPECT_EQ(cfg["intermediate_size"], 48);
  EXPECT_EQ(cfg["tie_word_embeddings"], true);
  // Stacked experts [4, 32, 16] → four [32, 16] views, consecutive in the file.
  const TensorEntry* e0 = c->find("model.layers.1.mlp.experts.0.down_proj.weight");
  const TensorEntry* e3 = c->find("model.layers.1.mlp.experts.3.down_proj.weight");
  ASSERT_TRUE(e0 && e3);
  EXPECT_EQ(e0->view.shape, (Shape{32, 16}));
  EXPECT_EQ(static_cast<const char*>(e3->view.data) - static_cast<const char*>(e0->view.data), 3 * 32 * 16 * 4);
  // Split MLA: [H, R, nope] and [H, v, R] flattened to 2-D.
  EXPECT_EQ(c->find("model.layers.1.self_attn.k_b_proj.weight")->view.shape, (Shape{16, 4}));
  EXPECT_EQ(c->find("model.layers.1.self_attn.v_b_proj.weight")->view.shape, (Shape{12, 8}));
  EXPECT_NE(c->find("model.layers.1.mlp.gate.e_score_correction_bias"), nullptr);
  // A block past the main stack (MTP) stays under model.layers.2 for the model to skip.
  EXPECT_NE(c->find("model.layers.2.nextn.eh_proj.weight"), nullptr);
  fs::remove(path);
}

// gguf-split shards: the tensors of every shard, the metadata of the first; any shard opens the set.
TEST(GgufCheckpoint, SplitFilesOpenAsOneModel) {
  const fs::path dir = fs::temp_directory_path() / "r1_test_split";
  fs::create_directories(dir);
  auto shard = [&](int no, const std::vector<std::pair<std::string, std::vector<uint64_t>>>& tensors,
                   bool with_model_keys) {
    std::vector<std::pair<std::string, GgufValue>> kv;
    if (with_model_keys) kv = deepseek2_keys();
    kv.emplace_back("split.no", GgufValue::of_u32(uint32_t(no)));
    kv.emplace_back("split.count", GgufValue::of_u32(2));
    kv.emplace_back("split.tensors.count", GgufValue::of_u32(3));
    const std::string name = fmt::format("r1_test_split/m-{:05d}-of-00002.gguf", no + 1);
    return write_temp(name, kv, tensors);
  };
  const std::string a = shard(0, {{"blk.1.exp_probs_b.bias", {4}}, {"output_norm.weight", {32}}}, true);
  const std::string b = shard(1, {{"blk.1.ffn_down_exps.weight", {16, 32, 4}}}, false);
  for (const std::string& p : {a, b}) {
    std::shared_ptr<Checkpoint> c = open_checkpoint(p);
    EXPECT_EQ(c->config["topk_method"], "noaux_tc");
    EXPECT_NE(c->find("model.norm.weight"), nullptr);
    EXPECT_NE(c->find("model.layers.1.mlp.experts.3.down_proj.weight"), nullptr);
    EXPECT_EQ(c->files.size(), 2u);
  }
  fs::remove(b);
  expect_error([&] { open_checkpoint(a); }, "shard 2 of 2 is missing");
  fs::remove_all(dir);
}

TEST(GgufCheckpoint, ModelErrors) {
  auto arch = deepseek2_keys();
  arch[0].second = GgufValue::of_string("gpt2");
  std::string p = write_temp("r1_test_arch.gguf", arch, {});
  expect_error([&] { open_checkpoint(p); }, "GGUF architecture 'gpt2' is not supported (supported: qwen2, llama, deepseek2)");
  auto missing = deepseek2_keys();
  missing.erase(missing.begin() + 12);  // attention.kv_lora_rank
  p = write_temp("r1_test_missing.gguf", missing, {});
  expect_error([&] { open_checkpoint(p); }, "required metadata key 'deepseek2.attention.kv_lora_rank' is missing");
  auto wrong_type = deepseek2_keys();
  wrong_type[1].second = GgufValue::of_string("2");
  p = write_temp("r1_test_type.gguf", wrong_type, {});
  expect_error([&] { open_checkpoint(p); }, "'deepseek2.block_count' must be an integer");
  p = write_temp("r1_test_exps.gguf", deepseek2_keys(), {{"blk.1.ffn_up_exps.weight", {16, 32}}});
  expect_error([&] { open_checkpoint(p); }, "'blk.1.ffn_up_exps.weight' must be 3-D");
  fs::remove(p);
  expect_error([&] { open_checkpoint("/nonexistent/model.gguf"); }, "no such");
}

TEST(GgufArch, NamesRoundTrip) {
  for (const char* hf : {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
                         "model.layers.7.self_attn.q_proj.bias", "model.layers.12.self_attn.kv_a_proj_with_mqa.weight",
                         "model.layers.3.mlp.gate.e_score_correction_bias", "model.layers.3.mlp.shared_experts.down_proj.weight"}) {
    std::optional<std::string> g = gguf_name_from_hf(hf);
    ASSERT_TRUE(g.has_value()) << hf;
    EXPECT_EQ(hf_name_from_gguf(*g), std::string(hf));
  }
  EXPECT_EQ(*gguf_name_from_hf("model.layers.3.mlp.gate.e_score_correction_bias"), "blk.3.exp_probs_b.bias");
  EXPECT_EQ(*gguf_name_from_hf("model.layers.0.self_attn.kv_a_proj_with_mqa.weight"), "blk.0.attn_kv_a_mqa.weight");
  EXPECT_FALSE(gguf_name_from_hf("model.layers.x.self_attn.q_proj.weight").has_value());
  EXPECT_FALSE(gguf_name_from_hf("model.layers.01.self_attn.q_proj.weight").has_value());
  EXPECT_FALSE(hf_name_from_gguf("blk.0.unknown.weight").has_value());
  auto e = parse_hf_expert("model.layers.4.mlp.experts.17.up_proj.weight");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->layer, 4);
  EXPECT_EQ(e->expert, 17);
  EXPECT_EQ(gguf_experts_name(e->layer, e->proj), "blk.4.ffn_up_exps.weight");
  EXPECT_FALSE(parse_hf_expert("model.layers.4.mlp.shared_experts.up_proj.weight").has_value());
}

}  // namespace
}  // namespace r1
