// Paged KV cache shared by all sequences: fixed-size pages of `page_size` token slots, each slot
// holding `width` values per layer (dense attention: K and V of every KV head; MLA: the compressed
// latent plus the roped key). A layer keeps its slots' values segment by segment (dense attention:
// one KV head's keys or values per segment), each segment page after page, so attention streams
// each head's part of a page as one block, and of consecutive pages as one longer block. Values
// are stored as f32, or as f16 (rounded to nearest-even on store: half the memory and half the
// cache bytes a decode step reads). Pages are reference counted so sequences can share a cached
// prompt prefix.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "kernels/ops.h"

namespace r1 {

struct KvLayout {
  int n_layers = 0;
  int64_t width = 0;    // values stored per token and layer
  int64_t segment = 0;  // a page stores each `segment` values of its slots together (0: width)
  int64_t seg() const { return segment > 0 ? segment : width; }
};

// A run of consecutive slots (see KvSeq::for_each_run). A layer keeps its slots' values segment
// by segment ([segment][page][slot][value]), so the values of one segment (one head's keys)
// stream contiguously across the run, also from a page into the page after it.
struct KvRun {
  KvSpan base;        // segment 0 of the run's first slot
  int64_t segment;    // values per segment: the run's next slot is this many elements on
  int64_t seg_step;   // elements from a slot's values in one segment to its values in the next
  // Value `elem` of the first slot (elem + n ≤ its segment's end for an n-value read).
  KvSpan at(int64_t elem) const { return base.at(elem / segment * seg_step + elem % segment); }
  int64_t stride() const { return segment; }
};

class KvCache {
 public:
  // Room for `capacity_tokens` tokens in total (rounded up to whole pages); type kF32 or kF16.
  KvCache(KvLayout layout, int64_t capacity_tokens, int page_size = 16, DType type = DType::kF32);

  const KvLayout& layout() const { return layout_; }
  int page_size() const { return page_size_; }
  DType type() const { return type_; }
  int64_t elem_bytes() const { return type_ == DType::kF16 ? 2 : 4; }
  int64_t n_pages() const { return int64_t(refs_.size()); }
  int64_t free_pages() const { return int64_t(free_.size()); }
  uint64_t bytes() const {
    return uint64_t(n_pages()) * page_size_ * layout_.width * layout_.n_layers * uint64_t(elem_bytes());
  }

  std::optional<int32_t> alloc_page();
  void retain(int32_t page) { ++refs_[size_t(page)]; }
  void release(int32_t page);
  int32_t refs(int32_t page) const { return refs_[size_t(page)]; }

  // Writes the `width` values of one slot (rounded to the cache type).
  void store(int layer, int32_t page, int offset, const float* values);
  // The slot's values and those of the slots after it in the page.
  KvRun run(int layer, int32_t page, int offset) const {
    const int64_t seg = layout_.seg();
    const auto* base = reinterpret_cast<const uint8_t*>(layers_[size_t(layer)].data());
    return {{base + slot_offset(page, offset, 0), type_}, seg, n_pages() * page_size_ * seg};
  }
  // Slots of consecutive pages that attention takes as one run: about 64 KiB of one segment
  // (decode attention alone, 1.5B shape at 4096 positions, f16: 14 GB/s in runs of one 16-slot
  // page, 19-21 GB/s in runs of 256 slots; in runs of the whole context, with nothing to
  // prefetch, 9 GB/s).
  int32_t max_run() const {
    const int64_t slots = kRunBytes / (layout_.seg() * elem_bytes());
    return int32_t(std::max<int64_t>(page_size_, slots / page_size_ * page_size_));
  }

 private:
  static constexpr int64_t kRunBytes = int64_t(64) << 10;

  int64_t slot_offset(int32_t page, int offset, int64_t segment_index) const {  // in bytes
    const int64_t seg = layout_.seg();
    return ((segment_index * n_pages() + page) * page_size_ + offset) * seg * elem_bytes();
  }

  KvLayout layout_;
  int page_size_;
  DType type_;
  std::vector<FloatBuffer> layers_;  // raw storage of each layer's slots (f32 or f16 values)
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;
};

// One sequence's slice of the cache: its page table and how many tokens are stored.
class KvSeq {
 public:
  int32_t length() const { return length_; }
  const std::vector<int32_t>& pages() const { return pages_; }

  // Makes room for `tokens` more tokens; false (nothing changed) if the cache has no free pages.
  bool reserve(KvCache& cache, int32_t tokens);
  // Writes the values of position `pos` (< capacity) in `layer`.
  void store(KvCache& cache, int layer, int32_t pos, const float* values) const {
    cache.store(layer, pages_[size_t(pos / cache.page_size())], pos % cache.page_size(), values);
  }
  // fn(pos, n, run) for each run of consecutive slots that holds positions [0, len) of `layer`:
  // run starts at position pos and covers a page, or several pages that follow one another in the
  // cache (up to cache.max_run() slots); its `next` is where the following run starts.
  template <typename F>
  void for_each_run(const KvCache& cache, int layer, int32_t len, F&& fn) const {
    if (len <= 0) return;
    const int32_t page = cache.page_size(), max_run = cache.max_run();
    auto run_end = [&](int32_t p) {  // p: the first slot of a page
      int32_t e = std::min(p + page, len);
      while (e < len && e - p < max_run && pages_[size_t(e / page)] == pages_[size_t(e / page - 1)] + 1)
        e = std::min(e + page, len);
      return e;
    };
    KvRun run = cache.run(layer, pages_[0], 0);
    for (int32_t p = 0; p < len;) {
      const int32_t e = run_end(p);
      if (e < len) run.base.next = cache.run(layer, pages_[size_t(e / page)], 0).base.data;
      fn(p, e - p, run);
      if (e < len) run.base = {run.base.next, run.base.type};
      p = e;
    }
  }
  // Called by the model after writing `n` tokens at positions [length, length + n).
  void advance(int32_t n) { length_ += n; }
  // Drops tokens beyond `length` and the pages they no longer need.
  void truncate(KvCache& cache, int32_t length);
  // Starts an empty sequence on `pages` full pages already holding its first tokens (from the
  // prefix cache); the caller has taken a reference on each page for this sequence.
  void adopt_prefix(const KvCache& cache, std::vector<int32_t> pages);
  void release(KvCache& cache) { truncate(cache, 0); }
  int32_t capacity(const KvCache& cache) const { return int32_t(pages_.size()) * cache.page_size(); }

 private:
  std::vector<int32_t> pages_;
  int32_t length_ = 0;
};

}  // namespace r1
