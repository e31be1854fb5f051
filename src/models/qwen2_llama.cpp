// The dense R1 distills: `qwen2` (R1-Distill-Qwen: q/k/v bias) and `llama` (R1-Distill-Llama:
// llama3 rope scaling). One family with two flags — pre-norm GQA attention with rotate-half RoPE,
// SwiGLU MLP — mirroring Hugging Face's modeling_qwen2.py / modeling_llama.py.
#include <cmath>
#include <numbers>

#include "core/error.h"
#include "formats/json_config.h"
#include "models/attention.h"
#include "models/binder.h"
#include "models/model.h"

namespace r1 {

namespace {

enum class RopeScaling { kNone, kLinear, kLlama3 };

struct Config {
  std::string model_type;
  int64_t vocab_size, hidden_size, intermediate_size, n_layers, n_heads, n_kv_heads, head_dim;
  int64_t max_position_embeddings;
  double rms_norm_eps, rope_theta;
  bool qkv_bias, tie_word_embeddings;
  RopeScaling rope_scaling = RopeScaling::kNone;
  double rope_factor = 1, low_freq_factor = 1, high_freq_factor = 4;
  int64_t original_max_position_embeddings = 8192;

  // Explicit defaults where Hugging Face's config classes have them; sizes are required.
  static Config parse(const JsonConfig& c) {
    Config cfg;
    cfg.model_type = c.one_of("model_type", {"qwen2", "llama"});
    const int64_t kMaxDim = int64_t(1) << 20;
    cfg.vocab_size = c.integer_in("vocab_size", 1, int64_t(1) << 24);
    cfg.hidden_size = c.integer_in("hidden_size", 1, kMaxDim);
    cfg.intermediate_size = c.integer_in("intermediate_size", 1, kMaxDim);
    cfg.n_layers = c.integer_in("num_hidden_layers", 1, 1024);
    cfg.n_heads = c.integer_in("num_attention_heads", 1, 4096);
    cfg.n_kv_heads = c.integer_in("num_key_value_heads", cfg.n_heads, 1, cfg.n_heads);
    if (cfg.n_heads % cfg.n_kv_heads != 0)
      c.fail_key("num_key_value_heads", fmt::format("({}) must divide num_attention_heads ({})",
                                                    cfg.n_kv_heads, cfg.n_heads));
    if (c.has("head_dim")) {
      cfg.head_dim = c.integer_in("head_dim", 2, 4096);
    } else {
      if (cfg.hidden_size % cfg.n_heads != 0)
        c.fail_key("hidden_size", fmt::format("({}) is not a multiple of num_attention_heads ({})",
                                              cfg.hidden_size, cfg.n_heads));
      cfg.head_dim = cfg.hidden_size / cfg.n_heads;
    }
    if (cfg.head_dim % 2 != 0) c.fail_key("head_dim", "must be even for RoPE");
    cfg.max_position_embeddings = c.integer_in("max_position_embeddings", 32768, 1, int64_t(1) << 24);
    cfg.rms_norm_eps = c.number("rms_norm_eps", 1e-6);
    cfg.rope_theta = c.number("rope_theta", 10000.0);
    if (cfg.rms_norm_eps <= 0) c.fail_key("rms_norm_eps", "must be positive");
    if (cfg.rope_theta <= 1) c.fail_key("rope_theta", "must be greater than 1");
    cfg.tie_word_embeddings = c.boolean("tie_word_embeddings", false);
    c.one_of("hidden_act", "silu", {"silu"});
    if (cfg.model_type == "qwen2") {
      cfg.qkv_bias = true;  // Qwen2 attention always has q/k/v biases
      if (c.boolean("use_sliding_window", false))
        c.fail_key("use_sliding_window", "is true; sliding-window attention is not supported");
    } else {
      cfg.qkv_bias = c.boolean("attention_bias", false);
      if (c.boolean("mlp_bias", false)) c.fail_key("mlp_bias", "is true; MLP biases are not supported");
    }
    if (auto rs = c.object("rope_scaling")) {
      std::string type = rs->has("rope_type") ? rs->string("rope_type") : rs->string("type", "default");
      if (type == "llama3") {
        cfg.rope_scaling = RopeScaling::kLlama3;
        cfg.rope_factor = rs->number("factor");
        cfg.low_freq_factor = rs->number("low_freq_factor");
        cfg.high_freq_factor = rs->number("high_freq_factor");
        cfg.original_max_position_embeddings = rs->integer_in("original_max_position_embeddings", 1, int64_t(1) << 24);
        if (cfg.rope_factor <= 0 || cfg.low_freq_factor <= 0 || cfg.high_freq_factor <= cfg.low_freq_factor)
          rs->fail_key("factor", "llama3 needs factor > 0 and high_freq_factor > low_freq_factor > 0");
      } else if (type == "linear") {
        cfg.rope_scaling = RopeScaling::kLinear;
        cfg.rope_factor = rs->number("factor");
        if (cfg.rope_factor <= 0) rs->fail_key("factor", "must be positive");
      } else if (type != "default") {
        rs->fail_key("rope_type", fmt::format("is '{}'; supported: llama3, linear", type));
      }
    }
    return cfg;
  }

