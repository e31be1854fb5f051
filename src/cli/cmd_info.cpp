// `r1 info`: what a model is and what it costs to run — architecture, parameters (total and
// active per token), storage types, weight bytes read per decoded token, KV cache bytes per token.
// Works on a directory with only config.json (sizes are planned from the config).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/common.h"
#include "models/model.h"

namespace r1::cli {
namespace {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  return fmt::format("{:.2f} {}", b, units[u]);
}

std::string human_count(double n) {
  if (n >= 1e9) return fmt::format("{:.2f}B", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.2f}M", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.2f}K", n / 1e3);
  return fmt::format("{}", n);
}

struct InfoOptions {
  ModelOptions model;
  bool json = false;
  int64_t ctx = 4096;
};

int run_info(const InfoOptions& o) {
  auto ckpt = open_checkpoint(resolve_model_path(o.model.model), LoadMode::kMmap, /*allow_config_only=*/true);
  auto model = load_model(ckpt, {.pack_weights = false});  // described, never run
  const ModelInfo& info = model->info();
  const int64_t kv_values = info.kv_values_per_token_layer * info.n_layers;
  nlohmann::ordered_json j;
  j["architecture"] = info.architecture;
  j["layers"] = info.n_layers;
  j["hidden_size"] = info.hidden_size;
  j["vocab_size"] = info.vocab_size;
  j["max_position_embeddings"] = info.max_position_embeddings;
  j["params_total"] = info.params_total;
  j["params_active"] = info.params_active;
  j["dtypes"] = info.dtype_counts;
  j["weights_present"] = info.has_weights;
  j["weight_bytes"] = info.weight_bytes;
  j["bytes_per_token"] = info.bytes_per_token;
  j["kv_values_per_token_layer"] = info.kv_values_per_token_layer;
  j["kv_bytes_per_token_f32"] = kv_values * 4;
  j["kv_bytes_per_token_f16"] = kv_values * 2;
  j["memory_bytes_at_ctx"] = {{"ctx", o.ctx}, {"bytes", info.weight_bytes + uint64_t(kv_values * 4 * o.ctx)}};
  if (o.json) {
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("model           {}\n", ckpt->path);
  fmt::print("architecture    {} ({} layers, hidden {}, vocab {})\n", info.architecture, info.n_layers,
             info.hidden_size, info.vocab_size);
  fmt::print("parameters      {} total, {} active per token\n", human_count(double(info.params_total)),
             human_count(double(info.params_active)));
  std::string dtypes;
  for (const auto& [dt, n] : info.dtype_counts) dtypes += fmt::format("{}{} × {}", dtypes.empty() ? "" : ", ", n, dt);
  fmt::print("tensors         {}{}\n", dtypes, info.has_weights ? "" : " (planned: config only)");
  fmt::print("weights         {}\n", human_bytes(double(info.weight_bytes)));
  fmt::print("read per token  {} of weights per decoded token\n", human_bytes(double(info.bytes_per_token)));
  fmt::print("KV cache        {} values per token and layer; {} B per token in f32 (default), {} B in f16 (--kv-type f16)\n",
             info.kv_values_per_token_layer, kv_values * 4, kv_values * 2);
  fmt::print("memory          {} for weights + KV at {} tokens of context\n",
             human_bytes(double(info.weight_bytes + uint64_t(kv_values * 4 * o.ctx))), o.ctx);
  return 0;
}

R1_COMMAND("info", "Describe a model: architecture, parameters, dtypes, memory, bytes per token",
           [](CLI::App& app) {
             auto o = std::make_shared<InfoOptions>();
             add_model_options(app, o->model, /*required=*/false);
             app.add_flag("--json", o->json, "Print JSON");
             app.add_option("--ctx", o->ctx, "Context length for the memory estimate")->check(CLI::Range(int64_t(1), int64_t(1) << 24));
             return [o] { return run_info(*o); };
           });

}  // namespace
}  // namespace r1::cli
