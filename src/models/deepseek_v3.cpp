// DeepSeek-V3 / R1 / R1-0528 (`deepseek_v3`): Multi-head Latent Attention with a compressed KV
// cache, DeepSeekMoE (routed experts with group-limited selection plus shared experts), YaRN
// rope, FP8 block-scaled weights. Mirrors the official inference/model.py (MLA, Gate, MoE, Block,
// Transformer), using its names: wq_a, q_norm, wq_b, wkv_a, kv_norm, wkv_b, wo, q_nope, q_pe, k_pe.
//
// Attention always runs in the absorbed form: the cache holds, per token and layer, only
// kv_norm(c) (kv_lora_rank values) and the roped k_pe (qk_rope_head_dim values); wkv_b's key half
// is folded into the query and its value half into the output, so per-head K/V of cached tokens
// never exist.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"
#include "formats/json_config.h"
#include "models/binder.h"
#include "models/model.h"

namespace r1 {

namespace {

struct Config {
  int64_t vocab_size, dim, inter_dim, moe_inter_dim, n_layers, n_dense_layers, moe_layer_freq;
  int64_t n_heads, n_routed_experts, n_shared_experts, n_activated_experts, n_expert_groups,
      n_limited_groups;
  int64_t q_lora_rank;  // 0: q_proj without low-rank compression
  int64_t kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
  int64_t max_position_embeddings, n_mtp_layers;
  std::string score_func, topk_method;
  bool norm_topk_prob, tie_word_embeddings;
  double route_scale, rms_norm_eps, rope_theta;
  // YaRN (rope_scaling type "yarn"); rope_factor 1 = none.
  bool yarn = false;
  double rope_factor = 1, beta_fast = 32, beta_slow = 1, mscale = 1, mscale_all_dim = 0;
  int64_t original_max_position_embeddings = 0;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  bool is_moe_layer(int64_t l) const {
    return n_routed_experts > 0 && l >= n_dense_layers && l % moe_layer_freq == 0;
  }

  static Config parse(const JsonConfig& c) {
    Config cfg;
    const int64_t kMaxDim = int64_t(1) << 20;
    c.one_of("model_type", {"deepseek_v3"});
    cfg.vocab_size = c.integer_in("vocab_size", 1, int64_t(1) << 24);
    cfg.dim = c.integer_in("hidden_size", 1, kMaxDim);
    cfg.inter_dim = c.integer_in("intermediate_size", 1, kMaxDim);
    cfg.n_layers = c.integer_in("num_hidden_layers", 1, 1024);
    cfg.n_mtp_layers = c.integer_in("num_nextn_predict_layers", 0, 0, 64);
    cfg.n_heads = c.integer_in("num_attention_heads", 1, 4096);
    cfg.n_routed_experts = c.integer_in("n_routed_experts", 0, 0, 65536);
    cfg.n_dense_layers = c.integer_in("first_k_dense_replace", 0, 0, cfg.n_layers);
    cfg.moe_layer_freq = c.integer_in("moe_layer_freq", 1, 1, cfg.n_layers);
    if (cfg.n_routed_experts > 0) {
      cfg.moe_inter_dim = c.integer_in("moe_intermediate_size", 1, kMaxDim);
      cfg.n_shared_experts = c.integer_in("n_shared_experts", 0, 0, 1024);
      cfg.n_activated_experts = c.integer_in("num_experts_per_tok", 1, cfg.n_routed_experts);
      cfg.score_func = c.one_of("scoring_func", "softmax", {"softmax", "sigmoid"});
      cfg.topk_method = c.one_of("topk_method", "greedy", {"greedy", "group_limited_greedy", "noaux_tc"});
      cfg.n_expert_groups = c.integer_in("n_group", 1, 1, cfg.n_routed_experts);
      cfg.n_limited_groups = c.integer_in("topk_group", 1, 1, cfg.n_expert_groups);
      if (cfg.topk_method == "greedy") cfg.n_expert_groups = cfg.n_limited_groups = 1;  // greedy ignores groups
      if (cfg.n_routed_experts % cfg.n_expert_groups != 0)
        c.fail_key("n_group", fmt::format("({}) must divide n_routed_experts ({})", cfg.n_expert_groups,
                                          cfg.n_routed_experts));
      const int64_t per_group = cfg.n_routed_experts / cfg.n_expert_groups;
      if (cfg.topk_method == "noaux_tc" && cfg.n_expert_groups > 1 && per_group < 2)
        c.fail_key("n_group", "noaux_tc scores a group by its two best experts; groups need >= 2 experts");
      if (cfg.n_activated_experts > cfg.n_limited_groups * per_group)
        c.fail_key("num_experts_per_tok", "exceeds the experts in the topk_group kept groups");
      cfg.norm_topk_prob = c.boolean("norm_topk_prob", false);
      cfg.route_scale = c.number("routed_scaling_factor", 1.0);
    } else {
      cfg.moe_inter_dim = cfg.n_shared_experts = cfg.n_activated_experts = 0;
      cfg.n_expert_groups = cfg.n_limited_groups = 1;
      cfg.norm_topk_prob = false;
      cfg.route_scale = 1;
    }
    cfg.q_lora_rank = c.has("q_lora_rank") ? c.integer_in("q_lora_rank", 1, kMaxDim) : 0;
    cfg.kv_lora_rank = c.integer_in("kv_lora_rank", 1, kMaxDim);
    cfg.qk_nope_head_dim = c.integer_in("qk_nope_head_dim", 0, 0, 65536);
    cfg.qk_rope_head_dim = c.integer_in("qk_rope_head_dim", 2, 65536);
    if (cfg.qk_rope_head_dim % 2) c.fail_key("qk_rope_head_dim", "must be even for RoPE");
    cfg.v_head_dim = c.integer_in("v_head_dim", 1, 65536);
    cfg.max_position_embeddings = c.integer_in("max_position_embeddings", 4096, 1, int64_t(1) << 24);
    cfg.rms_norm_eps = c.number("rms_norm_eps", 1e-6);
    if (cfg.rms_norm_eps <= 0) c.fail_key("rms_norm_eps", "must be positive");
    cfg.rope_theta = c.number("rope_theta", 10000.0);
    if (cfg.rope_theta <= 1) c.fail_key("rope_theta", "must be greater than 1");
    cfg.tie_word_embeddings = c.boolean("tie_word_embeddings", false);
    c.one_of("hidden_act", "silu", {"silu"});
    if (c.boolean("attention_bias", false)) c.fail_key("attention_bias", "is true; not supported");
    if (auto rs = c.object("rope_scaling")) {
      std::string type = rs->has("type") ? rs->string("type") : rs->string("rope_type", "default");
      if (type == "yarn") {
        cfg.yarn = true;
        cfg.rope_factor = rs->number("factor");
        if (cfg.rope_factor < 1) rs->fail_key("factor", "must be >= 1");
        cfg.original_max_position_embeddings = rs->integer_in("original_max_position_embeddings", 1, int64_t(1) << 24);
        cfg.beta_fast = rs->number("beta_fast", 32);
        cfg.beta_slow = rs->number("beta_slow", 1);
        cfg.mscale = rs->number("mscale", 1);
        cfg.mscale_all_dim = rs->number("mscale_all_dim", 0);
      } else if (type != "default") {
        rs->fail_key("type", fmt::format("is '{}'; deepseek_v3 supports only yarn", type));
      }
    }
    if (auto q = c.object("quantization_config")) {
      q->one_of("quant_method", {"fp8"});
      q->one_of("fmt", "e4m3", {"e4m3"});
      const auto& bs = q->json().find("weight_block_size");
      if (bs != q->json().end() && *bs != nlohmann::json::array({128, 128}))
        q->fail_key("weight_block_size", "must be [128, 128]");
    }
    return cfg;
  }

