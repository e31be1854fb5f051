// PrefixCache: chained page hashes, LRU eviction of leaves.
#include "engine/prefix_cache.h"

#include <algorithm>

namespace r1 {

namespace {
constexpr uint64_t kRoot = 0x9e3779b97f4a7c15ull;
}

uint64_t PrefixCache::chain(uint64_t parent, std::span<const int32_t> page_tokens) {
  uint64_t h = parent ^ 0xcbf29ce484222325ull;
  for (int32_t t : page_tokens) {
    h ^= uint64_t(uint32_t(t));
    h *= 0x100000001b3ull;
    h ^= h >> 29;
  }
  return h == 0 ? 1 : h;
}

PrefixCache::~PrefixCache() {
  for (auto& [key, e] : entries_) kv_.release(e.page);
}

std::vector<int32_t> PrefixCache::match(std::span<const int32_t> tokens, int64_t max_tokens) {
  std::vector<int32_t> pages;
  const int ps = kv_.page_size();
  uint64_t key = kRoot;
  for (int64_t begin = 0; begin + ps <= max_tokens; begin += ps) {
    auto page_tokens = tokens.subspan(size_t(begin), size_t(ps));
    uint64_t next = chain(key, page_tokens);
    auto it = entries_.find(next);
    if (it == entries_.end() || it->second.parent != key ||
        !std::equal(page_tokens.begin(), page_tokens.end(), it->second.tokens.begin()))
      break;
    it->second.last_used = ++tick_;
    kv_.retain(it->second.page);
    pages.push_back(it->second.page);
    key = next;
  }
  return pages;
}

void PrefixCache::insert(std::span<const int32_t> tokens, const std::vector<int32_t>& pages, int64_t n_tokens) {
  const int ps = kv_.page_size();
  uint64_t key = kRoot;
  for (int64_t i = 0; (i + 1) * ps <= n_tokens && size_t(i) < pages.size(); ++i) {
    auto page_tokens = tokens.subspan(size_t(i * ps), size_t(ps));
    uint64_t next = chain(key, page_tokens);
    auto it = entries_.find(next);
    if (it == entries_.end()) {
      Entry e{key, pages[size_t(i)], 0, ++tick_, std::vector<int32_t>(page_tokens.begin(), page_tokens.end())};
      kv_.retain(e.page);
      entries_.emplace(next, std::move(e));
      if (key != kRoot) entries_[key].children++;
    } else if (it->second.parent != key ||
               !std::equal(page_tokens.begin(), page_tokens.end(), it->second.tokens.begin())) {
      return;  // hash collision: stop caching this chain
    } else {
      it->second.last_used = ++tick_;
    }
    key = next;
  }
}

int64_t PrefixCache::evict(int64_t pages) {
  int64_t freed = 0;
  while (freed < pages) {
    // The least recently used leaf whose page only the cache holds.
    auto victim = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      const Entry& e = it->second;
      if (e.children > 0 || kv_.refs(e.page) != 1) continue;
      if (victim == entries_.end() || e.last_used < victim->second.last_used) victim = it;
    }
    if (victim == entries_.end()) break;
    uint64_t parent = victim->second.parent;
    kv_.release(victim->second.page);
    entries_.erase(victim);
    if (parent != kRoot) {
      auto p = entries_.find(parent);
      if (p != entries_.end()) p->second.children--;
    }
    ++freed;
  }
  return freed;
}

}  // namespace r1
