// How the architectures r1 runs are spelled in GGUF: llama.cpp's architecture names (qwen2,
// llama, deepseek2 = HF deepseek_v3), its tensor names (blk.N.attn_q.weight ...) and its
// `<arch>.*` hyper-parameter keys, mapped to and from Hugging Face names and config.json keys.
// Used by the GGUF loader (GGUF → HF view) and by `r1 quantize` (HF → GGUF).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "formats/gguf.h"

namespace r1 {

// "qwen2" → "qwen2", "llama" → "llama", "deepseek2" → "deepseek_v3"; nullopt otherwise.
std::optional<std::string> hf_model_type_for_gguf_arch(const std::string& arch);
std::optional<std::string> gguf_arch_for_hf_model_type(const std::string& model_type);
std::string supported_gguf_archs();  // for messages

// Names of the non-expert tensors. Two r1-only HF names stand for llama.cpp's split MLA
// tensors: `self_attn.k_b_proj.weight` ([H * kv_lora_rank, qk_nope], from attn_k_b) and
// `self_attn.v_b_proj.weight` ([H * v_head_dim, kv_lora_rank], from attn_v_b); the llama3
// rope divisors keep their GGUF name `rope_freqs.weight`. nullopt: no counterpart.
std::optional<std::string> hf_name_from_gguf(const std::string& gguf_name);
std::optional<std::string> gguf_name_from_hf(const std::string& hf_name);

// Stacked routed experts: GGUF `blk.L.ffn_{gate,up,down}_exps.weight` ([E, out, in]) hold HF
// `model.layers.L.mlp.experts.E.{gate,up,down}_proj.weight`.
struct ExpertName {
  int64_t layer;
  int64_t expert;   // -1 for the stacked GGUF tensor
  std::string proj; // "gate", "up" or "down"
};
std::optional<ExpertName> parse_gguf_experts(const std::string& gguf_name);
std::optional<ExpertName> parse_hf_expert(const std::string& hf_name);
std::string gguf_experts_name(int64_t layer, const std::string& proj);
std::string hf_expert_name(int64_t layer, int64_t expert, const std::string& proj);

// An HF-style config.json for a GGUF file, with the keys the models read (model_type,
// sizes, rope, MoE routing, bos/eos ids). Tensor facts the metadata lacks (tied output, the
// router bias, vocabulary size) come from the tensor list. Throws r1::Error naming the file
// and key for missing or inconsistent hyper-parameters.
nlohmann::json hf_config_from_gguf(const GgufFile& g);

struct GgufHparamOptions {
  bool mla_kv_b = false;  // deepseek2: keep the single attn_kv_b tensor (older llama.cpp layout)
};
// The `<arch>.*` metadata llama.cpp's converter writes for an HF config.json (general.* keys
// and tokenizer keys are the caller's). `source` names the config in errors.
std::vector<std::pair<std::string, GgufValue>> gguf_hparams_from_hf(const nlohmann::json& config,
                                                                    const GgufHparamOptions& options,
                                                                    const std::string& source);

}  // namespace r1
