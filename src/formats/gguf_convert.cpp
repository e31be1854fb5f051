// Checkpoint → GGUF. Each output tensor is described once (GGUF name, dims, type, and how to
// produce its rows in f32 from the source); the file is then streamed tensor by tensor, rows
// converted and quantized in chunks, so memory stays bounded whatever the model size. A tensor
// whose stored type already is the target type and needs no transform is copied byte for byte.
//
// Type recipe (llama.cpp's llama-quantize conventions):
//  * 1-D tensors (norms, biases, rope_freqs, the router bias) and the MoE router
//    (ffn_gate_inp) stay F32, as the converter keeps them.
//  * F32 / F16 / BF16: every other tensor in that type.
//  * Q8_0 / Q4_0 / Q4_K_M / Q5_K_M / Q6_K: base type Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K. Unless
//    --pure: output.weight (or token_embd.weight when the output is tied) becomes Q6_K (Q8_0
//    stays Q8_0); for the _M mixes attn_v and ffn_down (incl. the expert and shared-expert
//    ffn_down) become Q6_K in layers i with i < n/8, i >= 7n/8 or (i - n/8) % 3 == 2.
//  * A row length that is not a multiple of the type's block falls back to Q8_0 (k-quants,
//    256-element blocks) or F16 (not a multiple of 32).
#include "formats/gguf_convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numbers>

#include "core/error.h"
#include "core/log.h"
#include "formats/gguf.h"
#include "formats/gguf_arch.h"
#include "core/quants.h"
#include "formats/gguf_tokenizer.h"
#include "formats/json_config.h"

namespace r1 {

namespace {

using nlohmann::json;

struct FileTypeInfo {
  GgufFileType type;
  const char* name;
  DType base;
  uint32_t ftype;  // general.file_type (llama_ftype)
  bool mix;        // _M: attn_v / ffn_down upgrades
};
constexpr FileTypeInfo kFileTypes[] = {
    {GgufFileType::kF32, "F32", DType::kF32, 0, false},       {GgufFileType::kF16, "F16", DType::kF16, 1, false},
    {GgufFileType::kBF16, "BF16", DType::kBF16, 32, false},   {GgufFileType::kQ8_0, "Q8_0", DType::kQ8_0, 7, false},
    {GgufFileType::kQ4_0, "Q4_0", DType::kQ4_0, 2, false},    {GgufFileType::kQ4_K_M, "Q4_K_M", DType::kQ4_K, 15, true},
    {GgufFileType::kQ5_K_M, "Q5_K_M", DType::kQ5_K, 17, true}, {GgufFileType::kQ6_K, "Q6_K", DType::kQ6_K, 18, false},
};

const FileTypeInfo& info_of(GgufFileType t) {
  for (const FileTypeInfo& i : kFileTypes)
    if (i.type == t) return i;
  R1_CHECK(false);
  return kFileTypes[0];
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Produces f32 rows [r0, r0 + n) of an output tensor's 2-D view into out[n · cols].
using RowFn = std::function<void(int64_t r0, int64_t n, float* out)>;

struct OutTensor {
  std::string name;            // GGUF name
  std::vector<uint64_t> dims;  // GGUF order
  int64_t rows = 0, cols = 0;  // cols = dims[0], rows = the product of the others
  int64_t layer = -1;
  DType type = DType::kF32;
  RowFn rows_f32;
  bool parallel_rows = false;           // rows_f32 is safe to call from several threads
  const TensorView* raw = nullptr;      // copy these bytes when the stored type is the target
};

bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

DType choose_type(const OutTensor& t, const GgufConvertOptions& o, int64_t n_layers, bool tied_output) {
  const FileTypeInfo& ft = info_of(o.type);
  if (t.dims.size() <= 1 || ends_with(t.name, "_norm.weight") || ends_with(t.name, ".bias") ||
      ends_with(t.name, "ffn_gate_inp.weight") || t.name == "rope_freqs.weight")
    return DType::kF32;
  DType type = ft.base;
  if (is_block_quantized(type) && !o.pure) {
    const bool output = t.name == "output.weight" || (tied_output && t.name == "token_embd.weight");
    if (output && type != DType::kQ8_0) type = DType::kQ6_K;
    const bool v_or_down = ends_with(t.name, ".attn_v.weight") || t.name.find(".ffn_down") != std::string::npos;
    if (ft.mix && v_or_down && t.layer >= 0 && use_more_bits(t.layer, n_layers)) type = DType::kQ6_K;
  }
  if (is_block_quantized(type) && t.cols % dtype_info(type).block_elems != 0)
    type = t.cols % 32 == 0 ? DType::kQ8_0 : DType::kF16;
  return type;
}

int64_t layer_of(const std::string& hf_name) {
  long long l = -1;
  if (std::sscanf(hf_name.c_str(), "model.layers.%lld.", &l) == 1) return l;
  return -1;
}

RowFn plain_rows(const TensorView* v, const TensorView* scale) {
  return [v, scale](int64_t r0, int64_t n, float* out) { tensor_rows_f32(*v, scale, r0, n, out); };
}

// llama q/k: GGUF row h·hd + 2i + t is HF row h·hd + t·hd/2 + i (the converter's permutation).
int64_t llama_permuted_source_row(int64_t r, int64_t head_dim) {
  const int64_t h = r / head_dim, j = r % head_dim, i = j / 2, t = j % 2;
  return h * head_dim + t * (head_dim / 2) + i;
}

// llama3 rope scaling as per-frequency divisors (the converter's rope_freqs.weight).
std::vector<float> llama3_rope_divisors(const JsonConfig& c, const JsonConfig& rs, int64_t head_dim) {
  const double base = c.number("rope_theta", 10000.0), factor = rs.number("factor");
  const double lf = rs.number("low_freq_factor"), hf = rs.number("high_freq_factor");
  const double old_ctx = double(rs.integer("original_max_position_embeddings"));
  std::vector<float> out;
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const double freq = 1.0 / std::pow(base, double(2 * i) / double(head_dim));
    const double wavelen = 2 * std::numbers::pi / freq;
    double f = 1.0;
    if (wavelen > old_ctx / lf) f = factor;
    else if (wavelen >= old_ctx / hf) {
      const double smooth = (old_ctx / wavelen - lf) / (hf - lf);
      f = 1.0 / ((1.0 - smooth) / factor + smooth);
    }
    out.push_back(float(f));
  }
  return out;
}

void check_finite(const float* x, int64_t n, const std::string& name) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) fail("tensor '{}' holds a non-finite value ({}); refusing to write it", name, x[i]);
}

}  // namespace

