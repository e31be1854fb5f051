// model_type → architecture. A new architecture is a new file plus one line here.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/model.h"

namespace r1 {

std::unique_ptr<Model> make_qwen2_llama(std::shared_ptr<Checkpoint> ckpt, const LoadOptions& options);
std::unique_ptr<Model> make_deepseek_v3(std::shared_ptr<Checkpoint> ckpt, const LoadOptions& options);

namespace {
struct Architecture {
  const char* model_type;
  std::unique_ptr<Model> (*make)(std::shared_ptr<Checkpoint>, const LoadOptions&);
};
const Architecture kArchitectures[] = {
    {"qwen2", make_qwen2_llama},
    {"llama", make_qwen2_llama},
    {"deepseek_v3", make_deepseek_v3},
};
}  // namespace

int64_t Model::logits_rows(std::span<const SeqChunk> batch) {
  int64_t rows = 0;
  for (const SeqChunk& s : batch) rows += s.all_logits ? int64_t(s.tokens.size()) : 1;
  return rows;
}

std::unique_ptr<Model> load_model(std::shared_ptr<Checkpoint> ckpt, const LoadOptions& options) {
  auto mt = ckpt->config.find("model_type");
  if (mt == ckpt->config.end() || !mt->is_string())
    fail("{}/config.json: 'model_type' is missing", ckpt->path);
  std::string type = mt->get<std::string>();
  std::string known;
  for (const Architecture& a : kArchitectures) {
    if (type == a.model_type) return a.make(std::move(ckpt), options);
    known += known.empty() ? "" : ", ";
    known += a.model_type;
  }
  fail(ErrorKind::kUnsupported, "{}/config.json: model_type '{}' is not supported (supported: {})",
       ckpt->path, type, known);
}

std::unique_ptr<Model> load_model(const std::string& path, const LoadOptions& options) {
  return load_model(open_checkpoint(path, options.mode), options);
}

WeightBinder Model::make_binder(const Checkpoint& ckpt) {
  if (!ckpt.config_only) {
    // Decode reads the packed copies; prefill reads the file's pages for block-quantized
    // matrices and the packed copies for float ones (ops.h pack_weights). Within half the
    // machine's memory: beyond it the rest stays unpacked (a model near the size of memory is
    // served from the page cache as it is).
    WeightBinder b(ckpt);
    if (pack_weights_) b.pack_into(&packed_, physical_memory_bytes() / 2);
    return b;
  }
  // Plan the storage types a release of this config would have.
  DTypePlan plan;
  const auto& c = ckpt.config;
  std::string torch_dtype = c.value("torch_dtype", std::string("bfloat16"));
  DType base = torch_dtype == "float32" ? DType::kF32 : torch_dtype == "float16" ? DType::kF16 : DType::kBF16;
  plan.projection = plan.other = base;
  if (auto q = c.find("quantization_config"); q != c.end() && q->is_object() &&
                                             q->value("quant_method", std::string()) == "fp8")
    plan.projection = DType::kF8E4M3;
  return WeightBinder::plan(plan);
}

void read_special_ids(const Checkpoint& ckpt, ModelInfo& info) {
  auto read = [&](const nlohmann::json& j) {
    if (auto b = j.find("bos_token_id"); b != j.end() && b->is_number_integer())
      info.bos_token_id = b->get<int32_t>();
    if (auto e = j.find("eos_token_id"); e != j.end()) {
      if (e->is_number_integer()) info.eos_token_ids = {e->get<int32_t>()};
      if (e->is_array()) {
        info.eos_token_ids.clear();
        for (const auto& v : *e)
          if (v.is_number_integer()) info.eos_token_ids.push_back(v.get<int32_t>());
      }
    }
  };
  read(ckpt.config);
  if (ckpt.generation_config && ckpt.generation_config->is_object()) read(*ckpt.generation_config);
}

}  // namespace r1
