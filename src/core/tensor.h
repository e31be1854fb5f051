// A read-only view of a tensor's bytes (usually inside a mapped checkpoint file), plus
// a small owning f32 buffer type for activations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace r1 {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& shape);  // "[64,2048]"

struct TensorView {
  DType dtype = DType::kF32;
  Shape shape;
  const void* data = nullptr;
  uint64_t nbytes = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int ndim() const { return int(shape.size()); }
  template <typename T>
  const T* as() const { return static_cast<const T*>(data); }
};

// Deleter for the allocations made by aligned_alloc_bytes (mapped: the length of a mapping of its
// own, 0 for heap memory).
struct AlignedFree {
  size_t mapped = 0;
  void operator()(void* p) const;
};
// 64-byte aligned, zero-filled buffer; throws std::bad_alloc on failure. huge_pages: from 2 MiB up
// the buffer is a 2 MiB aligned mapping of its own, advised to huge pages (a buffer streamed in
// pieces that lie far apart, as the KV cache's pages are, otherwise takes a TLB walk for nearly
// every piece).
std::unique_ptr<std::byte[], AlignedFree> aligned_alloc_bytes(size_t bytes, bool huge_pages = false);

// Owning, 64-byte aligned f32 buffer (activations, scratch, KV pages).
class FloatBuffer {
 public:
  FloatBuffer() = default;
  explicit FloatBuffer(size_t n) { resize(n); }
  // Contents are zeroed when the buffer grows; huge_pages as aligned_alloc_bytes (for new memory).
  void resize(size_t n, bool huge_pages = false);
  float* data() { return reinterpret_cast<float*>(mem_.get()); }
  const float* data() const { return reinterpret_cast<const float*>(mem_.get()); }
  size_t size() const { return size_; }
  float& operator[](size_t i) { return data()[i]; }
  float operator[](size_t i) const { return data()[i]; }

 private:
  std::unique_ptr<std::byte[], AlignedFree> mem_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace r1
