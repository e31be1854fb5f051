// `r1 quantize`: writes a model (Hugging Face directory, incl. the FP8 release, or a GGUF file)
// as a standard GGUF file in a chosen tensor type or quantization mix, with llama.cpp's keys and
// tensor names so other GGUF readers load it too.
#include <fmt/format.h>

#include <chrono>

#include "cli/command.h"
#include "cli/common.h"
#include "core/error.h"
#include "models/gguf_export.h"

namespace r1::cli {
namespace {

struct QuantizeOptions {
  std::string in, out, type = "F16", name;
  bool pure = false, mla_kv_b = false, no_tokenizer = false, no_mmap = false;
  int threads = 1;
};

int run_quantize(const QuantizeOptions& o) {
  std::optional<GgufFileType> type = gguf_file_type_from_name(o.type);
  if (!type) fail("--type {}: not a supported type (supported: {})", o.type, gguf_file_type_names());
  GgufExportOptions opts;
  opts.convert.type = *type;
  opts.convert.pure = o.pure;
  opts.convert.mla_kv_b = o.mla_kv_b;
  opts.convert.name = o.name;
  opts.tokenizer = !o.no_tokenizer;
  opts.threads = o.threads;
  const auto start = std::chrono::steady_clock::now();
  GgufConvertStats stats = export_gguf(o.in, o.out, opts, o.no_mmap ? LoadMode::kRead : LoadMode::kMmap);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string types;
  for (const auto& [t, n] : stats.tensors_per_type) types += fmt::format("{}{} × {}", types.empty() ? "" : ", ", n, t);
  fmt::print("wrote {}: {} tensors ({}), {:.1f} MB of tensor data, in {:.1f} s\n", o.out, stats.tensors, types,
             double(stats.data_bytes) / 1e6, seconds);
  return 0;
}

R1_COMMAND("quantize", "Write a model as a GGUF file (F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K)",
           [](CLI::App& app) {
             auto o = std::make_shared<QuantizeOptions>();
             app.add_option("--in", o->in, "Hugging Face model directory or .gguf file")->required();
             app.add_option("--out", o->out, "GGUF file to write")->required();
             app.add_option("--type", o->type, "Tensor type or mix: " + gguf_file_type_names())->capture_default_str();
             app.add_flag("--pure", o->pure,
                          "Every 2-D weight in the base type (no Q6_K output, no attn_v/ffn_down upgrades)");
             app.add_flag("--mla-kv-b", o->mla_kv_b,
                          "deepseek2: keep MLA's kv_b_proj as one attn_kv_b tensor (older llama.cpp layout) "
                          "instead of attn_k_b/attn_v_b");
             app.add_flag("--no-tokenizer", o->no_tokenizer, "Do not embed the tokenizer");
             app.add_option("--name", o->name, "general.name (default: the model's directory or file name)");
             app.add_flag("--no-mmap", o->no_mmap, "Read the source into memory instead of mapping it");
             add_threads_option(app, o->threads);
             return [o] { return run_quantize(*o); };
           });

}  // namespace
}  // namespace r1::cli
