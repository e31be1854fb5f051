// Page allocation for the KV cache.
#include "models/kv_cache.h"

#include <algorithm>

#include "core/error.h"

namespace r1 {

KvCache::KvCache(KvLayout layout, int64_t capacity_tokens, int page_size, DType type)
    : layout_(layout), page_size_(page_size), type_(type) {
  R1_CHECK(page_size > 0 && layout.n_layers > 0 && layout.width > 0 && layout.segment >= 0 &&
           layout.width % layout.seg() == 0);
  R1_CHECK(type == DType::kF32 || type == DType::kF16, "KV cache type {}: expected F32 or F16",
           dtype_name(type));
  int64_t pages = (capacity_tokens + page_size - 1) / page_size;
  if (pages < 1) pages = 1;
  const int64_t values = pages * page_size * layout.width;
  layers_.resize(size_t(layout.n_layers));
  for (auto& l : layers_) l.resize(size_t(type == DType::kF16 ? (values + 1) / 2 : values), /*huge_pages=*/true);
  refs_.assign(size_t(pages), 0);
  free_.reserve(size_t(pages));
  for (int64_t p = pages - 1; p >= 0; --p) free_.push_back(int32_t(p));
}

void KvCache::store(int layer, int32_t page, int offset, const float* values) {
  const int64_t seg = layout_.seg();
  for (int64_t s = 0; s < layout_.width / seg; ++s) {
    uint8_t* dst = reinterpret_cast<uint8_t*>(layers_[size_t(layer)].data()) + slot_offset(page, offset, s);
    const float* src = values + s * seg;
    if (type_ == DType::kF16) {
      auto* h = reinterpret_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < seg; ++i) h[i] = f32_to_f16(src[i]);
    } else {
      std::copy(src, src + seg, reinterpret_cast<float*>(dst));
    }
  }
}

std::optional<int32_t> KvCache::alloc_page() {
  if (free_.empty()) return std::nullopt;
  int32_t p = free_.back();
  free_.pop_back();
  refs_[size_t(p)] = 1;
  return p;
}

void KvCache::release(int32_t page) {
  R1_CHECK(refs_[size_t(page)] > 0, "page {} released twice", page);
  if (--refs_[size_t(page)] == 0) free_.push_back(page);
}

bool KvSeq::reserve(KvCache& cache, int32_t tokens) {
  int64_t need = (int64_t(length_) + tokens + cache.page_size() - 1) / cache.page_size();
  int64_t extra = need - int64_t(pages_.size());
  if (extra <= 0) return true;
  if (extra > cache.free_pages()) return false;
  for (int64_t i = 0; i < extra; ++i) pages_.push_back(*cache.alloc_page());
  return true;
}

void KvSeq::truncate(KvCache& cache, int32_t length) {
  R1_CHECK(length >= 0 && length <= length_);
  size_t keep = size_t((length + cache.page_size() - 1) / cache.page_size());
  while (pages_.size() > keep) {
    cache.release(pages_.back());
    pages_.pop_back();
  }
  length_ = length;
}

void KvSeq::adopt_prefix(const KvCache& cache, std::vector<int32_t> pages) {
  R1_CHECK(length_ == 0 && pages_.empty());
  pages_ = std::move(pages);
  length_ = int32_t(pages_.size()) * cache.page_size();
}

}  // namespace r1
