// Shape printing and aligned buffers.
#include "core/tensor.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
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

void* alloc_stream_bytes(size_t bytes) {
  constexpr size_t kHuge = size_t(2) << 20;
  if (bytes > std::numeric_limits<size_t>::max() / 2) return nullptr;  // no rounding overflow below
  if (bytes < kHuge) return std::aligned_alloc(64, std::max<size_t>((bytes + 63) / 64 * 64, 64));
  const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  // Only a hint: where the kernel has no huge pages the buffer keeps 4 KiB ones.
  if (p) ::madvise(p, rounded, MADV_HUGEPAGE);
  return p;
}

std::unique_ptr<std::byte[], AlignedFree> aligned_alloc_bytes(size_t bytes) {
  void* p = alloc_stream_bytes(bytes);
  if (!p) throw std::bad_alloc();
  const size_t rounded = std::max<size_t>((bytes + 63) / 64 * 64, 64);
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
