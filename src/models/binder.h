// Binds checkpoint tensors to a model by name and expected shape. The model's bind code is the one
// table of its tensors: run against a checkpoint it checks and returns zero-copy views; run
// without one (`WeightBinder::plan`) it only records the tensor list, which `r1 info` uses for a
// config-only directory and `r1 gen-random` uses to write random weights at a real shape.
// Problems are collected, not thrown one at a time: finish() reports every missing, mis-shaped,
// mistyped and unexpected tensor in one error.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "formats/checkpoint.h"
#include "kernels/ops.h"

namespace r1 {

// What a tensor is for: decides which ones the official FP8 release (and a quantizer) stores
// quantized, and which are read in full for every token.
enum class WeightRole {
  kProjection,  // attention / dense-MLP / shared-expert matrix: read for every token
  kExpert,      // routed-expert matrix: read only when the expert is selected
  kEmbedding,   // token embedding table: one row read per token
  kOutput,      // lm_head
  kRouter,      // MoE gate
  kVector,      // norms, biases, router bias
};

struct TensorSpec {
  std::string name;
  Shape shape;
  WeightRole role;
  DType dtype;  // in the checkpoint (or planned for it)
};

// Storage types to plan for when there is no checkpoint.
struct DTypePlan {
  DType projection = DType::kBF16;  // kProjection and kExpert matrices
  DType other = DType::kBF16;       // embedding, lm_head, router
  DType vector = DType::kF32;       // 1-D tensors (kept exact)
};

class WeightBinder {
 public:
  explicit WeightBinder(const Checkpoint& ckpt) : ckpt_(&ckpt) {}
  static WeightBinder plan(const DTypePlan& dtypes) { return WeightBinder(dtypes); }
  bool planning() const { return ckpt_ == nullptr; }

  // A [rows, cols] matrix in F32/F16/BF16, or F8_E4M3 with its "<name>_scale_inv" F32 block
  // scales of shape [ceil(rows/128), ceil(cols/128)].
  WeightView matrix(const std::string& name, int64_t rows, int64_t cols,
                    WeightRole role = WeightRole::kProjection);
  // A 1-D tensor of n elements (F32/F16/BF16), converted to f32.
  std::vector<float> vector(const std::string& name, int64_t n);
  bool has(const std::string& name) const { return ckpt_ && ckpt_->find(name) != nullptr; }
  // Matrices bound from now on that are read by matmul (projections, experts, lm_head) are also
  // repacked for the kernels (ops.h pack_weights) into buffers kept in `store`, as long as the
  // packed copies stay within `budget` bytes in all (beyond it, matrices keep the file's layout:
  // the same results, slower).
  void pack_into(std::vector<std::unique_ptr<std::byte[], AlignedFree>>* store, uint64_t budget) {
    store_ = store;
    pack_budget_ = budget;
  }
  // w repacked as above (e.g. an embedding table that is also the output matrix).
  WeightView packed(WeightView w);
  uint64_t packed_bytes() const { return packed_bytes_; }
  // Tensors matching `pred` are allowed without being bound (e.g. MTP layers not run yet).
  void ignore_if(std::function<bool(const std::string&)> pred) { ignore_.push_back(std::move(pred)); }
  // Throws r1::Error listing every problem, or returns if there are none.
  void finish() const;

  // Every tensor bound so far (FP8 scale tensors are not listed; see scale_spec()).
  const std::vector<TensorSpec>& specs() const { return specs_; }
  int64_t params(WeightRole role) const;
  int64_t params() const;
  uint64_t bytes(WeightRole role) const;
  uint64_t bytes() const;  // FP8 block scales count with their weight
  std::map<std::string, int64_t> dtype_counts() const;

 private:
  explicit WeightBinder(const DTypePlan& dtypes) : plan_(dtypes) {}
  const TensorView* lookup(const std::string& name, const Shape& expected);
  void record(const std::string& name, const Shape& shape, WeightRole role, DType dtype, uint64_t bytes);

  const Checkpoint* ckpt_ = nullptr;
  DTypePlan plan_;
  std::set<std::string> used_;
  std::vector<std::string> problems_;
  std::vector<std::function<bool(const std::string&)>> ignore_;
  std::vector<TensorSpec> specs_;
  std::map<WeightRole, uint64_t> bytes_;
  std::vector<std::unique_ptr<std::byte[], AlignedFree>>* store_ = nullptr;
  uint64_t pack_budget_ = 0, packed_bytes_ = 0;
};

// Bytes of a tensor of `shape` stored as `dtype` (F8_E4M3 includes its block scales).
uint64_t planned_bytes(const Shape& shape, DType dtype);

// Fills the size fields of `info` from what `b` bound. Routed experts count as active in the
// proportion experts_per_token / n_routed_experts (0 routed experts: dense). With tied
// embeddings the whole table is read per token (it is the output matrix too).
struct ModelInfo;
void fill_size_info(const WeightBinder& b, int64_t experts_per_token, int64_t n_routed_experts,
                    int64_t embed_rows, bool tied_embeddings, ModelInfo& info);

}  // namespace r1
