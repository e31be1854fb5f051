// Shape printing and aligned buffers.
#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace r1 {

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void AlignedFree::operator()(void* p) const { std::free(p); }

std::unique_ptr<std::byte[], AlignedFree> aligned_alloc_bytes(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, rounded);
  return std::unique_ptr<std::byte[], AlignedFree>(static_cast<std::byte*>(p));
}

void FloatBuffer::resize(size_t n) {
  if (n > capacity_) {
    // Keep 16 floats of slack so SIMD loads past the end of the last row stay in bounds.
    auto fresh = aligned_alloc_bytes((n + 16) * sizeof(float));
    if (size_) std::memcpy(fresh.get(), mem_.get(), size_ * sizeof(float));
    mem_ = std::move(fresh);
    capacity_ = n;
  }
  size_ = n;
}

}  // namespace r1
