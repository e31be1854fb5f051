// WeightBinder: name/shape/dtype checks with deferred reporting, or planning without a checkpoint.
#include "models/binder.h"

#include <cstring>

#include "core/error.h"

namespace r1 {

namespace {
template <typename T>
T load_unaligned(const void* base, int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const char*>(base) + i * int64_t(sizeof(T)), sizeof(T));
  return v;
}
// Kernels read weight rows and scales as arrays of their element type, so the data must sit at a
// multiple of the element size (true of files written by the safetensors and GGUF libraries).
bool aligned(const void* p, size_t elem) { return reinterpret_cast<uintptr_t>(p) % elem == 0; }
int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}
uint64_t scale_bytes_for(int64_t rows, int64_t cols) {
  return uint64_t((rows + 127) / 128) * uint64_t((cols + 127) / 128) * 4;
}

// Matrices the matmul kernels read (the rest are looked up row by row: embeddings, routers).
bool is_matmul_input(WeightRole role) {
  return role == WeightRole::kProjection || role == WeightRole::kExpert || role == WeightRole::kOutput;
}

}  // namespace

uint64_t planned_bytes(const Shape& shape, DType dtype) {
  uint64_t b = dtype_bytes(dtype, uint64_t(numel(shape))).value_or(0);
  if (dtype == DType::kF8E4M3 && shape.size() == 2) b += scale_bytes_for(shape[0], shape[1]);
  return b;
}

void WeightBinder::record(const std::string& name, const Shape& shape, WeightRole role, DType dtype,
                          uint64_t bytes) {
  specs_.push_back({name, shape, role, dtype});
  bytes_[role] += bytes;
}

const TensorView* WeightBinder::lookup(const std::string& name, const Shape& expected) {
  const TensorEntry* e = ckpt_->find(name);
  if (!e) {
    problems_.push_back(fmt::format("missing tensor '{}' (expected shape {})", name, shape_str(expected)));
    return nullptr;
  }
  used_.insert(name);
  if (e->view.shape != expected) {
    problems_.push_back(fmt::format("{}: tensor '{}' has shape {}, config expects {}", e->file, name,
                                    shape_str(e->view.shape), shape_str(expected)));
    return nullptr;
  }
  return &e->view;
}

WeightView WeightBinder::matrix(const std::string& name, int64_t rows, int64_t cols, WeightRole role) {
  WeightView w;
  w.rows = rows;
  w.cols = cols;
  if (planning()) {
    bool quantizable = role == WeightRole::kProjection || role == WeightRole::kExpert;
    w.dtype = quantizable ? plan_.projection : plan_.other;
    record(name, {rows, cols}, role, w.dtype, planned_bytes({rows, cols}, w.dtype));
    return w;
  }
  const TensorView* t = lookup(name, {rows, cols});
  if (!t) return w;
  switch (t->dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      break;
    case DType::kF8E4M3: {
      std::string sname = name + "_scale_inv";
      int64_t srows = (rows + 127) / 128, scols = (cols + 127) / 128;
      const TensorView* s = lookup(sname, {srows, scols});
      if (!s) return w;
      if (s->dtype != DType::kF32) {
        problems_.push_back(fmt::format("tensor '{}' must be F32, got {}", sname, dtype_name(s->dtype)));
        return w;
      }
      if (!aligned(s->data, 4)) {
        problems_.push_back(fmt::format("tensor '{}' starts at an offset that is not a multiple of 4 bytes", sname));
        return w;
      }
      w.scale = s->as<float>();
      w.scale_cols = scols;
      w.dtype = t->dtype;
      w.data = t->data;
      record(name, {rows, cols}, role, t->dtype, t->nbytes + s->nbytes);  // scales count as the weight's bytes
      return is_matmul_input(role) ? packed(w) : w;
    }
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      // rows are whole blocks (GGUF stores the first dimension in blocks, so this holds for any
      // readable file; a hand-made view could still break it)
      if (cols % dtype_info(t->dtype).block_elems != 0) {
        problems_.push_back(fmt::format("tensor '{}' is {} with rows of {} elements, not whole blocks of {}", name,
                                        dtype_name(t->dtype), cols, dtype_info(t->dtype).block_elems));
        return w;
      }
      break;
    default:
      problems_.push_back(fmt::format("tensor '{}' has dtype {}, which r1 cannot use for a weight matrix "
                                      "(F32, F16, BF16, F8_E4M3, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)",
                                      name, dtype_name(t->dtype)));
      return w;
  }
  // block scales are half floats: every block type needs 2-byte alignment like F16
  if (const size_t elem = t->dtype == DType::kF32 ? 4 : 2; !aligned(t->data, elem)) {
    problems_.push_back(fmt::format("tensor '{}' starts at an offset that is not a multiple of {} bytes", name, elem));
    return w;
  }
  w.dtype = t->dtype;
  w.data = t->data;
  record(name, {rows, cols}, role, t->dtype, t->nbytes);
  return is_matmul_input(role) ? packed(w) : w;
}

