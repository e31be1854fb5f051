// `r1 gen-random`: a random-weight checkpoint at a real model's shape, for benchmarks (speed does
// not depend on the values). The tensor list comes from the architecture's own binding code
// (Model::tensor_specs), so the files always load. Presets with --config-only write just
// config.json (enough for `r1 info`).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "cli/command.h"
#include "cli/common.h"
#include "core/error.h"
#include "formats/safetensors_writer.h"
#include "models/model.h"

namespace r1::cli {
namespace {

using nlohmann::ordered_json;

struct Preset {
  const char* arch;
  const char* name;
  const char* config;  // JSON
  bool config_only;    // too big to write here
};

// Shapes of the published checkpoints' config.json files.
const Preset kPresets[] = {
    {"qwen2", "r1-distill-qwen-1.5b", R"({
      "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 1536,
      "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12,
      "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 131072,
      "rms_norm_eps": 1e-06, "rope_theta": 10000, "tie_word_embeddings": false,
      "use_sliding_window": false, "sliding_window": 4096, "max_window_layers": 21,
      "hidden_act": "silu", "bos_token_id": 151643, "eos_token_id": 151643})", false},
    {"qwen2", "r1-distill-qwen-7b", R"({
      "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584,
      "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
      "num_key_value_heads": 4, "vocab_size": 152064, "max_position_embeddings": 131072,
      "rms_norm_eps": 1e-06, "rope_theta": 10000, "tie_word_embeddings": false,
      "use_sliding_window": false, "sliding_window": 4096, "max_window_layers": 28,
      "hidden_act": "silu", "bos_token_id": 151643, "eos_token_id": 151643})", false},
    {"llama", "r1-distill-llama-8b", R"({
      "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
      "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
      "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
      "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": false,
      "attention_bias": false, "mlp_bias": false, "hidden_act": "silu",
      "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                       "original_max_position_embeddings": 8192, "rope_type": "llama3"},
      "bos_token_id": 128000, "eos_token_id": 128001})", false},
    {"deepseek_v3", "r1", R"({
      "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
      "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432,
      "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_nextn_predict_layers": 1,
      "first_k_dense_replace": 3, "moe_layer_freq": 1, "num_attention_heads": 128,
      "num_key_value_heads": 128, "n_routed_experts": 256, "n_shared_experts": 1,
      "num_experts_per_tok": 8, "n_group": 8, "topk_group": 4, "routed_scaling_factor": 2.5,
      "scoring_func": "sigmoid", "topk_method": "noaux_tc", "norm_topk_prob": true,
      "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
      "v_head_dim": 128, "hidden_act": "silu", "attention_bias": false, "rms_norm_eps": 1e-06,
      "rope_theta": 10000, "max_position_embeddings": 163840,
      "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
                       "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
      "tie_word_embeddings": false, "bos_token_id": 0, "eos_token_id": 1,
      "torch_dtype": "bfloat16",
      "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                              "weight_block_size": [128, 128]}})", true},
    {"deepseek_v3", "r1-small", R"({
      "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
      "vocab_size": 129280, "hidden_size": 2048, "intermediate_size": 8192,
      "moe_intermediate_size": 1024, "num_hidden_layers": 8, "num_nextn_predict_layers": 0,
      "first_k_dense_replace": 1, "moe_layer_freq": 1, "num_attention_heads": 16,
      "num_key_value_heads": 16, "n_routed_experts": 64, "n_shared_experts": 1,
      "num_experts_per_tok": 6, "n_group": 8, "topk_group": 4, "routed_scaling_factor": 2.5,
      "scoring_func": "sigmoid", "topk_method": "noaux_tc", "norm_topk_prob": true,
      "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
      "v_head_dim": 128, "hidden_act": "silu", "attention_bias": false, "rms_norm_eps": 1e-06,
      "rope_theta": 10000, "max_position_embeddings": 163840,
      "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
                       "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
      "tie_word_embeddings": false, "bos_token_id": 0, "eos_token_id": 1,
      "torch_dtype": "bfloat16"})", false},
};

