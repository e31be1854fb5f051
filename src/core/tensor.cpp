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

std::unique_ptr<std::byte[], AlignedFree> aligned_alloc_bytes(size_t bytes, bool huge_pages) {
  constexpr size_t kHuge = size_t(2) << 20;
  if (bytes > std::numeric_limits<size_t>::max() / 2) throw std::bad_alloc();  // no rounding overflow
  const bool huge = huge_pages && bytes >= kHuge;
  const size_t align = huge ? kHuge : 64;
  const size_t rounded = std::max((bytes + align - 1) / align * align, align);
  void* p = std::aligned_alloc(align, rounded);
  if (!p) throw std::bad_alloc();
  if (huge) ::madvise(p, rounded, MADV_HUGEPAGE);  // only a hint: without huge pages, 4 KiB ones
  std::memset(p, 0, rounded);
  return std::unique_ptr<std::byte[], AlignedFree>(static_cast<std::byte*>(p));
}

void FloatBuffer::resize(size_t n, bool huge_pages) {
  if (n > capacity_) {
    // Keep 16 floats of slack so SIMD loads past the end of the last row stay in bounds.
    auto fresh = aligned_alloc_bytes((n + 16) * sizeof(float), huge_pages);
    if (size_) std::memcpy(fresh.get(), mem_.get(), size_ * sizeof(float));
    mem_ = std::move(fresh);
    capacity_ = n;
  }
  size_ = n;
}

}  // namespace r1
