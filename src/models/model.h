// The interface every architecture implements, and the registry that picks one from
// config.json's model_type. A forward step runs a ragged batch: any number of sequences, each
// with its own new tokens appended after what its KV cache already holds (a prefill chunk or one
// decode token), in one pass over the weights.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/thread_pool.h"
#include "formats/checkpoint.h"
#include "kernels/ops.h"
#include "models/binder.h"
#include "models/kv_cache.h"

namespace r1 {

struct ModelInfo {
  std::string architecture;  // config.json model_type
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t n_layers = 0;
  int64_t max_position_embeddings = 0;
  int64_t params_total = 0;    // every bound parameter (MTP layers excluded)
  int64_t params_active = 0;   // parameters used for one token (MoE: top-k + shared experts)
  uint64_t weight_bytes = 0;   // bytes of all bound tensors
  uint64_t bytes_per_token = 0;  // weight bytes read per decoded token (one embedding row, not the table)
  uint64_t packed_bytes = 0;     // weights also held repacked for the kernels (LoadOptions)
  std::map<std::string, int64_t> dtype_counts;  // tensors per storage type
  int64_t kv_values_per_token_layer = 0;  // f32 values the KV cache stores per token and layer
  bool has_weights = true;                // false for a config-only directory (info / gen-random)
  std::optional<int32_t> bos_token_id;
  std::vector<int32_t> eos_token_ids;
};

// One sequence's part of a step. The tokens are placed at positions kv->length() ...
struct SeqChunk {
  std::span<const int32_t> tokens;
  KvSeq* kv = nullptr;
  bool all_logits = false;  // logits for every token of the chunk, else only for the last
};

// Called after each layer with the hidden states [T, hidden] (debugging golden mismatches).
using LayerHook = std::function<void(int layer, ConstMatView hidden)>;

class Model {
 public:
  virtual ~Model() = default;
  const ModelInfo& info() const { return info_; }
  virtual KvLayout kv_layout() const = 0;

  // Runs one step over `batch`. Each sequence's cache must have room for its tokens
  // (KvSeq::reserve); the step writes their keys/values and advances the sequences. `logits`
  // receives one row per sequence (its last token), or one per token for all_logits chunks, in
  // batch order: [rows, vocab]. Row results do not depend on the other sequences in the batch.
  virtual void forward(ThreadPool& pool, std::span<const SeqChunk> batch, KvCache& kv,
                       MatView logits) = 0;

  // Number of logits rows forward() writes for `batch`.
  static int64_t logits_rows(std::span<const SeqChunk> batch);

  void set_layer_hook(LayerHook hook) { hook_ = std::move(hook); }
  // Every tensor the architecture binds, with shapes and (planned) storage types.
  const std::vector<TensorSpec>& tensor_specs() const { return specs_; }

 protected:
  // A binder over the checkpoint (repacking matrices into packed_), or a planning
  // binder for a config-only checkpoint.
  WeightBinder make_binder(const Checkpoint& ckpt);
  ModelInfo info_;
  LayerHook hook_;
  std::vector<TensorSpec> specs_;
  bool pack_weights_ = true;  // LoadOptions::pack_weights
  std::vector<std::unique_ptr<std::byte[], AlignedFree>> packed_;  // WeightBinder::pack_into
};

struct LoadOptions {
  LoadMode mode = LoadMode::kMmap;
  // Repack matrices for the kernels (WeightBinder::pack_into, ops.h pack_weights); off where the
  // model is only inspected (r1 info, the read-back check of r1 gen-random).
  bool pack_weights = true;
};

// Opens `path` (a Hugging Face directory) and builds the model its config names.
// Throws r1::Error for unknown architectures, bad configs and bad checkpoints.
std::unique_ptr<Model> load_model(const std::string& path, const LoadOptions& options = {});
std::unique_ptr<Model> load_model(std::shared_ptr<Checkpoint> ckpt, const LoadOptions& options = {});

// Reads eos ids (int or list) from config.json, overridden by generation_config.json.
void read_special_ids(const Checkpoint& ckpt, ModelInfo& info);

}  // namespace r1
