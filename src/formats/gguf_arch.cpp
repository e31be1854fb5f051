// GGUF ⇄ Hugging Face names and hyper-parameters for qwen2, llama and deepseek2 (DeepSeek V2/V3/R1).
// Key and tensor names follow llama.cpp's gguf-py constants and convert_hf_to_gguf.py.
#include "formats/gguf_arch.h"

#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "formats/json_config.h"

namespace r1 {

namespace {

using nlohmann::json;

struct ArchPair {
  const char* gguf;
  const char* hf;
};
constexpr ArchPair kArchs[] = {{"qwen2", "qwen2"}, {"llama", "llama"}, {"deepseek2", "deepseek_v3"}};

// Per-block tensors: blk.N.<gguf> ⇄ model.layers.N.<hf>.
constexpr ArchPair kBlockNames[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_q_a.weight", "self_attn.q_a_proj.weight"},
    {"attn_q_a_norm.weight", "self_attn.q_a_layernorm.weight"},
    {"attn_q_b.weight", "self_attn.q_b_proj.weight"},
    {"attn_kv_a_mqa.weight", "self_attn.kv_a_proj_with_mqa.weight"},
    {"attn_kv_a_norm.weight", "self_attn.kv_a_layernorm.weight"},
    {"attn_kv_b.weight", "self_attn.kv_b_proj.weight"},
    {"attn_k_b.weight", "self_attn.k_b_proj.weight"},
    {"attn_v_b.weight", "self_attn.v_b_proj.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
    {"ffn_gate_inp.weight", "mlp.gate.weight"},
    {"exp_probs_b.bias", "mlp.gate.e_score_correction_bias"},
    {"ffn_gate_shexp.weight", "mlp.shared_experts.gate_proj.weight"},
    {"ffn_up_shexp.weight", "mlp.shared_experts.up_proj.weight"},
    {"ffn_down_shexp.weight", "mlp.shared_experts.down_proj.weight"},
};
constexpr ArchPair kGlobalNames[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
    {"rope_freqs.weight", "rope_freqs.weight"},
};

// Splits "<prefix><digits>.<rest>" into (N, rest).
bool split_layer(const std::string& name, const std::string& prefix, int64_t* layer, std::string* rest) {
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t i = prefix.size(), j = i;
  while (j < name.size() && j - i < 9 && name[j] >= '0' && name[j] <= '9') ++j;
  if (j == i || j >= name.size() || name[j] != '.') return false;
  if (j - i > 1 && name[i] == '0') return false;  // no leading zeros: names must round-trip
  *layer = std::stoll(name.substr(i, j - i));
  *rest = name.substr(j + 1);
  return true;
}

}  // namespace

std::optional<std::string> hf_model_type_for_gguf_arch(const std::string& arch) {
  for (const ArchPair& a : kArchs)
    if (arch == a.gguf) return std::string(a.hf);
  return std::nullopt;
}

std::optional<std::string> gguf_arch_for_hf_model_type(const std::string& model_type) {
  for (const ArchPair& a : kArchs)
    if (model_type == a.hf) return std::string(a.gguf);
  return std::nullopt;
}

std::string supported_gguf_archs() { return "qwen2, llama, deepseek2"; }

std::optional<std::string> hf_name_from_gguf(const std::string& name) {
  for (const ArchPair& g : kGlobalNames)
    if (name == g.gguf) return std::string(g.hf);
  int64_t layer;
  std::string rest;
  if (!split_layer(name, "blk.", &layer, &rest)) return std::nullopt;
  for (const ArchPair& b : kBlockNames)
    if (rest == b.gguf) return fmt::format("model.layers.{}.{}", layer, b.hf);
  return std::nullopt;
}

std::optional<std::string> gguf_name_from_hf(const std::string& name) {
  for (const ArchPair& g : kGlobalNames)
    if (name == g.hf) return std::string(g.gguf);
  int64_t layer;
  std::string rest;
  if (!split_layer(name, "model.layers.", &layer, &rest)) return std::nullopt;
  for (const ArchPair& b : kBlockNames)
    if (rest == b.hf) return fmt::format("blk.{}.{}", layer, b.gguf);
  return std::nullopt;
}

std::optional<ExpertName> parse_gguf_experts(const std::string& name) {
  int64_t layer;
  std::string rest;
  if (!split_layer(name, "blk.", &layer, &rest)) return std::nullopt;
  for (const char* proj : {"gate", "up", "down"})
    if (rest == fmt::format("ffn_{}_exps.weight", proj)) return ExpertName{layer, -1, proj};
  return std::nullopt;
}

std::optional<ExpertName> parse_hf_expert(const std::string& name) {
  int64_t layer, expert;
  std::string rest, tail;
  if (!split_layer(name, "model.layers.", &layer, &rest)) return std::nullopt;
  if (!split_layer(rest, "mlp.experts.", &expert, &tail)) return std::nullopt;
  for (const char* proj : {"gate", "up", "down"})
    if (tail == fmt::format("{}_proj.weight", proj)) return ExpertName{layer, expert, proj};
  return std::nullopt;
}

std::string gguf_experts_name(int64_t layer, const std::string& proj) {
  return fmt::format("blk.{}.ffn_{}_exps.weight", layer, proj);
}

std::string hf_expert_name(int64_t layer, int64_t expert, const std::string& proj) {
  return fmt::format("model.layers.{}.mlp.experts.{}.{}_proj.weight", layer, expert, proj);
}

// ---- GGUF → config.json ----

namespace {

int64_t positive(const GgufFile& g, const std::string& key, int64_t value) {
  if (value < 1 || value > (int64_t(1) << 31)) fail("{}: metadata '{}' = {} is out of range", g.path, key, value);
  return value;
}

void add_special_ids(const GgufFile& g, json& c) {
  if (auto bos = g.get_int_opt("tokenizer.ggml.bos_token_id")) c["bos_token_id"] = *bos;
  std::optional<int64_t> eos = g.get_int_opt("tokenizer.ggml.eos_token_id");
  std::optional<int64_t> eot = g.get_int_opt("tokenizer.ggml.eot_token_id");
  if (eos && eot && *eot != *eos) c["eos_token_id"] = json::array({*eos, *eot});
  else if (eos) c["eos_token_id"] = *eos;
  else if (eot) c["eos_token_id"] = *eot;
}

int64_t vocab_size_of(const GgufFile& g, const std::string& arch) {
  if (auto v = g.get_int_opt(arch + ".vocab_size")) return positive(g, arch + ".vocab_size", *v);
  if (const GgufTensorInfo* t = g.find_tensor("token_embd.weight"); t && t->dims.size() == 2)
    return int64_t(t->dims[1]);
  if (const GgufArray* tokens = g.get_array_opt("tokenizer.ggml.tokens", GgufType::kString))
    return int64_t(tokens->size());
  fail("{}: cannot tell the vocabulary size (no {}.vocab_size, token_embd.weight or token list)", g.path, arch);
}

}  // namespace

json hf_config_from_gguf(const GgufFile& g) {
  const std::string arch = g.get_string("general.architecture");
  std::optional<std::string> model_type = hf_model_type_for_gguf_arch(arch);
  if (!model_type)
    fail(ErrorKind::kUnsupported, "{}: GGUF architecture '{}' is not supported (supported: {})", g.path, arch,
         supported_gguf_archs());
  const std::string p = arch + ".";
  auto need = [&](const std::string& key) { return positive(g, p + key, g.get_int(p + key)); };
  auto maybe = [&](const std::string& key) -> std::optional<int64_t> {
    if (auto v = g.get_int_opt(p + key)) return *v;
    return std::nullopt;
  };
  json c;
  c["model_type"] = *model_type;
  c["vocab_size"] = vocab_size_of(g, arch);
  const int64_t hidden = need("embedding_length");
  const int64_t heads = need("attention.head_count");
  c["hidden_size"] = hidden;
  c["num_attention_heads"] = heads;
  c["max_position_embeddings"] = need("context_length");
  c["rms_norm_eps"] = g.get_float(p + "attention.layer_norm_rms_epsilon");
  c["rope_theta"] = g.get_float_opt(p + "rope.freq_base").value_or(10000.0);
  c["hidden_act"] = "silu";
  c["tie_word_embeddings"] = g.find_tensor("output.weight") == nullptr;
  const std::string scaling = g.get_string_opt(p + "rope.scaling.type").value_or("none");

  if (arch == "qwen2" || arch == "llama") {
    c["architectures"] = json::array({arch == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"});
    c["num_hidden_layers"] = need("block_count");
    c["intermediate_size"] = need("feed_forward_length");
    c["num_key_value_heads"] = maybe("attention.head_count_kv") ? need("attention.head_count_kv") : heads;
    int64_t head_dim = hidden / heads;
    if (auto k = maybe("attention.key_length")) {
      head_dim = positive(g, p + "attention.key_length", *k);
      if (auto v = maybe("attention.value_length"); v && *v != head_dim)
        fail(ErrorKind::kUnsupported, "{}: {}attention.value_length ({}) differs from key_length ({})", g.path, p, *v,
             head_dim);
    }
    if (auto r = maybe("rope.dimension_count"); r && *r != head_dim)
      fail(ErrorKind::kUnsupported, "{}: {}rope.dimension_count ({}) differs from the head size ({}); partial rotary "
           "embeddings are not supported", g.path, p, *r, head_dim);
    if (head_dim * heads != hidden) c["head_dim"] = head_dim;
    if (arch == "llama") c["attention_bias"] = g.find_tensor("blk.0.attn_q.bias") != nullptr;
    double linear = g.get_float_opt(p + "rope.scale_linear").value_or(1.0);  // older files
    if (scaling == "linear") linear = g.get_float(p + "rope.scaling.factor");
    else if (scaling != "none")
      fail(ErrorKind::kUnsupported, "{}: {}rope.scaling.type '{}' is not supported for {}", g.path, p, scaling, arch);
    if (linear != 1.0) c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", linear}};
  } else {  // deepseek2
    c["architectures"] = json::array({"DeepseekV3ForCausalLM"});
    const int64_t blocks = need("block_count");
    const int64_t nextn = maybe("nextn_predict_layers").value_or(0);
    if (nextn < 0 || nextn >= blocks) fail("{}: {}nextn_predict_layers = {} is out of range", g.path, p, nextn);
    c["num_hidden_layers"] = blocks - nextn;
    c["num_nextn_predict_layers"] = nextn;
    c["num_key_value_heads"] = heads;
    const int64_t experts = maybe("expert_count").value_or(0);
    const int64_t ff = maybe("feed_forward_length") ? need("feed_forward_length") : need("expert_feed_forward_length");
    c["intermediate_size"] = ff;
    c["first_k_dense_replace"] = maybe("leading_dense_block_count").value_or(0);
    c["moe_layer_freq"] = 1;
    c["n_routed_experts"] = experts;
    if (experts > 0) {
      c["moe_intermediate_size"] = need("expert_feed_forward_length");
      c["n_shared_experts"] = maybe("expert_shared_count").value_or(0);
      c["num_experts_per_tok"] = need("expert_used_count");
      c["routed_scaling_factor"] = g.get_float_opt(p + "expert_weights_scale").value_or(1.0);
      c["norm_topk_prob"] = g.get_bool_opt(p + "expert_weights_norm").value_or(false);
      // expert_gating_func: 1 softmax, 2 sigmoid; absent in files older than DeepSeek-V3 support.
      const int64_t gating = maybe("expert_gating_func").value_or(1);
      if (gating != 1 && gating != 2)
        fail(ErrorKind::kUnsupported, "{}: {}expert_gating_func = {} is not supported (1 softmax, 2 sigmoid)", g.path, p,
             gating);
      c["scoring_func"] = gating == 2 ? "sigmoid" : "softmax";
      const int64_t groups = maybe("expert_group_count").value_or(1);
      const int64_t groups_used = maybe("expert_group_used_count").value_or(groups);
      c["n_group"] = groups;
      c["topk_group"] = groups_used;
      if (g.find_tensor(fmt::format("blk.{}.exp_probs_b.bias", c["first_k_dense_replace"].get<int64_t>())))
        c["topk_method"] = "noaux_tc";
      else
        c["topk_method"] = groups > 1 ? "group_limited_greedy" : "greedy";
    }
    const int64_t q_lora = maybe("attention.q_lora_rank").value_or(0);
    c["q_lora_rank"] = q_lora > 0 ? json(q_lora) : json(nullptr);
    const int64_t kv_lora = need("attention.kv_lora_rank");
    const int64_t rope = need("rope.dimension_count");
    c["kv_lora_rank"] = kv_lora;
    c["qk_rope_head_dim"] = rope;
    // Files converted for llama.cpp's absorbed MLA carry the per-head sizes in *_mla keys and
    // the latent sizes in key_length / value_length.
    const bool mla_keys = maybe("attention.key_length_mla").has_value();
    const int64_t qk_head = mla_keys ? need("attention.key_length_mla") : need("attention.key_length");
    const int64_t v_head = mla_keys ? need("attention.value_length_mla") : need("attention.value_length");
    if (qk_head <= rope)
      fail("{}: the key length {} must exceed {}rope.dimension_count ({})", g.path, qk_head, p, rope);
    c["qk_nope_head_dim"] = qk_head - rope;
    c["v_head_dim"] = v_head;
    if (scaling == "yarn") {
      const double log_mul = g.get_float_opt(p + "rope.scaling.yarn_log_multiplier").value_or(0.0);
      const double mscale_all_dim = log_mul / 0.1;  // the converter writes 0.1 * mscale_all_dim
      c["rope_scaling"] = {{"type", "yarn"},
                           {"factor", g.get_float(p + "rope.scaling.factor")},
                           {"original_max_position_embeddings", need("rope.scaling.original_context_length")},
                           {"beta_fast", g.get_float_opt(p + "rope.scaling.yarn_beta_fast").value_or(32.0)},
                           {"beta_slow", g.get_float_opt(p + "rope.scaling.yarn_beta_slow").value_or(1.0)},
                           {"mscale", mscale_all_dim},
                           {"mscale_all_dim", mscale_all_dim}};
    } else if (scaling != "none") {
      fail(ErrorKind::kUnsupported, "{}: {}rope.scaling.type '{}' is not supported for deepseek2", g.path, p, scaling);
    }
  }
  add_special_ids(g, c);
  return c;
}

// ---- config.json → GGUF ----

std::vector<std::pair<std::string, GgufValue>> gguf_hparams_from_hf(const json& config,
                                                                    const GgufHparamOptions& options,
                                                                    const std::string& source) {
  JsonConfig c(config, source);
  const std::string model_type = c.one_of("model_type", {"qwen2", "llama", "deepseek_v3"});
  const std::string arch = *gguf_arch_for_hf_model_type(model_type);
  std::vector<std::pair<std::string, GgufValue>> out;
  auto u32 = [&](const std::string& key, int64_t v) {
    if (v < 0 || v > int64_t(UINT32_MAX)) c.fail_key(key.c_str(), "is out of range for GGUF");
    out.emplace_back(arch + "." + key, GgufValue::of_u32(uint32_t(v)));
  };
  auto f32 = [&](const std::string& key, double v) { out.emplace_back(arch + "." + key, GgufValue::of_f32(float(v))); };
  const int64_t heads = c.integer_in("num_attention_heads", 1, 1 << 20);
  const int64_t hidden = c.integer_in("hidden_size", 1, 1 << 24);
  u32("block_count", c.integer_in("num_hidden_layers", 1, 4096));
  u32("context_length", c.integer_in("max_position_embeddings", 4096, 1, int64_t(1) << 31));
  u32("embedding_length", hidden);
  u32("feed_forward_length", c.integer_in("intermediate_size", 1, 1 << 24));
  u32("attention.head_count", heads);
  if (model_type == "deepseek_v3")
    u32("attention.head_count_kv", options.mla_kv_b ? c.integer_in("num_key_value_heads", heads, 1, 1 << 20) : 1);
  else
    u32("attention.head_count_kv", c.integer_in("num_key_value_heads", heads, 1, 1 << 20));
  f32("rope.freq_base", c.number("rope_theta", 10000.0));
  f32("attention.layer_norm_rms_epsilon", c.number("rms_norm_eps", 1e-6));
  std::optional<JsonConfig> rs = c.object("rope_scaling");
  const std::string rs_type =
      rs ? (rs->has("rope_type") ? rs->string("rope_type") : rs->string("type", "default")) : "default";

  if (model_type == "qwen2" || model_type == "llama") {
    if (c.has("head_dim")) {
      u32("attention.key_length", c.integer("head_dim"));
      u32("attention.value_length", c.integer("head_dim"));
    }
    if (model_type == "llama") {
      u32("vocab_size", c.integer_in("vocab_size", 1, int64_t(1) << 24));
      u32("rope.dimension_count", c.has("head_dim") ? c.integer("head_dim") : hidden / heads);
    }
    if (rs_type == "linear") {
      out.emplace_back(arch + ".rope.scaling.type", GgufValue::of_string("linear"));
      f32("rope.scaling.factor", rs->number("factor"));
    } else if (rs_type != "default" && rs_type != "llama3") {  // llama3: the caller writes rope_freqs
      rs->fail_key("rope_type", fmt::format("'{}' cannot be written to GGUF", rs_type));
    }
    return out;
  }

  // deepseek2
  if (c.integer("moe_layer_freq", 1) != 1) c.fail_key("moe_layer_freq", "must be 1 for GGUF (deepseek2 has no such key)");
  if (c.boolean("attention_bias", false)) c.fail_key("attention_bias", "is not supported");
  const int64_t experts_per_tok = c.integer("num_experts_per_tok", 0);
  if (experts_per_tok > 0) u32("expert_used_count", experts_per_tok);
  u32("leading_dense_block_count", c.integer("first_k_dense_replace", 0));
  u32("vocab_size", c.integer_in("vocab_size", 1, int64_t(1) << 24));
  if (c.has("q_lora_rank")) u32("attention.q_lora_rank", c.integer("q_lora_rank"));
  const int64_t kv_lora = c.integer("kv_lora_rank");
  const int64_t nope = c.integer("qk_nope_head_dim"), rope = c.integer("qk_rope_head_dim"), v = c.integer("v_head_dim");
  u32("attention.kv_lora_rank", kv_lora);
  if (options.mla_kv_b) {
    u32("attention.key_length", nope + rope);
    u32("attention.value_length", v);
  } else {
    u32("attention.key_length", kv_lora + rope);
    u32("attention.value_length", kv_lora);
    u32("attention.key_length_mla", nope + rope);
    u32("attention.value_length_mla", v);
  }
  const int64_t experts = c.integer("n_routed_experts", 0);
  if (experts > 0) {
    u32("expert_feed_forward_length", c.integer("moe_intermediate_size"));
    u32("expert_count", experts);
    u32("expert_shared_count", c.integer("n_shared_experts", 0));
    f32("expert_weights_scale", c.number("routed_scaling_factor", 1.0));
    out.emplace_back(arch + ".expert_weights_norm", GgufValue::of_bool(c.boolean("norm_topk_prob", false)));
    const std::string scoring = c.one_of("scoring_func", "softmax", {"softmax", "sigmoid"});
    u32("expert_gating_func", scoring == "sigmoid" ? 2 : 1);
    const std::string topk = c.string("topk_method", "greedy");
    if (topk != "greedy" && c.has("n_group")) {
      u32("expert_group_count", c.integer("n_group"));
      u32("expert_group_used_count", c.integer("topk_group", c.integer("n_group")));
    }
  }
  u32("rope.dimension_count", rope);
  if (rs_type == "yarn") {
    const double mscale = rs->number("mscale", 1.0), mscale_all_dim = rs->number("mscale_all_dim", 0.0);
    if (mscale != mscale_all_dim)
      rs->fail_key("mscale", "differs from mscale_all_dim; GGUF records only yarn_log_multiplier (mscale_all_dim)");
    out.emplace_back(arch + ".rope.scaling.type", GgufValue::of_string("yarn"));
    f32("rope.scaling.factor", rs->number("factor"));
    u32("rope.scaling.original_context_length", rs->integer("original_max_position_embeddings"));
    f32("rope.scaling.yarn_log_multiplier", 0.1 * mscale_all_dim);
    const double beta_fast = rs->number("beta_fast", 32.0), beta_slow = rs->number("beta_slow", 1.0);
    if (beta_fast != 32.0) f32("rope.scaling.yarn_beta_fast", beta_fast);
    if (beta_slow != 1.0) f32("rope.scaling.yarn_beta_slow", beta_slow);
  } else if (rs_type != "default") {
    rs->fail_key("type", fmt::format("'{}' cannot be written to GGUF for deepseek2", rs_type));
  }
  return out;
}

}  // namespace r1
