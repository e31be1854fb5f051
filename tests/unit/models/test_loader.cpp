// Loading models from configs and checkpoints: typed configs with clear errors, the binder's
// one-report-for-everything on bad tensor tables, tied embeddings, FP8 scales, MTP layers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "formats/safetensors_writer.h"
#include "models/model.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Dir {
  fs::path path = fs::temp_directory_path() / ("r1_loader_" + std::to_string(::getpid()) + "_" + std::to_string(n()++));
  Dir() { fs::create_directories(path); }
  ~Dir() { fs::remove_all(path); }
  static int& n() {
    static int c = 0;
    return c;
  }
};

json qwen2_config() {
  return {{"model_type", "qwen2"}, {"vocab_size", 16}, {"hidden_size", 8}, {"intermediate_size", 12},
          {"num_hidden_layers", 1}, {"num_attention_heads", 2}, {"num_key_value_heads", 1},
          {"tie_word_embeddings", false}};
}

// The tensors a qwen2 config above needs, as (name, shape).
std::vector<std::pair<std::string, Shape>> qwen2_tensors() {
  return {{"model.embed_tokens.weight", {16, 8}},
          {"model.layers.0.input_layernorm.weight", {8}},
          {"model.layers.0.self_attn.q_proj.weight", {8, 8}},
          {"model.layers.0.self_attn.k_proj.weight", {4, 8}},
          {"model.layers.0.self_attn.v_proj.weight", {4, 8}},
          {"model.layers.0.self_attn.q_proj.bias", {8}},
          {"model.layers.0.self_attn.k_proj.bias", {4}},
          {"model.layers.0.self_attn.v_proj.bias", {4}},
          {"model.layers.0.self_attn.o_proj.weight", {8, 8}},
          {"model.layers.0.post_attention_layernorm.weight", {8}},
          {"model.layers.0.mlp.gate_proj.weight", {12, 8}},
          {"model.layers.0.mlp.up_proj.weight", {12, 8}},
          {"model.layers.0.mlp.down_proj.weight", {8, 12}},
          {"model.norm.weight", {8}},
          {"lm_head.weight", {16, 8}}};
}

void write_model(const Dir& d, const json& config, const std::vector<std::pair<std::string, Shape>>& tensors,
                 DType dtype = DType::kF32) {
  std::ofstream(d.path / "config.json") << config.dump();
  std::vector<TensorToWrite> out;
  for (const auto& [name, shape] : tensors)
    out.push_back({name, dtype, shape, [](std::byte* p, uint64_t n) { std::fill(p, p + n, std::byte(0)); }});
  write_safetensors((d.path / "model.safetensors").string(), out);
}

std::string load_error(const Dir& d) {
  try {
    load_model(d.path.string());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Loader, ValidQwen2LoadsAndCountsParameters) {
  Dir d;
  write_model(d, qwen2_config(), qwen2_tensors());
  auto model = load_model(d.path.string());
  EXPECT_EQ(model->info().architecture, "qwen2");
  int64_t params = 0;
  for (const auto& [name, shape] : qwen2_tensors()) {
    int64_t n = 1;
    for (int64_t x : shape) n *= x;
    params += n;
  }
  EXPECT_EQ(model->info().params_total, params);
  EXPECT_EQ(model->kv_layout().width, 2 * 4);
  // Per token: every tensor except the embedding table, plus one embedding row.
  EXPECT_EQ(model->info().bytes_per_token, uint64_t(params - 16 * 8 + 8) * 4);
}

TEST(Loader, ReportsEveryTensorProblemAtOnce) {
  Dir d;
  auto tensors = qwen2_tensors();
  tensors.erase(tensors.begin() + 2);                               // q_proj missing
  tensors[3].second = {5, 8};                                       // v_proj mis-shaped
  tensors.push_back({"model.layers.7.mlp.gate_proj.weight", {2, 2}});  // extra
  write_model(d, qwen2_config(), tensors);
  std::string e = load_error(d);
  EXPECT_NE(e.find("3 problem(s)"), std::string::npos) << e;
  EXPECT_NE(e.find("missing tensor 'model.layers.0.self_attn.q_proj.weight' (expected shape [8,8])"), std::string::npos) << e;
  EXPECT_NE(e.find("'model.layers.0.self_attn.v_proj.weight' has shape [5,8], config expects [4,8]"), std::string::npos) << e;
  EXPECT_NE(e.find("unexpected tensor 'model.layers.7.mlp.gate_proj.weight'"), std::string::npos) << e;
}

TEST(Loader, RejectsUnusableDtypes) {
  Dir d;
  write_model(d, qwen2_config(), qwen2_tensors(), DType::kI32);
  std::string e = load_error(d);
  EXPECT_NE(e.find("dtype I32"), std::string::npos) << e;
}

TEST(Loader, TiedEmbeddings) {
  Dir d;
  json config = qwen2_config();
  config["tie_word_embeddings"] = true;
  auto tensors = qwen2_tensors();
  tensors.pop_back();  // no lm_head.weight
  write_model(d, config, tensors);
  EXPECT_EQ(load_error(d), "");
  config["tie_word_embeddings"] = false;
  write_model(d, config, tensors);
  EXPECT_NE(load_error(d).find("missing tensor 'lm_head.weight'"), std::string::npos);
}

TEST(Loader, ConfigErrorsNameTheKey) {
  auto error_for = [](json config) {
    Dir d;
    write_model(d, config, qwen2_tensors());
    return load_error(d);
  };
  json c = qwen2_config();
  c["hidden_size"] = "eight";
  EXPECT_NE(error_for(c).find("'hidden_size' must be an integer (got string"), std::string::npos);
  c = qwen2_config();
  c.erase("num_hidden_layers");
  EXPECT_NE(error_for(c).find("'num_hidden_layers' is missing"), std::string::npos);
  c = qwen2_config();
  c["model_type"] = "mamba";
  EXPECT_NE(error_for(c).find("model_type 'mamba' is not supported"), std::string::npos);
  c = qwen2_config();
  c["num_key_value_heads"] = 3;
  EXPECT_NE(error_for(c).find("'num_key_value_heads' is 3, must be in [1, 2]"), std::string::npos);
  c["num_attention_heads"] = 4;
  EXPECT_NE(error_for(c).find("'num_key_value_heads' (3) must divide num_attention_heads (4)"), std::string::npos);
  c = qwen2_config();
  c["use_sliding_window"] = true;
  EXPECT_NE(error_for(c).find("sliding-window attention is not supported"), std::string::npos);
  c = qwen2_config();
  c["hidden_act"] = "gelu";
  EXPECT_NE(error_for(c).find("'hidden_act' is 'gelu', which r1 does not support"), std::string::npos);
  c = qwen2_config();
  c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4}};
  EXPECT_NE(error_for(c).find("is 'yarn'; supported: llama3, linear"), std::string::npos);
  c = qwen2_config();
  c["rms_norm_eps"] = -1;
  EXPECT_NE(error_for(c).find("'rms_norm_eps' must be positive"), std::string::npos);
}