  // yarn_get_mscale of the HF / official code.
  static double yarn_mscale(double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; }

  // precompute_freqs_cis: inverse frequencies of the interleaved pairs, with YaRN's ramp between
  // interpolated and extrapolated frequencies.
  std::vector<float> inv_freq() const {
    const int64_t d = qk_rope_head_dim, half = d / 2;
    std::vector<float> f(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i)
      f[size_t(i)] = 1.0f / std::pow(float(rope_theta), float(2 * i) / float(d));
    if (!yarn) return f;
    auto correction_dim = [&](double rotations) {
      return double(d) * std::log(double(original_max_position_embeddings) / (rotations * 2 * std::numbers::pi)) /
             (2 * std::log(rope_theta));
    };
    double low = std::max(std::floor(correction_dim(beta_fast)), 0.0);
    double high = std::min(std::ceil(correction_dim(beta_slow)), double(d - 1));
    if (low == high) high += 0.001;
    for (int64_t i = 0; i < half; ++i) {
      float ramp = std::clamp((float(i) - float(low)) / (float(high) - float(low)), 0.0f, 1.0f);
      float extra = f[size_t(i)];
      f[size_t(i)] = extra / float(rope_factor) * ramp + extra * (1.0f - ramp);
    }
    return f;
  }
  // Factor on cos/sin (1 when mscale == mscale_all_dim, as in every released config).
  float rope_mscale() const {
    return yarn ? float(yarn_mscale(rope_factor, mscale) / yarn_mscale(rope_factor, mscale_all_dim)) : 1.0f;
  }
  float softmax_scale() const {
    double s = 1.0 / std::sqrt(double(qk_head_dim()));
    if (yarn && mscale_all_dim != 0) {
      double m = yarn_mscale(rope_factor, mscale_all_dim);
      s *= m * m;
    }
    return float(s);
  }
};

struct Mlp {  // w2(silu(w1(x)) * w3(x))
  WeightView w1, w2, w3;  // gate_proj, down_proj, up_proj
};

struct Mla {
  WeightView wq;                 // q_proj (q_lora_rank null)
  WeightView wq_a, wq_b;         // q_a_proj, q_b_proj
  std::vector<float> q_norm;     // q_a_layernorm
  WeightView wkv_a, wkv_b, wo;   // kv_a_proj_with_mqa, kv_b_proj, o_proj
  std::vector<float> kv_norm;    // kv_a_layernorm
  // kv_b_proj as llama.cpp's converter splits it (GGUF attn_k_b / attn_v_b), used instead of
  // wkv_b when present: wk_b [H * R, nope] is each head's key half transposed, wv_b
  // [H * v_head_dim, R] the value halves.
  WeightView wk_b, wv_b;
};

struct Gate {
  WeightView weight;        // [n_routed_experts, dim]
  std::vector<float> bias;  // e_score_correction_bias (noaux_tc), empty otherwise
};

struct Layer {
  std::vector<float> attn_norm, ffn_norm;
  Mla attn;
  bool moe = false;
  Mlp mlp;                   // dense layers
  Gate gate;                 // MoE layers
  std::vector<Mlp> experts;
  Mlp shared;                // n_shared_experts folded into one MLP
};

struct Scratch {
  FloatBuffer x, h, y, q, qa, kv, q_abs, latent, o, ffn_a, ffn_b, ffn_out, ffn_in, router, last;
  FloatBuffer shared_a, shared_b, shared_out;  // the shared experts' gate, up and down outputs
  FloatBuffer rope_cos, rope_sin, scores, rowbuf;
  std::vector<int32_t> tokens, positions;
  std::vector<KvSeq*> seqs;
  std::vector<int64_t> logit_rows;
  std::vector<int32_t> topk_idx;        // [T, K]
  std::vector<float> topk_weight;       // [T, K]
  std::vector<std::vector<std::pair<int32_t, float>>> by_expert;  // expert → (row, weight)
  std::vector<MatmulJob> jobs;
};

class DeepseekV3 final : public Model {
 public:
  DeepseekV3(std::shared_ptr<Checkpoint> ckpt, const LoadOptions& options)
      : ckpt_(std::move(ckpt)), cfg_(Config::parse(JsonConfig(ckpt_->config, ckpt_->path + "/config.json"))) {
    pack_weights_ = options.pack_weights;
    bind();
    inv_freq_ = cfg_.inv_freq();
  }