std::optional<GgufFileType> gguf_file_type_from_name(const std::string& name) {
  std::string upper = name;
  for (char& ch : upper) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  for (const FileTypeInfo& i : kFileTypes)
    if (upper == i.name) return i.type;
  return std::nullopt;
}

std::string gguf_file_type_names() {
  std::string out;
  for (const FileTypeInfo& i : kFileTypes) out += (out.empty() ? "" : ", ") + std::string(i.name);
  return out;
}

const char* gguf_file_type_name(GgufFileType t) { return info_of(t).name; }

void tensor_rows_f32(const TensorView& v, const TensorView* scale_inv, int64_t row0, int64_t n, float* out) {
  const int64_t cols = v.shape.empty() ? 1 : v.shape.back();
  const int64_t rows = cols == 0 ? 0 : v.numel() / cols;
  R1_CHECK(row0 >= 0 && n >= 0 && row0 + n <= rows);
  if (v.dtype == DType::kF8E4M3) {
    R1_CHECK(scale_inv != nullptr && v.shape.size() == 2);
    const int64_t scols = (cols + 127) / 128;
    const uint8_t* q = static_cast<const uint8_t*>(v.data);
    const float* s = scale_inv->as<float>();
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < cols; ++j)
        out[r * cols + j] = fp8_e4m3_to_f32(q[(row0 + r) * cols + j]) * s[((row0 + r) / 128) * scols + j / 128];
    return;
  }
  R1_CHECK(gguf_codec_supported(v.dtype), "no f32 conversion for {}", dtype_name(v.dtype));
  const uint64_t row_bytes = dtype_bytes(v.dtype, uint64_t(cols)).value();
  dequantize(v.dtype, static_cast<const std::byte*>(v.data) + uint64_t(row0) * row_bytes, out, n * cols);
}