  // RoPE inverse frequencies in f32 as HF computes them (incl. llama3 / linear scaling).
  std::vector<float> inv_freq() const {
    const int64_t half = head_dim / 2;
    std::vector<float> f(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i) {
      float exponent = float(2 * i) / float(head_dim);
      f[size_t(i)] = 1.0f / std::pow(float(rope_theta), exponent);
    }
    if (rope_scaling == RopeScaling::kLinear) {
      for (float& v : f) v /= float(rope_factor);
    } else if (rope_scaling == RopeScaling::kLlama3) {
      const float factor = float(rope_factor), lf = float(low_freq_factor), hf = float(high_freq_factor);
      const float old_ctx = float(original_max_position_embeddings);
      const float low_wavelen = old_ctx / lf, high_wavelen = old_ctx / hf;
      for (float& v : f) {
        float wavelen = 2.0f * std::numbers::pi_v<float> / v;
        if (wavelen < high_wavelen) continue;
        if (wavelen > low_wavelen) {
          v = v / factor;
        } else {
          float smooth = (old_ctx / wavelen - lf) / (hf - lf);
          v = (1.0f - smooth) * v / factor + smooth * v;
        }
      }
    }
    return f;
  }
};

struct Layer {
  std::vector<float> attn_norm, ffn_norm;
  WeightView wq, wk, wv, wo;
  std::vector<float> bq, bk, bv;  // empty without bias
  WeightView w_gate, w_up, w_down;
};

// Activations of one step, grown on demand and reused.
struct Scratch {
  FloatBuffer x, h, q, kv_new, attn, y, gate, up, last, rope_cos, rope_sin, scores;
  std::vector<int32_t> tokens;
  std::vector<RowPlace> rows;
  std::vector<int64_t> logit_rows;
};

class Qwen2Llama final : public Model {
 public:
  Qwen2Llama(std::shared_ptr<Checkpoint> ckpt, const LoadOptions& options)
      : ckpt_(std::move(ckpt)), cfg_(Config::parse(JsonConfig(ckpt_->config, ckpt_->path + "/config.json"))) {
    pack_weights_ = options.pack_weights;
    bind();
    inv_freq_ = cfg_.inv_freq();
    // GGUF llama3 files carry the rope scaling as per-frequency divisors (rope_freqs.weight).
    for (size_t i = 0; i < rope_divisors_.size(); ++i) inv_freq_[i] /= rope_divisors_[i];
  }

  KvLayout kv_layout() const override {
    // [K heads | V heads], a page holding each head's keys (values) of its slots together
    return {int(cfg_.n_layers), 2 * cfg_.n_kv_heads * cfg_.head_dim, cfg_.head_dim};
  }

  void forward(ThreadPool& pool, std::span<const SeqChunk> batch, KvCache& kv, MatView logits) override;

 private:
  void bind();
  void attention(ThreadPool& pool, const Layer& layer, int l, KvCache& kv);
  void mlp(ThreadPool& pool, const Layer& layer);