  KvLayout kv_layout() const override { return {int(cfg_.n_layers), cfg_.kv_lora_rank + cfg_.qk_rope_head_dim}; }

  void forward(ThreadPool& pool, std::span<const SeqChunk> batch, KvCache& kv, MatView logits) override;

 private:
  void bind();
  Mlp bind_mlp(WeightBinder& b, const std::string& prefix, int64_t inter, WeightRole role);
  void mla(ThreadPool& pool, const Mla& attn, int layer, KvCache& kv, ConstMatView h, MatView y);
  void mlp(ThreadPool& pool, const Mlp& m, ConstMatView h, MatView y);
  void moe(ThreadPool& pool, const Layer& layer, ConstMatView h, MatView y);
  void route(const Gate& gate, const float* scores, int32_t* idx, float* weight) const;

  std::shared_ptr<Checkpoint> ckpt_;
  Config cfg_;
  WeightView embed_, head_;
  std::vector<float> norm_;
  std::vector<Layer> layers_;
  std::vector<float> inv_freq_;
  Scratch s_;
};

Mlp DeepseekV3::bind_mlp(WeightBinder& b, const std::string& p, int64_t inter, WeightRole role) {
  Mlp m;
  m.w1 = b.matrix(p + "gate_proj.weight", inter, cfg_.dim, role);
  m.w3 = b.matrix(p + "up_proj.weight", inter, cfg_.dim, role);
  m.w2 = b.matrix(p + "down_proj.weight", cfg_.dim, inter, role);
  return m;
}

void DeepseekV3::bind() {
  WeightBinder b = make_binder(*ckpt_);
  const int64_t D = cfg_.dim, H = cfg_.n_heads, R = cfg_.kv_lora_rank;
  embed_ = b.matrix("model.embed_tokens.weight", cfg_.vocab_size, D, WeightRole::kEmbedding);
  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    Layer layer;
    layer.attn_norm = b.vector(p + "input_layernorm.weight", D);
    Mla& a = layer.attn;
    if (cfg_.q_lora_rank > 0) {
      a.wq_a = b.matrix(p + "self_attn.q_a_proj.weight", cfg_.q_lora_rank, D);
      a.q_norm = b.vector(p + "self_attn.q_a_layernorm.weight", cfg_.q_lora_rank);
      a.wq_b = b.matrix(p + "self_attn.q_b_proj.weight", H * cfg_.qk_head_dim(), cfg_.q_lora_rank);
    } else {
      a.wq = b.matrix(p + "self_attn.q_proj.weight", H * cfg_.qk_head_dim(), D);
    }
    a.wkv_a = b.matrix(p + "self_attn.kv_a_proj_with_mqa.weight", R + cfg_.qk_rope_head_dim, D);
    a.kv_norm = b.vector(p + "self_attn.kv_a_layernorm.weight", R);
    if (b.has(p + "self_attn.k_b_proj.weight") && !b.has(p + "self_attn.kv_b_proj.weight")) {
      a.wk_b = b.matrix(p + "self_attn.k_b_proj.weight", H * R, cfg_.qk_nope_head_dim);
      a.wv_b = b.matrix(p + "self_attn.v_b_proj.weight", H * cfg_.v_head_dim, R);
    } else {
      a.wkv_b = b.matrix(p + "self_attn.kv_b_proj.weight", H * (cfg_.qk_nope_head_dim + cfg_.v_head_dim), R);
    }
    a.wo = b.matrix(p + "self_attn.o_proj.weight", D, H * cfg_.v_head_dim);
    layer.ffn_norm = b.vector(p + "post_attention_layernorm.weight", D);
    layer.moe = cfg_.is_moe_layer(l);
    if (!layer.moe) {
      layer.mlp = bind_mlp(b, p + "mlp.", cfg_.inter_dim, WeightRole::kProjection);
    } else {
      layer.gate.weight = b.matrix(p + "mlp.gate.weight", cfg_.n_routed_experts, D, WeightRole::kRouter);
      if (cfg_.topk_method == "noaux_tc")
        layer.gate.bias = b.vector(p + "mlp.gate.e_score_correction_bias", cfg_.n_routed_experts);
      for (int64_t e = 0; e < cfg_.n_routed_experts; ++e)
        layer.experts.push_back(
            bind_mlp(b, fmt::format("{}mlp.experts.{}.", p, e), cfg_.moe_inter_dim, WeightRole::kExpert));
      if (cfg_.n_shared_experts > 0)
        layer.shared = bind_mlp(b, p + "mlp.shared_experts.", cfg_.moe_inter_dim * cfg_.n_shared_experts,
                                WeightRole::kProjection);
    }
    layers_.push_back(std::move(layer));
  }
  norm_ = b.vector("model.norm.weight", D);
  bool tied = cfg_.tie_word_embeddings && !b.has("lm_head.weight");
  head_ = tied ? b.packed(embed_) : b.matrix("lm_head.weight", cfg_.vocab_size, D, WeightRole::kOutput);
  // The multi-token-prediction module (layers >= num_hidden_layers) loads but is not run.
  const int64_t n_layers = cfg_.n_layers;
  b.ignore_if([n_layers](const std::string& name) {
    int64_t layer = -1;
    return std::sscanf(name.c_str(), "model.layers.%ld.", &layer) == 1 && layer >= n_layers;
  });
  b.finish();

