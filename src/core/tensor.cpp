// Shape printing and aligned buffers.
#include "core/tensor.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
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

void AlignedFree::operator()(void* p) const {
  if (mapped > 0) {
    ::munmap(p, mapped);
  } else {
    std::free(p);
  }
}

namespace {

constexpr size_t kHugePage = size_t(2) << 20;

// `bytes` (a multiple of 2 MiB) at a 2 MiB boundary, in a mapping of its own: the huge-page advice
// belongs to the address range, and on heap memory it would outlive the buffer and apply to
// whatever the allocator places there later.
void* map_huge(size_t bytes) {
  void* raw = ::mmap(nullptr, bytes + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t at = (begin + kHugePage - 1) & ~uintptr_t(kHugePage - 1);
  if (at > begin) ::munmap(raw, at - begin);
  ::munmap(reinterpret_cast<void*>(at + bytes), begin + kHugePage - at);  // the rest past the end (> 0)
  ::madvise(reinterpret_cast<void*>(at), bytes, MADV_HUGEPAGE);  // only a hint: else 4 KiB pages
  return reinterpret_cast<void*>(at);
}

}  // namespace

std::unique_ptr<std::byte[], AlignedFree> aligned_alloc_bytes(size_t bytes, bool huge_pages) {
  if (bytes > std::numeric_limits<size_t>::max() / 2) throw std::bad_alloc();  // no rounding overflow
  const bool huge = huge_pages && bytes >= kHugePage;
  const size_t align = huge ? kHugePage : 64;
  const size_t rounded = std::max((bytes + align - 1) / align * align, align);
  void* p = huge ? map_huge(rounded) : std::aligned_alloc(align, rounded);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, rounded);  // fault the pages in now, not in the first decode steps
  return std::unique_ptr<std::byte[], AlignedFree>(static_cast<std::byte*>(p), AlignedFree{huge ? rounded : 0});
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
