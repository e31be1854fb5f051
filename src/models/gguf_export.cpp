// Checkpoint → GGUF with the model's tensor table as the list of what to write.
#include "models/gguf_export.h"

#include <filesystem>

#include "core/error.h"
#include "models/model.h"

namespace r1 {

namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Checks the source against the planned table: missing or mis-shaped tensors, and tensors the
// model would not use. Accepted extras: FP8 block scales of planned matrices, llama3's
// rope_freqs.weight, layers past num_hidden_layers (deepseek's MTP module), and llama.cpp's
// split MLA tensors in place of kv_b_proj.
void check_source(const Checkpoint& ckpt, const std::vector<TensorSpec>& specs, int64_t n_layers) {
  std::vector<std::string> problems;
  std::set<std::string> used;
  for (const TensorSpec& s : specs) {
    const TensorEntry* e = ckpt.find(s.name);
    if (!e && ends_with(s.name, "kv_b_proj.weight")) {
      const std::string prefix = s.name.substr(0, s.name.size() - std::string("kv_b_proj.weight").size());
      if (ckpt.find(prefix + "k_b_proj.weight") && ckpt.find(prefix + "v_b_proj.weight")) {
        used.insert(prefix + "k_b_proj.weight");
        used.insert(prefix + "v_b_proj.weight");
        continue;
      }
    }
    if (!e) {
      problems.push_back(fmt::format("missing tensor '{}' (expected shape {})", s.name, shape_str(s.shape)));
      continue;
    }
    used.insert(s.name);
    if (e->view.shape != s.shape)
      problems.push_back(fmt::format("{}: tensor '{}' has shape {}, config expects {}", e->file, s.name,
                                     shape_str(e->view.shape), shape_str(s.shape)));
    if (e->view.dtype == DType::kF8E4M3) used.insert(s.name + "_scale_inv");
  }
  for (const auto& [name, e] : ckpt.tensors) {
    if (used.count(name) || name == "rope_freqs.weight") continue;
    long long layer = -1;
    if (std::sscanf(name.c_str(), "model.layers.%lld.", &layer) == 1 && layer >= n_layers) continue;
    problems.push_back(fmt::format("{}: unexpected tensor '{}'", e.file, name));
  }
  if (problems.empty()) return;
  std::string msg = fmt::format("{}: {} problem(s) with the checkpoint's tensors:", ckpt.path, problems.size());
  for (const std::string& p : problems) msg += "\n  " + p;
  throw Error(msg);
}

}  // namespace

GgufConvertStats export_gguf(const std::string& in, const std::string& out, GgufExportOptions options,
                             LoadMode mode) {
  std::shared_ptr<Checkpoint> ckpt = open_checkpoint(in, mode);
  if (fs::exists(out) && fs::equivalent(in, out)) fail("--out {} is the input file", out);
  // The model's tensor table from its config alone.
  auto plan = std::make_shared<Checkpoint>();
  plan->path = ckpt->path;
  plan->config = ckpt->config;
  plan->config_only = true;
  std::unique_ptr<Model> model = load_model(plan);
  check_source(*ckpt, model->tensor_specs(), model->info().n_layers);

  std::vector<ConvertTensor> tensors;
  for (const TensorSpec& s : model->tensor_specs()) tensors.push_back({s.name, s.shape});
  if (options.tokenizer) {
    if (ckpt->tokenizer_json) {
      options.convert.tokenizer_json = ckpt->tokenizer_json;
      options.convert.tokenizer_config = ckpt->tokenizer_config;
    } else if (fs::is_directory(in) && fs::exists(fs::path(in) / "tokenizer.json")) {
      options.convert.tokenizer_json = read_json_file((fs::path(in) / "tokenizer.json").string());
      if (fs::exists(fs::path(in) / "tokenizer_config.json"))
        options.convert.tokenizer_config = read_json_file((fs::path(in) / "tokenizer_config.json").string());
    }
  }
  if (options.convert.name.empty()) {
    fs::path p(in);
    options.convert.name = (fs::is_directory(p) ? p.lexically_normal().filename() : p.stem()).string();
    if (options.convert.name.empty()) options.convert.name = fs::absolute(p).parent_path().filename().string();
  }
  ThreadPool pool(options.threads);
  return convert_to_gguf(*ckpt, tensors, out, options.convert, pool);
}

}  // namespace r1