  info_.architecture = "deepseek_v3";
  info_.vocab_size = cfg_.vocab_size;
  info_.hidden_size = D;
  info_.n_layers = cfg_.n_layers;
  info_.max_position_embeddings = cfg_.max_position_embeddings;
  info_.kv_values_per_token_layer = R + cfg_.qk_rope_head_dim;
  info_.has_weights = !ckpt_->config_only;
  fill_size_info(b, cfg_.n_activated_experts, cfg_.n_routed_experts, cfg_.vocab_size, tied, info_);
  read_special_ids(*ckpt_, info_);
  specs_ = b.specs();
}

void DeepseekV3::forward(ThreadPool& pool, std::span<const SeqChunk> batch, KvCache& kv, MatView logits) {
  R1_CHECK(info_.has_weights, "config-only model cannot run");
  const int64_t D = cfg_.dim, half = cfg_.qk_rope_head_dim / 2;
  s_.tokens.clear();
  s_.positions.clear();
  s_.seqs.clear();
  s_.logit_rows.clear();
  for (const SeqChunk& seq : batch) {
    R1_CHECK(seq.kv->capacity(kv) >= seq.kv->length() + int32_t(seq.tokens.size()), "KV space not reserved");
    for (size_t i = 0; i < seq.tokens.size(); ++i) {
      if (seq.all_logits || i + 1 == seq.tokens.size()) s_.logit_rows.push_back(int64_t(s_.tokens.size()));
      s_.tokens.push_back(seq.tokens[i]);
      s_.positions.push_back(seq.kv->length() + int32_t(i));
      s_.seqs.push_back(seq.kv);
    }
  }
  const int64_t T = int64_t(s_.tokens.size());
  R1_CHECK(logits.rows == int64_t(s_.logit_rows.size()) && logits.cols == cfg_.vocab_size);

  // freqs_cis for each row's position (cos/sin of the interleaved pairs).
  s_.rope_cos.resize(size_t(T * half));
  s_.rope_sin.resize(size_t(T * half));
  const float rope_mscale = cfg_.rope_mscale();
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = float(s_.positions[size_t(t)]) * inv_freq_[size_t(i)];
      s_.rope_cos[size_t(t * half + i)] = std::cos(angle) * rope_mscale;
      s_.rope_sin[size_t(t * half + i)] = std::sin(angle) * rope_mscale;
    }
  }

  s_.x.resize(size_t(T * D));
  s_.h.resize(size_t(T * D));
  s_.y.resize(size_t(T * D));
  MatView x{s_.x.data(), T, D, D}, h{s_.h.data(), T, D, D}, y{s_.y.data(), T, D, D};
  for (int64_t t = 0; t < T; ++t) {
    R1_CHECK(s_.tokens[size_t(t)] >= 0 && s_.tokens[size_t(t)] < cfg_.vocab_size, "token id out of range");
    dequantize_row(embed_, s_.tokens[size_t(t)], x.row(t));            // x: [T, dim]
  }
  const float eps = float(cfg_.rms_norm_eps);
  auto norm_rows = [&](const std::vector<float>& w) {
    pool.parallel_for(T, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) rms_norm(x.row(t), w.data(), eps, D, h.row(t));
    });
  };
  auto add_rows = [&] {
    pool.parallel_for(T, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) add_inplace(x.row(t), y.row(t), D);
    });
  };
  for (int l = 0; l < int(cfg_.n_layers); ++l) {
    const Layer& layer = layers_[size_t(l)];
    norm_rows(layer.attn_norm);
    mla(pool, layer.attn, l, kv, h, y);                                  // caches [T, R + rope]
    add_rows();                                                          // x += attn(norm(x))
    norm_rows(layer.ffn_norm);
    if (layer.moe) moe(pool, layer, h, y);                               // routed + shared experts
    else           mlp(pool, layer.mlp, h, y);
    add_rows();                                                          // x += ffn(norm(x))
    if (hook_) hook_(l, x);
  }
  const int64_t B = int64_t(s_.logit_rows.size());
  s_.last.resize(size_t(B * D));
  for (int64_t r = 0; r < B; ++r)
    rms_norm(x.row(s_.logit_rows[size_t(r)]), norm_.data(), eps, D, s_.last.data() + r * D);
  matmul(pool, ConstMatView(s_.last.data(), B, D, D), head_, logits);  // logits: [B, vocab]
  for (const SeqChunk& seq : batch) seq.kv->advance(int32_t(seq.tokens.size()));
}