json golden_config(const std::string& name) {
  std::ifstream in(std::string(R1_TEST_DATA) + "/models/" + name + "/config.json");
  return json::parse(in);
}

TEST(Loader, DeepseekV3ConfigErrors) {
  auto error_for = [](json config) {
    Dir d;
    std::ofstream(d.path / "config.json") << config.dump();
    try {
      load_model(open_checkpoint(d.path.string(), LoadMode::kMmap, /*allow_config_only=*/true));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  json c = golden_config("dsv3_v3style_f32");
  EXPECT_EQ(error_for(c), "");
  c["n_group"] = 3;  // 16 experts do not split into 3 groups
  EXPECT_NE(error_for(c).find("'n_group' (3) must divide n_routed_experts (16)"), std::string::npos);
  c = golden_config("dsv3_v3style_f32");
  c["topk_method"] = "random";
  EXPECT_NE(error_for(c).find("'topk_method' is 'random'"), std::string::npos);
  c = golden_config("dsv3_v3style_f32");
  c["scoring_func"] = 1;
  EXPECT_NE(error_for(c).find("'scoring_func' must be a string"), std::string::npos);
  c = golden_config("dsv3_fp8_blocks");
  c["quantization_config"]["weight_block_size"] = {64, 64};
  EXPECT_NE(error_for(c).find("'weight_block_size' must be [128, 128]"), std::string::npos);
  c = golden_config("dsv3_v3style_f32");
  c["rope_scaling"]["type"] = "dynamic";
  EXPECT_NE(error_for(c).find("deepseek_v3 supports only yarn"), std::string::npos);
}

TEST(Loader, Fp8NeedsItsScalesAndMtpLayersAreNotBound) {
  const std::string dir = std::string(R1_TEST_DATA) + "/models/dsv3_fp8_blocks";
  auto model = load_model(dir);
  const int64_t layers = golden_config("dsv3_fp8_blocks")["num_hidden_layers"];
  int fp8 = 0;
  for (const TensorSpec& s : model->tensor_specs()) {
    EXPECT_EQ(s.name.find("model.layers." + std::to_string(layers) + "."), std::string::npos) << s.name;
    fp8 += s.dtype == DType::kF8E4M3;
  }
  EXPECT_GT(fp8, 0);
  // The same checkpoint without one scale tensor: a clear error naming it.
  auto ckpt = open_checkpoint(dir);
  ckpt->tensors.erase("model.layers.0.self_attn.kv_b_proj.weight_scale_inv");
  try {
    load_model(ckpt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor 'model.layers.0.self_attn.kv_b_proj.weight_scale_inv'"), std::string::npos)
        << e.what();
  }
}

TEST(Loader, InfoForTheFullR1ConfigWithoutWeights) {
  json c = golden_config("dsv3_fp8_blocks");
  // DeepSeek-R1's published shape.
  c.update(json::parse(R"({"vocab_size":129280,"hidden_size":7168,"intermediate_size":18432,
    "moe_intermediate_size":2048,"num_hidden_layers":61,"num_nextn_predict_layers":1,
    "first_k_dense_replace":3,"num_attention_heads":128,"num_key_value_heads":128,
    "n_routed_experts":256,"n_shared_experts":1,"num_experts_per_tok":8,"n_group":8,"topk_group":4,
    "q_lora_rank":1536,"kv_lora_rank":512,"qk_nope_head_dim":128,"qk_rope_head_dim":64,
    "v_head_dim":128,"max_position_embeddings":163840,
    "rope_scaling":{"type":"yarn","factor":40,"original_max_position_embeddings":4096,
      "beta_fast":32,"beta_slow":1,"mscale":1.0,"mscale_all_dim":1.0}})"));
  Dir d;
  std::ofstream(d.path / "config.json") << c.dump();
  auto model = load_model(open_checkpoint(d.path.string(), LoadMode::kMmap, true));
  const ModelInfo& info = model->info();
  EXPECT_FALSE(info.has_weights);
  EXPECT_NEAR(double(info.params_total) / 1e9, 671.0, 0.5);   // "671B total"
  EXPECT_NEAR(double(info.params_active) / 1e9, 37.5, 0.6);   // "37B activated"
  EXPECT_EQ(info.kv_values_per_token_layer * info.n_layers * 2, 70272);  // bf16 bytes per token
}

}  // namespace
}  // namespace r1
