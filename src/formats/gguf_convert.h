// Writing a checkpoint (a Hugging Face directory, incl. the FP8 release, or a GGUF file opened as
// a checkpoint) as a standard GGUF file, as llama.cpp's convert_hf_to_gguf.py + llama-quantize
// would: llama.cpp's keys and tensor names, llama's q/k rows permuted, experts stacked, MLA's
// kv_b_proj split into attn_k_b / attn_v_b, 1-D tensors in F32, and the chosen tensor type or
// quantization mix. `r1 quantize` is the command-line face of this.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/thread_pool.h"
#include "formats/checkpoint.h"

namespace r1 {

// The output type names `r1 quantize --type` accepts.
enum class GgufFileType { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_K_M, kQ5_K_M, kQ6_K };
std::optional<GgufFileType> gguf_file_type_from_name(const std::string& name);
std::string gguf_file_type_names();  // "F32, F16, ..." for messages
const char* gguf_file_type_name(GgufFileType t);

struct GgufConvertOptions {
  GgufFileType type = GgufFileType::kF16;
  bool pure = false;      // every 2-D weight in the base type (no _M mix, no Q6_K output)
  bool mla_kv_b = false;  // deepseek2: write the single attn_kv_b (older llama.cpp layout)
  std::string name;       // general.name
  // Tokenizer files to embed (tokenizer.json, tokenizer_config.json); none: no tokenizer keys.
  std::optional<nlohmann::json> tokenizer_json, tokenizer_config;
};

// A tensor the model binds, by HF name and HF shape ([out, in] for matrices).
struct ConvertTensor {
  std::string name;
  Shape shape;
};

struct GgufConvertStats {
  std::map<std::string, int64_t> tensors_per_type;  // GGUF tensors written per type name
  uint64_t data_bytes = 0;
  int64_t tensors = 0;
};

// Writes `out_path`. `tensors` lists what the architecture binds (the model's tensor table);
// every one must be in `ckpt`. Throws r1::Error on unsupported configs or tensor types.
GgufConvertStats convert_to_gguf(const Checkpoint& ckpt, const std::vector<ConvertTensor>& tensors,
                                 const std::string& out_path, const GgufConvertOptions& options, ThreadPool& pool);

// Rows [row0, row0 + n) of a 2-D tensor (or the first n elements of a 1-D one) as f32: F32,
// F16, BF16, the GGUF block types, or F8_E4M3 with `scale_inv` ([ceil(rows/128),
// ceil(cols/128)] f32 block scales, multiplied).
void tensor_rows_f32(const TensorView& view, const TensorView* scale_inv, int64_t row0, int64_t n, float* out);

}  // namespace r1