// MLA.forward, absorbed. T rows; H heads; R = kv_lora_rank.
void DeepseekV3::mla(ThreadPool& pool, const Mla& a, int layer, KvCache& kv, ConstMatView h, MatView y) {
  const int64_t T = h.rows, H = cfg_.n_heads, R = cfg_.kv_lora_rank;
  const int64_t nope = cfg_.qk_nope_head_dim, rope = cfg_.qk_rope_head_dim, vdim = cfg_.v_head_dim;
  const int64_t qk = cfg_.qk_head_dim(), half = rope / 2, kv_width = R + rope;
  const float eps = float(cfg_.rms_norm_eps);

  // q = wq_b(q_norm(wq_a(x))) or wq(x)                                   q: [T, H, nope + rope]
  s_.q.resize(size_t(T * H * qk));
  MatView q{s_.q.data(), T, H * qk, H * qk};
  // kv = wkv_a(x) = [c | k_pe]; the cache keeps kv_norm(c) and rope(k_pe).   kv: [T, R + rope]
  s_.kv.resize(size_t(T * kv_width));
  MatView kvr{s_.kv.data(), T, kv_width, kv_width};
  if (cfg_.q_lora_rank > 0) {
    const int64_t QR = cfg_.q_lora_rank;
    s_.qa.resize(size_t(T * QR));
    MatView qa{s_.qa.data(), T, QR, QR};                                // qa: [T, q_lora_rank]
    const MatmulJob down[] = {{h, a.wq_a, qa}, {h, a.wkv_a, kvr}};
    matmul_batch(pool, down);
    for (int64_t t = 0; t < T; ++t) rms_norm(qa.row(t), a.q_norm.data(), eps, QR, qa.row(t));
    matmul(pool, qa, a.wq_b, q);
  } else {
    const MatmulJob proj[] = {{h, a.wq, q}, {h, a.wkv_a, kvr}};
    matmul_batch(pool, proj);
  }
  for (int64_t t = 0; t < T; ++t) {
    const float* c = s_.rope_cos.data() + t * half;
    const float* s = s_.rope_sin.data() + t * half;
    float* row = kvr.row(t);
    rms_norm(row, a.kv_norm.data(), eps, R, row);
    rope_interleaved(row + R, c, s, rope);                              // k_pe is shared by all heads
    for (int64_t hh = 0; hh < H; ++hh) rope_interleaved(q.row(t) + hh * qk + nope, c, s, rope);  // q_pe
    s_.seqs[size_t(t)]->store(kv, layer, s_.positions[size_t(t)], row);
  }

  // q_abs[t, h, :] = q_nope[t, h, :] · wkv_b[h, :nope, :]                q_abs: [T, H, R]
  // Row d of head h's key half is dequantized once and applied to every token.
  s_.q_abs.resize(size_t(T * H * R));
  if (a.wk_b.data) {
    // Split layout: head h's transposed key half is a [R, nope] matrix, q_abs = q_nope · wk_bᵀ.
    std::vector<MatmulJob>& jobs = s_.jobs;
    jobs.clear();
    for (int64_t hh = 0; hh < H; ++hh)
      jobs.push_back({ConstMatView(q.data + hh * qk, T, nope, H * qk), a.wk_b.rows_slice(hh * R, R),
                      MatView{s_.q_abs.data() + hh * R, T, R, H * R}});
    matmul_batch(pool, jobs);
  } else {
    s_.rowbuf.resize(size_t(pool.size() * R));
    std::fill(s_.q_abs.data(), s_.q_abs.data() + T * H * R, 0.0f);
    pool.run([&](int tid) {
      float* wrow = s_.rowbuf.data() + tid * R;
      const int64_t hb = H * tid / pool.size(), he = H * (tid + 1) / pool.size();
      for (int64_t hh = hb; hh < he; ++hh) {
        for (int64_t d = 0; d < nope; ++d) {
          dequantize_row(a.wkv_b, hh * (nope + vdim) + d, wrow);
          for (int64_t t = 0; t < T; ++t)
            axpy_f32(s_.q_abs.data() + (t * H + hh) * R, q.row(t)[hh * qk + d], wrow, R);
        }
      }
    });
  }

  // scores[t, h, p] = (q_abs · kv_cache[p] + q_pe · pe_cache[p]) · softmax_scale, p ≤ pos_t;
  // latent[t, h, :] = Σ_p softmax(scores)[p] · kv_cache[p]              latent: [T, H, R]
  // Every head reads the same cache slots, so a work item is a token and a run of heads that
  // share each pass over a page of the cache.
  int32_t max_len = 0;
  for (int32_t p : s_.positions) max_len = std::max(max_len, p + 1);
  const int64_t head_runs = std::min<int64_t>(H, pool.size()), run_heads = (H + head_runs - 1) / head_runs;
  const int64_t per_thread = run_heads * (2 * int64_t(max_len) + rope);
  s_.scores.resize(size_t(pool.size() * per_thread));
  s_.latent.resize(size_t(T * H * R));
  const float scale = cfg_.softmax_scale();
  pool.for_each_dynamic(T * head_runs, [&](int tid, int64_t item) {
    const int64_t t = item / head_runs, h0 = item % head_runs * run_heads, nh = std::min(H, h0 + run_heads) - h0;
    if (nh <= 0) return;
    const KvSeq* seq = s_.seqs[size_t(t)];
    const int32_t len = s_.positions[size_t(t)] + 1;
    float* sc = s_.scores.data() + tid * per_thread;  // [nh, len] scores, then [nh, len] rope parts
    float* pe = sc + nh * len;
    float* qpe = pe + nh * len;                       // [nh, rope] q_pe of the run's heads
    for (int64_t j = 0; j < nh; ++j) std::copy_n(q.row(t) + (h0 + j) * qk + nope, rope, qpe + j * rope);
    const float* qa = s_.q_abs.data() + (t * H + h0) * R;
    float* lat = s_.latent.data() + (t * H + h0) * R;
    seq->for_each_run(kv, layer, len, [&](int32_t p, int32_t n, const KvRun& slot) {
      attn_scores(qa, nh, R, slot.at(0), slot.stride(), n, 1.0f, sc + p, len);
      attn_scores(qpe, nh, rope, slot.at(R), slot.stride(), n, 1.0f, pe + p, len);
    });
    for (int64_t i = 0; i < nh * len; ++i) sc[i] = (sc[i] + pe[i]) * scale;
    for (int64_t j = 0; j < nh; ++j) softmax(sc + j * len, len);
    std::fill(lat, lat + nh * R, 0.0f);
    seq->for_each_run(kv, layer, len,
                      [&](int32_t p, int32_t n, const KvRun& slot) {
                        attn_values(lat, nh, R, sc + p, len, slot.at(0), slot.stride(), n);
                      });
  });

  // o[t, h, :] = latent[t, h, :] · wkv_b[h, nope:, :]ᵀ                    o: [T, H * v]
  s_.o.resize(size_t(T * H * vdim));
  std::vector<MatmulJob>& jobs = s_.jobs;
  jobs.clear();
  for (int64_t hh = 0; hh < H; ++hh) {
    WeightView wv = a.wv_b.data ? a.wv_b.rows_slice(hh * vdim, vdim) : a.wkv_b.rows_slice(hh * (nope + vdim) + nope, vdim);
    jobs.push_back({ConstMatView(s_.latent.data() + hh * R, T, R, H * R), wv, MatView{s_.o.data() + hh * vdim, T, vdim, H * vdim}});
  }
  matmul_batch(pool, jobs);
  matmul(pool, ConstMatView(s_.o.data(), T, H * vdim, H * vdim), a.wo, y);   // y: [T, dim]
}