WeightView WeightBinder::packed(WeightView w) {
  if (store_ == nullptr || w.data == nullptr) return w;
  const uint64_t bytes = packed_weight_bytes(w);
  if (packed_bytes_ + bytes > pack_budget_) return w;
  if (auto mem = pack_weights(w)) {
    packed_bytes_ += bytes;
    store_->push_back(std::move(mem));
  }
  return w;
}

std::vector<float> WeightBinder::vector(const std::string& name, int64_t n) {
  std::vector<float> out(size_t(n), 0.0f);
  if (planning()) {
    record(name, {n}, WeightRole::kVector, plan_.vector, planned_bytes({n}, plan_.vector));
    return out;
  }
  const TensorView* t = lookup(name, {n});
  if (!t) return out;
  for (int64_t i = 0; i < n; ++i) {
    switch (t->dtype) {
      // Loaded bytewise: a file may place a small tensor at any offset.
      case DType::kF32: out[size_t(i)] = load_unaligned<float>(t->data, i); break;
      case DType::kBF16: out[size_t(i)] = bf16_to_f32(load_unaligned<uint16_t>(t->data, i)); break;
      case DType::kF16: out[size_t(i)] = f16_to_f32(load_unaligned<uint16_t>(t->data, i)); break;
      default:
        problems_.push_back(fmt::format("tensor '{}' has dtype {}, expected F32, F16 or BF16", name,
                                        dtype_name(t->dtype)));
        return out;
    }
  }
  record(name, {n}, WeightRole::kVector, t->dtype, t->nbytes);
  return out;
}

void WeightBinder::finish() const {
  if (planning()) return;
  std::vector<std::string> problems = problems_;
  for (const auto& [name, entry] : ckpt_->tensors) {
    if (used_.count(name)) continue;
    bool ignored = false;
    for (const auto& pred : ignore_) ignored = ignored || pred(name);
    if (!ignored) problems.push_back(fmt::format("{}: unexpected tensor '{}'", entry.file, name));
  }
  if (problems.empty()) return;
  std::string msg = fmt::format("{}: {} problem(s) with the checkpoint's tensors:", ckpt_->path, problems.size());
  for (const auto& p : problems) msg += "\n  " + p;
  throw Error(msg);
}

int64_t WeightBinder::params(WeightRole role) const {
  int64_t n = 0;
  for (const TensorSpec& s : specs_)
    if (s.role == role) n += numel(s.shape);
  return n;
}

int64_t WeightBinder::params() const {
  int64_t n = 0;
  for (const TensorSpec& s : specs_) n += numel(s.shape);
  return n;
}

uint64_t WeightBinder::bytes(WeightRole role) const {
  auto it = bytes_.find(role);
  return it == bytes_.end() ? 0 : it->second;
}

uint64_t WeightBinder::bytes() const {
  uint64_t b = 0;
  for (const auto& [role, n] : bytes_) b += n;
  return b;
}

std::map<std::string, int64_t> WeightBinder::dtype_counts() const {
  std::map<std::string, int64_t> m;
  for (const TensorSpec& s : specs_) m[std::string(dtype_name(s.dtype))]++;
  return m;
}

}  // namespace r1

#include "models/model.h"

namespace r1 {

void fill_size_info(const WeightBinder& b, int64_t experts_per_token, int64_t n_routed_experts,
                    int64_t embed_rows, bool tied_embeddings, ModelInfo& info) {
  const double active_share = n_routed_experts > 0 ? double(experts_per_token) / double(n_routed_experts) : 1.0;
  info.params_total = b.params();
  info.params_active = b.params() - b.params(WeightRole::kExpert) +
                       int64_t(double(b.params(WeightRole::kExpert)) * active_share + 0.5);
  info.weight_bytes = b.bytes();
  const uint64_t embed = b.bytes(WeightRole::kEmbedding);
  const uint64_t embed_read = tied_embeddings ? embed : embed / uint64_t(std::max<int64_t>(embed_rows, 1));
  info.bytes_per_token = b.bytes() - embed + embed_read - b.bytes(WeightRole::kExpert) +
                         uint64_t(double(b.bytes(WeightRole::kExpert)) * active_share + 0.5);
  info.dtype_counts = b.dtype_counts();
  info.packed_bytes = b.packed_bytes();
}

}  // namespace r1