  std::shared_ptr<Checkpoint> ckpt_;
  Config cfg_;
  WeightView embed_, lm_head_;
  std::vector<float> norm_;
  std::vector<Layer> layers_;
  std::vector<float> inv_freq_;
  std::vector<float> rope_divisors_;  // empty unless the checkpoint has rope_freqs.weight
  Scratch s_;
  int64_t T_ = 0;
};

void Qwen2Llama::bind() {
  WeightBinder b = make_binder(*ckpt_);
  const int64_t D = cfg_.hidden_size, F = cfg_.intermediate_size, hd = cfg_.head_dim;
  const int64_t q_dim = cfg_.n_heads * hd, kv_dim = cfg_.n_kv_heads * hd;
  embed_ = b.matrix("model.embed_tokens.weight", cfg_.vocab_size, D, WeightRole::kEmbedding);
  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    Layer layer;
    layer.attn_norm = b.vector(p + "input_layernorm.weight", D);
    layer.wq = b.matrix(p + "self_attn.q_proj.weight", q_dim, D);
    layer.wk = b.matrix(p + "self_attn.k_proj.weight", kv_dim, D);
    layer.wv = b.matrix(p + "self_attn.v_proj.weight", kv_dim, D);
    if (cfg_.qkv_bias) {
      layer.bq = b.vector(p + "self_attn.q_proj.bias", q_dim);
      layer.bk = b.vector(p + "self_attn.k_proj.bias", kv_dim);
      layer.bv = b.vector(p + "self_attn.v_proj.bias", kv_dim);
    }
    layer.wo = b.matrix(p + "self_attn.o_proj.weight", D, q_dim);
    layer.ffn_norm = b.vector(p + "post_attention_layernorm.weight", D);
    layer.w_gate = b.matrix(p + "mlp.gate_proj.weight", F, D);
    layer.w_up = b.matrix(p + "mlp.up_proj.weight", F, D);
    layer.w_down = b.matrix(p + "mlp.down_proj.weight", D, F);
    layers_.push_back(std::move(layer));
  }
  norm_ = b.vector("model.norm.weight", D);
  if (b.has("rope_freqs.weight")) {
    if (cfg_.rope_scaling != RopeScaling::kNone)
      fail("{}: rope_freqs.weight and config rope_scaling both scale the rope frequencies", ckpt_->path);
    rope_divisors_ = b.vector("rope_freqs.weight", hd / 2);
  }
  // Tied embeddings: HF drops lm_head.weight from the file; a file that still carries it is fine.
  bool tied = cfg_.tie_word_embeddings && !b.has("lm_head.weight");
  lm_head_ = tied ? b.packed(embed_) : b.matrix("lm_head.weight", cfg_.vocab_size, D, WeightRole::kOutput);
  b.finish();