// MLP.forward: w2(silu(w1(x)) * w3(x)).
void DeepseekV3::mlp(ThreadPool& pool, const Mlp& m, ConstMatView h, MatView y) {
  const int64_t T = h.rows, I = m.w1.rows;
  s_.ffn_a.resize(size_t(T * I));
  s_.ffn_b.resize(size_t(T * I));
  MatView g{s_.ffn_a.data(), T, I, I}, u{s_.ffn_b.data(), T, I, I};
  const MatmulJob gate_up[] = {{h, m.w1, g}, {h, m.w3, u}};
  matmul_batch(pool, gate_up);
  for (int64_t t = 0; t < T; ++t) silu_mul(g.row(t), u.row(t), I, g.row(t));
  matmul(pool, g, m.w2, y);
}

// Gate.forward for one token: picks n_activated_experts experts and their weights.
void DeepseekV3::route(const Gate& gate, const float* logits, int32_t* idx, float* weight) const {
  const int64_t E = cfg_.n_routed_experts, K = cfg_.n_activated_experts;
  const int64_t G = cfg_.n_expert_groups, per_group = E / G;
  float original[1024], scores[1024];
  std::vector<float> big_original, big_scores;
  float* orig = original;
  float* sel = scores;
  if (E > 1024) {
    big_original.resize(size_t(E));
    big_scores.resize(size_t(E));
    orig = big_original.data();
    sel = big_scores.data();
  }
  std::copy(logits, logits + E, orig);
  if (cfg_.score_func == "softmax") {
    softmax(orig, E);
  } else {
    for (int64_t e = 0; e < E; ++e) orig[e] = 1.0f / (1.0f + std::exp(-orig[e]));
  }
  for (int64_t e = 0; e < E; ++e) sel[e] = orig[e] + (gate.bias.empty() ? 0.0f : gate.bias[size_t(e)]);
  // Ties go to the lower index (torch.topk on CPU agrees for distinct values; goldens have margins).
  auto better = [&](int64_t a, int64_t b) { return sel[a] > sel[b] || (sel[a] == sel[b] && a < b); };
  if (G > 1) {
    // Group score: sum of the two best biased scores (noaux_tc) or the best one; keep topk_group.
    float group_score[256];
    std::vector<float> big_group;
    float* gs = group_score;
    if (G > 256) {
      big_group.resize(size_t(G));
      gs = big_group.data();
    }
    for (int64_t g = 0; g < G; ++g) {
      float first = -INFINITY, second = -INFINITY;
      for (int64_t e = g * per_group; e < (g + 1) * per_group; ++e) {
        if (sel[e] > first) {
          second = first;
          first = sel[e];
        } else if (sel[e] > second) {
          second = sel[e];
        }
      }
      gs[g] = cfg_.topk_method == "noaux_tc" ? first + second : first;
    }
    std::vector<bool> keep(size_t(G), false);
    for (int64_t k = 0; k < cfg_.n_limited_groups; ++k) {
      int64_t best = -1;
      for (int64_t g = 0; g < G; ++g)
        if (!keep[size_t(g)] && (best < 0 || gs[g] > gs[best])) best = g;
      keep[size_t(best)] = true;
    }
    for (int64_t e = 0; e < E; ++e)
      if (!keep[size_t(e / per_group)]) sel[e] = -INFINITY;
  }
  // Top-K of the (masked, biased) selection scores by partial selection sort: K is small.
  for (int64_t k = 0; k < K; ++k) {
    int64_t best = -1;
    for (int64_t e = 0; e < E; ++e) {
      bool taken = false;
      for (int64_t j = 0; j < k; ++j) taken = taken || idx[j] == e;
      if (!taken && (best < 0 || better(e, best))) best = e;
    }
    idx[k] = int32_t(best);
    weight[k] = orig[best];  // weights use the unbiased scores
  }
  if (cfg_.norm_topk_prob) {
    float sum = 0;
    for (int64_t k = 0; k < K; ++k) sum += weight[k];
    for (int64_t k = 0; k < K; ++k) weight[k] /= sum;
  }
  for (int64_t k = 0; k < K; ++k) weight[k] *= float(cfg_.route_scale);
}

