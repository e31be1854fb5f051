// String -> token id map for vocabularies: entries in one vector, an open-addressing index with
// the hash kept beside each slot. Built once at load and read-only after, it replaces
// std::unordered_map, whose per-node chains made loading a 128k vocabulary slow.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

class TokenMap {
 public:
  struct Entry {
    std::string text;
    int32_t id;
  };

  void reserve(size_t n) {
    entries_.reserve(n);
    if (n * 2 > slots_.size()) rehash(n * 2);
  }

  // Inserts or replaces the id of `text`.
  void insert_or_assign(std::string text, int32_t id) {
    if ((entries_.size() + 1) * 2 > slots_.size()) rehash((entries_.size() + 1) * 4);
    const uint64_t h = hash(text);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.index == 0) {
        entries_.push_back({std::move(text), id});
        s = {static_cast<uint32_t>(h >> 32), static_cast<uint32_t>(entries_.size())};
        return;
      }
      if (s.tag == static_cast<uint32_t>(h >> 32) && entries_[s.index - 1].text == text) {
        entries_[s.index - 1].id = id;
        return;
      }
    }
  }

  // The id of `text`, or -1.
  int32_t find(std::string_view text) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash(text);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.index == 0) return -1;
      if (s.tag == static_cast<uint32_t>(h >> 32) && entries_[s.index - 1].text == text)
        return entries_[s.index - 1].id;
    }
  }
  bool contains(std::string_view text) const { return find(text) >= 0; }

  size_t size() const { return entries_.size(); }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  struct Slot {
    uint32_t tag = 0;    // high half of the hash
    uint32_t index = 0;  // entry index + 1; 0 = empty
  };
  static uint64_t hash(std::string_view s) {
    return std::hash<std::string_view>{}(s) * 0x9E3779B97F4A7C15ull;
  }
  void rehash(size_t want) {
    size_t cap = 16;
    while (cap < want) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    for (size_t e = 0; e < entries_.size(); ++e) {
      const uint64_t h = hash(entries_[e].text);
      size_t i = h & mask_;
      while (slots_[i].index != 0) i = (i + 1) & mask_;
      slots_[i] = {static_cast<uint32_t>(h >> 32), static_cast<uint32_t>(e + 1)};
    }
  }

  std::vector<Entry> entries_;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

}  // namespace r1