GgufConvertStats convert_to_gguf(const Checkpoint& ckpt, const std::vector<ConvertTensor>& tensors,
                                 const std::string& out_path, const GgufConvertOptions& options, ThreadPool& pool) {
  const JsonConfig c(ckpt.config, ckpt.path + " config");
  const std::string model_type = c.one_of("model_type", {"qwen2", "llama", "deepseek_v3"});
  const std::string arch = *gguf_arch_for_hf_model_type(model_type);
  const int64_t n_layers = c.integer("num_hidden_layers");
  const int64_t heads = c.integer("num_attention_heads");

  auto entry = [&](const std::string& name) -> const TensorEntry& {
    const TensorEntry* e = ckpt.find(name);
    if (!e) fail("{}: tensor '{}' is missing", ckpt.path, name);
    return *e;
  };
  auto scale_of = [&](const std::string& name, const TensorView& v) -> const TensorView* {
    if (v.dtype != DType::kF8E4M3) return nullptr;
    const TensorEntry& s = entry(name + "_scale_inv");
    const int64_t rows = v.shape.size() == 2 ? v.shape[0] : 0, cols = v.shape.size() == 2 ? v.shape[1] : 0;
    if (v.shape.size() != 2 || s.view.dtype != DType::kF32 || s.view.shape != Shape{(rows + 127) / 128, (cols + 127) / 128})
      fail("{}: '{}_scale_inv' must be F32 [{}, {}] for the F8_E4M3 matrix '{}'", ckpt.path, name, (rows + 127) / 128,
           (cols + 127) / 128, name);
    return &s.view;
  };
  auto check_source = [&](const std::string& name, const TensorView& v) {
    if (v.dtype != DType::kF8E4M3 && !gguf_codec_supported(v.dtype))
      fail(ErrorKind::kUnsupported, "{}: tensor '{}' has type {}, which r1 quantize cannot read", ckpt.path, name,
           dtype_name(v.dtype));
  };

  std::vector<OutTensor> out;
  auto add_plain = [&](const std::string& hf_name, const std::string& gguf_name, std::vector<uint64_t> dims) {
    const TensorEntry& e = entry(hf_name);
    check_source(hf_name, e.view);
    OutTensor t;
    t.name = gguf_name;
    t.dims = std::move(dims);
    t.cols = int64_t(t.dims[0]);
    t.rows = 1;
    for (size_t i = 1; i < t.dims.size(); ++i) t.rows *= int64_t(t.dims[i]);
    t.layer = layer_of(hf_name);
    t.rows_f32 = plain_rows(&e.view, scale_of(hf_name, e.view));
    t.parallel_rows = true;
    t.raw = &e.view;
    out.push_back(std::move(t));
    return &out.back();
  };
  auto gguf_dims = [](const Shape& s) {
    std::vector<uint64_t> d;
    for (size_t i = s.size(); i-- > 0;) d.push_back(uint64_t(s[i]));
    return d;
  };

  // llama3 rope: the divisors lead the file, as the converter writes them.
  if (const TensorEntry* rf = ckpt.find("rope_freqs.weight")) {
    add_plain("rope_freqs.weight", "rope_freqs.weight", gguf_dims(rf->view.shape));
  } else if (model_type == "llama") {
    if (std::optional<JsonConfig> rs = c.object("rope_scaling")) {
      const std::string type = rs->has("rope_type") ? rs->string("rope_type") : rs->string("type", "default");
      if (type == "llama3") {
        const int64_t head_dim = c.integer("head_dim", c.integer("hidden_size") / heads);
        auto divisors = std::make_shared<std::vector<float>>(llama3_rope_divisors(c, *rs, head_dim));
        OutTensor t;
        t.name = "rope_freqs.weight";
        t.dims = {uint64_t(divisors->size())};
        t.rows = 1;
        t.cols = int64_t(divisors->size());
        t.rows_f32 = [divisors](int64_t, int64_t, float* o) { std::copy(divisors->begin(), divisors->end(), o); };
        out.push_back(std::move(t));
      }
    }
  }

  // Routed experts are gathered per (layer, projection) into one stacked tensor.
  struct ExpertGroup {
    std::vector<const TensorEntry*> experts;
    std::vector<std::string> names;
  };
  std::map<std::pair<int64_t, std::string>, ExpertGroup> expert_groups;
  std::vector<std::pair<int64_t, std::string>> expert_order;
  const bool permute_qk = model_type == "llama" && !ckpt.rope_interleaved_qk;
  const int64_t kv_heads = c.integer("num_key_value_heads", heads);

  for (const ConvertTensor& ct : tensors) {
    if (std::optional<ExpertName> ex = parse_hf_expert(ct.name)) {
      auto key = std::make_pair(ex->layer, ex->proj);
      ExpertGroup& g = expert_groups[key];
      if (g.experts.empty()) expert_order.push_back(key);
      if (ex->expert != int64_t(g.experts.size()))
        fail("{}: expert tensors of layer {} are not numbered 0, 1, 2, ... ('{}')", ckpt.path, ex->layer, ct.name);
      const TensorEntry& e = entry(ct.name);
      check_source(ct.name, e.view);
      if (e.view.shape != ct.shape)
        fail("{}: tensor '{}' has shape {}, the model expects {}", ckpt.path, ct.name, shape_str(e.view.shape),
             shape_str(ct.shape));
      g.experts.push_back(&e);
      g.names.push_back(ct.name);
      // The stacked tensor is emitted when the last projection of the layer's experts is seen.
      continue;
    }
    if (ends_with(ct.name, "self_attn.kv_b_proj.weight")) {
      const int64_t R = c.integer("kv_lora_rank"), nope = c.integer("qk_nope_head_dim"), vd = c.integer("v_head_dim");
      const std::string prefix = ct.name.substr(0, ct.name.size() - std::string("kv_b_proj.weight").size());
      const std::string blk = gguf_name_from_hf(ct.name).value();
      const std::string blk_prefix = blk.substr(0, blk.size() - std::string("attn_kv_b.weight").size());
      const TensorEntry* kv_b = ckpt.find(ct.name);
      const TensorEntry* k_b = ckpt.find(prefix + "k_b_proj.weight");
      const TensorEntry* v_b = ckpt.find(prefix + "v_b_proj.weight");
      if (!kv_b && !(k_b && v_b)) fail("{}: tensor '{}' is missing", ckpt.path, ct.name);
      const int64_t layer = layer_of(ct.name);
      if (kv_b) check_source(ct.name, kv_b->view);
      if (!kv_b) {
        check_source(prefix + "k_b_proj.weight", k_b->view);
        check_source(prefix + "v_b_proj.weight", v_b->view);
      }
      if (options.mla_kv_b) {
        if (kv_b) {
          add_plain(ct.name, blk, gguf_dims(kv_b->view.shape));
        } else {  // rebuild kv_b from the split halves: key rows are columns of k_b
          OutTensor t;
          t.name = blk;
          t.dims = {uint64_t(R), uint64_t(heads * (nope + vd))};
          t.rows = heads * (nope + vd);
          t.cols = R;
          t.layer = layer;
          auto cache = std::make_shared<std::vector<float>>();
          auto cached_head = std::make_shared<int64_t>(-1);
          t.rows_f32 = [=](int64_t r0, int64_t n, float* o) {
            for (int64_t r = r0; r < r0 + n; ++r, o += R) {
              const int64_t h = r / (nope + vd), d = r % (nope + vd);
              if (d >= nope) {
                tensor_rows_f32(v_b->view, nullptr, h * vd + d - nope, 1, o);
                continue;
              }
              if (*cached_head != h) {
                cache->resize(size_t(R * nope));
                tensor_rows_f32(k_b->view, nullptr, h * R, R, cache->data());  // [R, nope]
                *cached_head = h;
              }
              for (int64_t j = 0; j < R; ++j) o[j] = (*cache)[size_t(j * nope + d)];
            }
          };
          out.push_back(std::move(t));
        }
        continue;
      }
      // Split layout: attn_k_b [H, R, nope] (each head's key half transposed), attn_v_b [H, v, R].
      if (k_b && v_b && !kv_b) {
        add_plain(prefix + "k_b_proj.weight", blk_prefix + "attn_k_b.weight",
                  {uint64_t(nope), uint64_t(R), uint64_t(heads)});
        add_plain(prefix + "v_b_proj.weight", blk_prefix + "attn_v_b.weight",
                  {uint64_t(R), uint64_t(vd), uint64_t(heads)});
        continue;
      }
      const TensorView* src = &kv_b->view;
      const TensorView* src_scale = scale_of(ct.name, kv_b->view);
      OutTensor kt;
      kt.name = blk_prefix + "attn_k_b.weight";
      kt.dims = {uint64_t(nope), uint64_t(R), uint64_t(heads)};
      kt.rows = heads * R;
      kt.cols = nope;
      kt.layer = layer;
      auto cache = std::make_shared<std::vector<float>>();
      auto cached_head = std::make_shared<int64_t>(-1);
      kt.rows_f32 = [=](int64_t r0, int64_t n, float* o) {
        for (int64_t r = r0; r < r0 + n; ++r, o += nope) {
          const int64_t h = r / R, j = r % R;
          if (*cached_head != h) {
            cache->resize(size_t(nope * R));
            tensor_rows_f32(*src, src_scale, h * (nope + vd), nope, cache->data());  // [nope, R]
            *cached_head = h;
          }
          for (int64_t d = 0; d < nope; ++d) o[d] = (*cache)[size_t(d * R + j)];
        }
      };
      out.push_back(std::move(kt));
      OutTensor vt;
      vt.name = blk_prefix + "attn_v_b.weight";
      vt.dims = {uint64_t(R), uint64_t(vd), uint64_t(heads)};
      vt.rows = heads * vd;
      vt.cols = R;
      vt.layer = layer;
      vt.rows_f32 = [=](int64_t r0, int64_t n, float* o) {
        for (int64_t r = r0; r < r0 + n; ++r, o += R)
          tensor_rows_f32(*src, src_scale, (r / vd) * (nope + vd) + nope + r % vd, 1, o);
      };
      vt.parallel_rows = true;
      out.push_back(std::move(vt));
      continue;
    }
    std::optional<std::string> gname = gguf_name_from_hf(ct.name);
    if (!gname) fail(ErrorKind::kUnsupported, "{}: tensor '{}' has no GGUF name", ckpt.path, ct.name);
    const TensorEntry& e = entry(ct.name);
    if (e.view.shape != ct.shape)
      fail("{}: tensor '{}' has shape {}, the model expects {}", ckpt.path, ct.name, shape_str(e.view.shape),
           shape_str(ct.shape));
    OutTensor* t = add_plain(ct.name, *gname, gguf_dims(e.view.shape));
    const bool q = ends_with(ct.name, "self_attn.q_proj.weight") || ends_with(ct.name, "self_attn.q_proj.bias");
    const bool k = ends_with(ct.name, "self_attn.k_proj.weight") || ends_with(ct.name, "self_attn.k_proj.bias");
    if (permute_qk && (q || k)) {
      const int64_t n_head = q ? heads : kv_heads;
      const int64_t out_rows = e.view.shape[0];
      if (out_rows % n_head != 0 || (out_rows / n_head) % 2 != 0)
        fail("{}: tensor '{}' rows ({}) are not {} heads of even size", ckpt.path, ct.name, out_rows, n_head);
      const int64_t head_dim = out_rows / n_head;
      const TensorView* v = &e.view;
      const TensorView* s = scale_of(ct.name, e.view);
      t->raw = nullptr;
      if (e.view.shape.size() == 1) {  // a bias: one "row" of out_rows elements
        t->rows_f32 = [v, head_dim, out_rows](int64_t, int64_t, float* o) {
          std::vector<float> b(static_cast<size_t>(out_rows));
          tensor_rows_f32(*v, nullptr, 0, 1, b.data());
          for (int64_t r = 0; r < out_rows; ++r) o[r] = b[size_t(llama_permuted_source_row(r, head_dim))];
        };
      } else {
        const int64_t cols = e.view.shape[1];
        t->rows_f32 = [v, s, head_dim, cols](int64_t r0, int64_t n, float* o) {
          for (int64_t r = r0; r < r0 + n; ++r) tensor_rows_f32(*v, s, llama_permuted_source_row(r, head_dim), 1, o + (r - r0) * cols);
        };
      }
    }
  }
  // Stacked experts, after the layer's other tensors.
  for (const auto& key : expert_order) {
    const ExpertGroup& g = expert_groups[key];
    const int64_t experts = int64_t(g.experts.size());
    const int64_t n_routed = c.integer("n_routed_experts", 0);
    if (experts != n_routed)
      fail("{}: layer {} has {} '{}' experts, config n_routed_experts is {}", ckpt.path, key.first, experts, key.second,
           n_routed);
    const Shape shape = g.experts[0]->view.shape;
    for (int64_t e = 0; e < experts; ++e)
      if (g.experts[size_t(e)]->view.shape != shape || shape.size() != 2)
        fail("{}: expert tensor '{}' has shape {}, expected {}", ckpt.path, g.names[size_t(e)],
             shape_str(g.experts[size_t(e)]->view.shape), shape_str(shape));
    OutTensor t;
    t.name = gguf_experts_name(key.first, key.second);
    t.dims = {uint64_t(shape[1]), uint64_t(shape[0]), uint64_t(experts)};
    t.rows = experts * shape[0];
    t.cols = shape[1];
    t.layer = key.first;
    std::vector<const TensorView*> views, scales;
    for (int64_t e = 0; e < experts; ++e) {
      views.push_back(&g.experts[size_t(e)]->view);
      scales.push_back(scale_of(g.names[size_t(e)], g.experts[size_t(e)]->view));
    }
    const int64_t out_rows = shape[0], cols = shape[1];
    t.rows_f32 = [views, scales, out_rows, cols](int64_t r0, int64_t n, float* o) {
      for (int64_t r = r0; r < r0 + n;) {
        const int64_t e = r / out_rows, i = r % out_rows, take = std::min(out_rows - i, r0 + n - r);
        tensor_rows_f32(*views[size_t(e)], scales[size_t(e)], i, take, o + (r - r0) * cols);
        r += take;
      }
    };
    t.parallel_rows = true;
    out.push_back(std::move(t));
  }

  // Types.
  const bool tied_output = std::none_of(out.begin(), out.end(), [](const OutTensor& t) { return t.name == "output.weight"; });
  for (OutTensor& t : out) {
    t.type = choose_type(t, options, n_layers, tied_output);
    if (t.raw && t.raw->dtype != t.type) t.raw = nullptr;
  }

  // Metadata, in the converter's order.
  GgufWriter w(out_path);
  w.set("general.architecture", GgufValue::of_string(arch));
  w.set("general.type", GgufValue::of_string("model"));
  if (!options.name.empty()) w.set("general.name", GgufValue::of_string(options.name));
  GgufHparamOptions hopts;
  hopts.mla_kv_b = options.mla_kv_b;
  for (auto& [k, v] : gguf_hparams_from_hf(ckpt.config, hopts, ckpt.path + " config")) w.set(k, std::move(v));
  w.set("general.file_type", GgufValue::of_u32(info_of(options.type).ftype));
  if (options.tokenizer_json) {
    const json* tc = options.tokenizer_config ? &*options.tokenizer_config : nullptr;
    for (auto& [k, v] : gguf_tokenizer_from_hf(*options.tokenizer_json, tc, ckpt.config, c.integer("vocab_size"),
                                               ckpt.path + " tokenizer"))
      w.set(k, std::move(v));
  }
  w.set("general.quantization_version", GgufValue::of_u32(2));

  GgufConvertStats stats;
  std::vector<uint64_t> sizes;
  for (const OutTensor& t : out) {
    sizes.push_back(w.add_tensor(t.name, t.dims, t.type));
    stats.tensors_per_type[std::string(dtype_name(t.type))]++;
    stats.data_bytes += sizes.back();
  }
  stats.tensors = int64_t(out.size());
  w.write_header();

  std::vector<float> rows;
  std::vector<uint8_t> packed;
  for (size_t ti = 0; ti < out.size(); ++ti) {
    const OutTensor& t = out[ti];
    log_debug("quantize: {} {} → {}", t.name, shape_str(Shape(t.dims.rbegin(), t.dims.rend())), dtype_name(t.type));
    if (t.raw) {  // same type, no transform: the stored bytes are the output
      w.write_data(t.raw->data, sizes[ti]);
      continue;
    }
    // Chunks of about 16M values keep memory bounded for the largest tensors.
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(t.rows, (int64_t(1) << 24) / std::max<int64_t>(t.cols, 1)));
    const uint64_t row_out = dtype_bytes(t.type, uint64_t(t.cols)).value();
    for (int64_t r0 = 0; r0 < t.rows; r0 += chunk) {
      const int64_t n = std::min(chunk, t.rows - r0);
      rows.resize(size_t(n * t.cols));
      packed.resize(size_t(uint64_t(n) * row_out));
      if (t.parallel_rows) {
        pool.parallel_for(n, [&](int64_t b, int64_t e) { t.rows_f32(r0 + b, e - b, rows.data() + b * t.cols); });
      } else {
        t.rows_f32(r0, n, rows.data());
      }
      check_finite(rows.data(), n * t.cols, t.name);
      pool.parallel_for(n, [&](int64_t b, int64_t e) {
        quantize(t.type, rows.data() + b * t.cols, packed.data() + uint64_t(b) * row_out, (e - b) * t.cols);
      });
      w.write_data(packed.data(), packed.size());
    }
  }
  w.finish();
  return stats;
}

}  // namespace r1