// MoE.forward: each selected expert runs once over the rows routed to it; contributions are
// summed in expert order (as the reference loops), then the shared experts are added. The
// experts' products run as batches (all gate/up projections in one pass, then all down
// projections), in groups of at most kMoeBatchRows routed rows to bound the scratch. The shared
// experts' products join the batches their inputs are ready for (gate/up with the router, down
// with the first group's down projections): every batch ends in a wait for all threads, and a
// decode step's batches are small enough for those waits and each batch's start to show.
void DeepseekV3::moe(ThreadPool& pool, const Layer& layer, ConstMatView h, MatView y) {
  constexpr int64_t kMoeBatchRows = 4096;
  const int64_t T = h.rows, D = cfg_.dim, E = cfg_.n_routed_experts, K = cfg_.n_activated_experts;
  const int64_t I = cfg_.moe_inter_dim;
  const bool shared = cfg_.n_shared_experts > 0;
  const int64_t Is = shared ? layer.shared.w1.rows : 0;
  std::vector<MatmulJob>& jobs = s_.jobs;
  s_.router.resize(size_t(T * E));
  MatView router{s_.router.data(), T, E, E};                           // router: [T, E]
  s_.shared_a.resize(size_t(T * Is));
  s_.shared_b.resize(size_t(T * Is));
  s_.shared_out.resize(size_t(shared ? T * D : 0));
  MatView sg{s_.shared_a.data(), T, Is, Is}, su{s_.shared_b.data(), T, Is, Is};  // sg, su: [T, Is]
  MatView z{s_.shared_out.data(), T, D, D};                            // z: [T, dim]
  jobs.clear();
  jobs.push_back({h, layer.gate.weight, router});
  if (shared) {
    jobs.push_back({h, layer.shared.w1, sg});
    jobs.push_back({h, layer.shared.w3, su});
  }
  matmul_batch(pool, jobs);
  if (shared)
    for (int64_t t = 0; t < T; ++t) silu_mul(sg.row(t), su.row(t), Is, sg.row(t));
  s_.topk_idx.resize(size_t(T * K));
  s_.topk_weight.resize(size_t(T * K));
  for (int64_t t = 0; t < T; ++t)
    route(layer.gate, router.row(t), s_.topk_idx.data() + t * K, s_.topk_weight.data() + t * K);
  s_.by_expert.resize(size_t(E));
  for (auto& rows : s_.by_expert) rows.clear();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k)
      s_.by_expert[size_t(s_.topk_idx[size_t(t * K + k)])].push_back({int32_t(t), s_.topk_weight[size_t(t * K + k)]});

  for (int64_t t = 0; t < T; ++t) std::fill(y.row(t), y.row(t) + D, 0.0f);
  const int64_t cap = std::min(T * K, std::max(kMoeBatchRows, T));
  s_.ffn_in.resize(size_t(cap * D));
  s_.ffn_out.resize(size_t(cap * D));
  s_.ffn_a.resize(size_t(cap * I));
  s_.ffn_b.resize(size_t(cap * I));
  for (int64_t e0 = 0; e0 < E;) {
    // experts [e0, e1) with at most cap rows in all; row offsets into the scratch in order
    int64_t e1 = e0, n_rows = 0;
    for (; e1 < E && n_rows + int64_t(s_.by_expert[size_t(e1)].size()) <= cap; ++e1)
      n_rows += int64_t(s_.by_expert[size_t(e1)].size());
    jobs.clear();
    for (int64_t e = e0, r0 = 0; e < e1; ++e) {                          // xe: [n_e, dim]; g, u: [n_e, I]
      const auto& rows = s_.by_expert[size_t(e)];
      const int64_t n = int64_t(rows.size());
      if (n == 0) continue;
      ConstMatView xe(h.row(rows[0].first), 1, D, D);                    // one row: h's own (decode)
      if (n > 1) {
        MatView copy{s_.ffn_in.data() + r0 * D, n, D, D};
        for (int64_t i = 0; i < n; ++i) std::copy_n(h.row(rows[size_t(i)].first), D, copy.row(i));
        xe = copy;
      }
      const Mlp& m = layer.experts[size_t(e)];
      jobs.push_back({xe, m.w1, MatView{s_.ffn_a.data() + r0 * I, n, I, I}});
      jobs.push_back({xe, m.w3, MatView{s_.ffn_b.data() + r0 * I, n, I, I}});
      r0 += n;
    }
    matmul_batch(pool, jobs);
    for (int64_t r = 0; r < n_rows; ++r)
      silu_mul(s_.ffn_a.data() + r * I, s_.ffn_b.data() + r * I, I, s_.ffn_a.data() + r * I);
    jobs.clear();
    for (int64_t e = e0, r0 = 0; e < e1; ++e) {                          // ye: [n_e, dim]
      const int64_t n = int64_t(s_.by_expert[size_t(e)].size());
      if (n == 0) continue;
      jobs.push_back({ConstMatView(s_.ffn_a.data() + r0 * I, n, I, I), layer.experts[size_t(e)].w2,
                      MatView{s_.ffn_out.data() + r0 * D, n, D, D}});
      r0 += n;
    }
    if (shared && e0 == 0) jobs.push_back({sg, layer.shared.w2, z});  // (every step has a first group)
    matmul_batch(pool, jobs);
    for (int64_t e = e0, r0 = 0; e < e1; ++e) {
      const auto& rows = s_.by_expert[size_t(e)];
      for (size_t i = 0; i < rows.size(); ++i, ++r0) axpy_f32(y.row(rows[i].first), rows[i].second, s_.ffn_out.data() + r0 * D, D);
    }
    e0 = e1;
  }
  if (shared)
    for (int64_t t = 0; t < T; ++t) add_inplace(y.row(t), z.row(t), D);
}

}  // namespace

std::unique_ptr<Model> make_deepseek_v3(std::shared_ptr<Checkpoint> ckpt, const LoadOptions& options) {
  return std::make_unique<DeepseekV3>(std::move(ckpt), options);
}

}  // namespace r1