  info_.architecture = cfg_.model_type;
  info_.vocab_size = cfg_.vocab_size;
  info_.hidden_size = D;
  info_.n_layers = cfg_.n_layers;
  info_.max_position_embeddings = cfg_.max_position_embeddings;
  info_.kv_values_per_token_layer = 2 * kv_dim;
  info_.has_weights = !ckpt_->config_only;
  fill_size_info(b, 0, 0, cfg_.vocab_size, tied, info_);
  read_special_ids(*ckpt_, info_);
  specs_ = b.specs();
}

void Qwen2Llama::forward(ThreadPool& pool, std::span<const SeqChunk> batch, KvCache& kv, MatView logits) {
  const int64_t D = cfg_.hidden_size, hd = cfg_.head_dim, half = hd / 2;
  // Flatten the ragged batch into rows: token, cache, position.
  s_.tokens.clear();
  s_.rows.clear();
  s_.logit_rows.clear();
  for (const SeqChunk& seq : batch) {
    R1_CHECK(seq.kv->capacity(kv) >= seq.kv->length() + int32_t(seq.tokens.size()), "KV space not reserved");
    for (size_t i = 0; i < seq.tokens.size(); ++i) {
      if (seq.all_logits || i + 1 == seq.tokens.size()) s_.logit_rows.push_back(int64_t(s_.tokens.size()));
      s_.tokens.push_back(seq.tokens[i]);
      s_.rows.push_back({seq.kv, seq.kv->length() + int32_t(i)});
    }
  }
  const int64_t T = T_ = int64_t(s_.tokens.size());
  R1_CHECK(logits.rows == int64_t(s_.logit_rows.size()) && logits.cols == cfg_.vocab_size);
  s_.x.resize(size_t(T * D));
  s_.rope_cos.resize(size_t(T * half));
  s_.rope_sin.resize(size_t(T * half));
  for (int64_t t = 0; t < T; ++t) {
    R1_CHECK(s_.tokens[size_t(t)] >= 0 && s_.tokens[size_t(t)] < cfg_.vocab_size, "token id out of range");
    dequantize_row(embed_, s_.tokens[size_t(t)], s_.x.data() + t * D);   // x: [T, D]
    const float pos = float(s_.rows[size_t(t)].pos);
    for (int64_t i = 0; i < half; ++i) {
      const float angle = pos * inv_freq_[size_t(i)];
      s_.rope_cos[size_t(t * half + i)] = std::cos(angle);
      s_.rope_sin[size_t(t * half + i)] = std::sin(angle);
    }
  }
  MatView x{s_.x.data(), T, D, D};
  for (int l = 0; l < int(cfg_.n_layers); ++l) {
    const Layer& layer = layers_[size_t(l)];
    attention(pool, layer, l, kv);   // x += o_proj(attn(norm(x)))
    mlp(pool, layer);                // x += down(silu(gate(norm(x))) * up(norm(x)))
    if (hook_) hook_(l, x);
  }
  // Final norm and lm_head only for the rows that need logits.
  const int64_t R = int64_t(s_.logit_rows.size());
  s_.last.resize(size_t(R * D));
  for (int64_t r = 0; r < R; ++r)
    rms_norm(x.row(s_.logit_rows[size_t(r)]), norm_.data(), float(cfg_.rms_norm_eps), D, s_.last.data() + r * D);
  matmul(pool, ConstMatView(s_.last.data(), R, D, D), lm_head_, logits);   // logits: [R, vocab]
  for (const SeqChunk& seq : batch) seq.kv->advance(int32_t(seq.tokens.size()));
}

void Qwen2Llama::attention(ThreadPool& pool, const Layer& layer, int l, KvCache& kv) {
  const int64_t T = T_, D = cfg_.hidden_size, hd = cfg_.head_dim, half = hd / 2;
  const int64_t q_dim = cfg_.n_heads * hd, kv_dim = cfg_.n_kv_heads * hd;
  s_.h.resize(size_t(T * D));
  s_.q.resize(size_t(T * q_dim));
  s_.kv_new.resize(size_t(T * 2 * kv_dim));
  s_.attn.resize(size_t(T * q_dim));
  s_.y.resize(size_t(T * D));
  MatView x{s_.x.data(), T, D, D}, h{s_.h.data(), T, D, D};
  pool.parallel_for(T, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) rms_norm(x.row(t), layer.attn_norm.data(), float(cfg_.rms_norm_eps), D, h.row(t));
  });
  MatView q{s_.q.data(), T, q_dim, q_dim};                        // q: [T, H*hd]
  MatView k{s_.kv_new.data(), T, kv_dim, 2 * kv_dim};             // k: [T, Hkv*hd]
  MatView v{s_.kv_new.data() + kv_dim, T, kv_dim, 2 * kv_dim};    // v: [T, Hkv*hd]
  const MatmulJob qkv[] = {{h, layer.wq, q}, {h, layer.wk, k}, {h, layer.wv, v}};
  matmul_batch(pool, qkv);
  pool.parallel_for(T, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      if (cfg_.qkv_bias) {
        add_inplace(q.row(t), layer.bq.data(), q_dim);
        add_inplace(k.row(t), layer.bk.data(), kv_dim);
        add_inplace(v.row(t), layer.bv.data(), kv_dim);
      }
      const float* c = s_.rope_cos.data() + t * half;
      const float* s = s_.rope_sin.data() + t * half;
      // Checkpoints whose q/k rows hold interleaved rope pairs (llama GGUF) rotate (2i, 2i+1).
      auto rope = ckpt_->rope_interleaved_qk ? rope_interleaved : rope_neox;
      for (int64_t j = 0; j < cfg_.n_heads; ++j) rope(q.row(t) + j * hd, c, s, hd);
      for (int64_t j = 0; j < cfg_.n_kv_heads; ++j) rope(k.row(t) + j * hd, c, s, hd);
      const RowPlace& place = s_.rows[size_t(t)];
      place.kv->store(kv, l, place.pos, k.row(t));   // cache slot: [K | V]
    }
  });
  MatView attn{s_.attn.data(), T, q_dim, q_dim};
  const GqaShape shape{cfg_.n_heads, cfg_.n_kv_heads, hd, 1.0f / std::sqrt(float(hd))};
  gqa_attention(pool, q, s_.rows, kv, l, shape, s_.scores, attn);
  MatView y{s_.y.data(), T, D, D};
  matmul(pool, attn, layer.wo, y);
  pool.parallel_for(T, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) add_inplace(x.row(t), y.row(t), D);
  });
}

void Qwen2Llama::mlp(ThreadPool& pool, const Layer& layer) {
  const int64_t T = T_, D = cfg_.hidden_size, F = cfg_.intermediate_size;
  s_.gate.resize(size_t(T * F));
  s_.up.resize(size_t(T * F));
  MatView x{s_.x.data(), T, D, D}, h{s_.h.data(), T, D, D}, y{s_.y.data(), T, D, D};
  MatView gate{s_.gate.data(), T, F, F}, up{s_.up.data(), T, F, F};
  pool.parallel_for(T, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) rms_norm(x.row(t), layer.ffn_norm.data(), float(cfg_.rms_norm_eps), D, h.row(t));
  });
  const MatmulJob gate_up[] = {{h, layer.w_gate, gate}, {h, layer.w_up, up}};  // gate, up: [T, F]
  matmul_batch(pool, gate_up);
  pool.parallel_for(T, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) silu_mul(gate.row(t), up.row(t), F, gate.row(t));
  });
  matmul(pool, gate, layer.w_down, y);
  pool.parallel_for(T, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) add_inplace(x.row(t), y.row(t), D);
  });
}

}  // namespace

std::unique_ptr<Model> make_qwen2_llama(std::shared_ptr<Checkpoint> ckpt, const LoadOptions& options) {
  return std::make_unique<Qwen2Llama>(std::move(ckpt), options);
}

}  // namespace r1