struct GenOptions {
  std::string arch, preset, dtype, out;  // dtype "": as the preset's release (fp8 for r1)
  uint64_t seed = 1;
  bool config_only = false;
};

// splitmix64: a fast, well-mixed generator; values only need to be plausible weights.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Approximately N(0, 1): the sum of four uniforms, rescaled (Irwin–Hall).
  float normal() {
    uint64_t r = next();
    float sum = float(r & 0xffff) + float((r >> 16) & 0xffff) + float((r >> 32) & 0xffff) + float(r >> 48);
    return (sum / 65536.0f - 2.0f) * 1.7320508f;
  }
};

uint64_t name_seed(const std::string& name, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

// bf16 → e4m3 for every bf16 bit pattern, so quantizing billions of values is a table lookup.
const std::array<uint8_t, 65536>& bf16_to_fp8_table() {
  static const auto table = [] {
    std::array<uint8_t, 65536> t{};
    for (uint32_t i = 0; i < 65536; ++i) t[i] = f32_to_fp8_e4m3(bf16_to_f32(uint16_t(i)));
    return t;
  }();
  return table;
}

constexpr float kStd = 0.02f;
constexpr float kFp8Scale = 4 * kStd / 448.0f;  // ±4σ spans the e4m3 range

void fill_random(const TensorSpec& spec, uint64_t seed, std::byte* out) {
  Rng rng{name_seed(spec.name, seed)};
  uint64_t n = 1;
  for (int64_t d : spec.shape) n *= uint64_t(d);
  // Norm weights are ones (as initialized); router biases zero; everything else N(0, 0.02).
  const bool ones = spec.role == WeightRole::kVector && spec.name.find("norm") != std::string::npos;
  const bool zeros = spec.role == WeightRole::kVector && !ones;
  for (uint64_t i = 0; i < n; ++i) {
    float v = ones ? 1.0f : zeros ? 0.0f : rng.normal() * kStd;
    switch (spec.dtype) {
      case DType::kF32: reinterpret_cast<float*>(out)[i] = v; break;
      case DType::kBF16: reinterpret_cast<uint16_t*>(out)[i] = f32_to_bf16(v); break;
      case DType::kF16: reinterpret_cast<uint16_t*>(out)[i] = f32_to_f16(v); break;
      case DType::kF8E4M3:
        reinterpret_cast<uint8_t*>(out)[i] = bf16_to_fp8_table()[f32_to_bf16(v / kFp8Scale)];
        break;
      default: fail("gen-random: cannot write dtype {}", dtype_name(spec.dtype));
    }
  }
}

int run_gen_random(const GenOptions& o) {
  const Preset* preset = nullptr;
  std::string names;
  for (const Preset& p : kPresets) {
    if (o.arch == p.arch) names += fmt::format("{}{}", names.empty() ? "" : ", ", p.name);
    if (o.arch == p.arch && o.preset == p.name) preset = &p;
  }
  if (names.empty()) fail("--arch '{}' is not one of qwen2, llama, deepseek_v3", o.arch);
  if (!preset) fail("--preset '{}' is not a {} preset (available: {})", o.preset, o.arch, names);

  ordered_json config = ordered_json::parse(preset->config);
  std::string dtype = o.dtype;
  if (dtype.empty()) dtype = config.contains("quantization_config") ? "fp8" : "bf16";
  DTypePlan plan;
  if (dtype == "bf16") plan.projection = plan.other = DType::kBF16;
  else if (dtype == "f16") plan.projection = plan.other = DType::kF16;
  else if (dtype == "f32") plan.projection = plan.other = DType::kF32;
  else if (dtype == "fp8") {
    if (o.arch != "deepseek_v3") fail("--dtype fp8 is the deepseek_v3 release format only");
    plan.projection = DType::kF8E4M3;
    plan.other = DType::kBF16;
  } else {
    fail("--dtype '{}' must be one of bf16, f16, f32, fp8", dtype);
  }
  config["torch_dtype"] = plan.other == DType::kF32 ? "float32" : plan.other == DType::kF16 ? "float16" : "bfloat16";
  if (plan.projection == DType::kF8E4M3)
    config["quantization_config"] = {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"},
                                     {"quant_method", "fp8"}, {"weight_block_size", {128, 128}}};
  else
    config.erase("quantization_config");

  namespace fs = std::filesystem;
  fs::create_directories(o.out);
  {
    std::ofstream f(fs::path(o.out) / "config.json");
    f << config.dump(2) << "\n";
    if (!f) fail(ErrorKind::kIo, "{}: cannot write config.json", o.out);
  }
  {
    std::ofstream f(fs::path(o.out) / "generation_config.json");
    f << ordered_json{{"bos_token_id", config["bos_token_id"]}, {"eos_token_id", config["eos_token_id"]},
                      {"do_sample", true}, {"temperature", 0.6}, {"top_p", 0.95}}.dump(2) << "\n";
  }
  // Plan the tensors with the architecture's own binding code.
  auto ckpt = open_checkpoint(o.out, LoadMode::kMmap, /*allow_config_only=*/true);
  if (!ckpt->config_only) fail("{}: already holds weights; choose an empty --out", o.out);
  auto model = load_model(ckpt);
  if (preset->config_only || o.config_only) {
    fmt::print("wrote {}/config.json ({} parameters; weights not written)\n", o.out, model->info().params_total);
    return 0;
  }
  std::vector<TensorToWrite> tensors;
  for (const TensorSpec& spec : model->tensor_specs()) {
    // The planner ran with its own dtype plan from the config; apply ours per role.
    TensorSpec s = spec;
    if (s.role == WeightRole::kVector) s.dtype = DType::kF32;
    else if (s.role == WeightRole::kProjection || s.role == WeightRole::kExpert) s.dtype = plan.projection;
    else s.dtype = plan.other;
    tensors.push_back({s.name, s.dtype, s.shape, [s, seed = o.seed](std::byte* out, uint64_t) { fill_random(s, seed, out); }});
    if (s.dtype == DType::kF8E4M3) {
      Shape scale_shape{(s.shape[0] + 127) / 128, (s.shape[1] + 127) / 128};
      tensors.push_back({s.name + "_scale_inv", DType::kF32, scale_shape, [](std::byte* out, uint64_t b) {
                           for (uint64_t i = 0; i < b / 4; ++i) reinterpret_cast<float*>(out)[i] = kFp8Scale;
                         }});
    }
  }
  const std::string path = (fs::path(o.out) / "model.safetensors").string();
  write_safetensors(path, tensors, {{"format", "pt"}});
  auto written = load_model(o.out, {.pack_weights = false});  // read back to check, never run
  fmt::print("wrote {} ({} parameters, {:.2f} GB)\n", path, written->info().params_total,
             double(written->info().weight_bytes) / 1e9);
  return 0;
}

R1_COMMAND("gen-random", "Write a random-weight model at a real shape (for benchmarks)", [](CLI::App& app) {
  auto o = std::make_shared<GenOptions>();
  app.add_option("--arch", o->arch, "qwen2, llama or deepseek_v3")->required();
  app.add_option("--preset", o->preset,
                 "qwen2: r1-distill-qwen-1.5b, r1-distill-qwen-7b; llama: r1-distill-llama-8b; "
                 "deepseek_v3: r1 (config only), r1-small")
      ->required();
  app.add_option("--dtype", o->dtype, "bf16, f16, f32, or fp8 (deepseek_v3; the default for the r1 preset, as released)");
  app.add_option("--out", o->out, "Output directory")->required();
  app.add_option("--seed", o->seed, "Random seed");
  app.add_flag("--config-only", o->config_only, "Write config.json only");
  return [o] { return run_gen_random(*o); };
});

}  // namespace
}  // namespace r1::cli
