// Reuse of KV pages across requests that share a prompt prefix (multi-turn chat, a common system
// prompt). A full page is keyed by a hash chained over all tokens up to its end, so a page is
// only ever matched at the same position after the same tokens. Because every row's numerics are
// independent of the batch and of chunking, reused K/V are bit-identical to recomputed ones.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "models/kv_cache.h"

namespace r1 {

class PrefixCache {
 public:
  explicit PrefixCache(KvCache& kv) : kv_(kv) {}
  ~PrefixCache();

  // The longest run of cached pages that match tokens[0 .. max_tokens) page by page; each
  // returned page carries one reference taken for the caller.
  std::vector<int32_t> match(std::span<const int32_t> tokens, int64_t max_tokens);
  // Offers the full pages of a sequence whose first `n_tokens` tokens are in `pages`; pages not
  // yet cached gain a reference held by the cache.
  void insert(std::span<const int32_t> tokens, const std::vector<int32_t>& pages, int64_t n_tokens);
  // Drops least-recently-used leaf pages held only by the cache until `pages` are free or
  // nothing more can go; returns how many were freed.
  int64_t evict(int64_t pages);
  int64_t pages() const { return int64_t(entries_.size()); }

 private:
  struct Entry {
    uint64_t parent;
    int32_t page;
    int32_t children = 0;
    uint64_t last_used = 0;
    std::vector<int32_t> tokens;  // the page's tokens (guards against hash collisions)
  };
  static uint64_t chain(uint64_t parent, std::span<const int32_t> page_tokens);

  KvCache& kv_;
  std::unordered_map<uint64_t, Entry> entries_;
  uint64_t tick_ = 0;
};

}  // namespace r1
