// BPE merging. The reference pops the lowest (rank, position) pair from a heap and skips stale
// entries; because a symbol only ever grows by absorbing its right neighbour, that is the same as
// "merge the leftmost pair of lowest rank until none is left", which short words do by a scan.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <functional>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace r1 {

namespace {
constexpr uint32_t kNoMerge = UINT32_MAX;
// Words up to this many symbols are merged by rescanning (cheaper than a heap when short).
constexpr size_t kScanLimit = 48;
// Words longer than this many bytes are not cached (long runs are rare and mostly unique).
constexpr size_t kMaxCachedWord = 256;
constexpr size_t kCacheShards = 16;
constexpr size_t kCacheEntriesPerShard = 8192;
}  // namespace

// ---- byte-level alphabet -------------------------------------------------------------------

ByteAlphabet::ByteAlphabet() {
  rev_.fill(-1);
  int next_extra = 0;
  for (int b = 0; b < 256; ++b) {
    // Printable Latin-1 bytes stand for themselves; the rest get 256, 257, ... in byte order.
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const char32_t cp = printable ? char32_t(b) : char32_t(256 + next_extra++);
    std::string utf8;
    unicode::append_utf8(utf8, cp);
    lens_[b] = static_cast<uint8_t>(utf8.size());
    std::copy(utf8.begin(), utf8.end(), chars_[b].begin());
    rev_[cp] = static_cast<int16_t>(b);
  }
}

const ByteAlphabet& ByteAlphabet::get() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

bool ByteAlphabet::decode_string(std::string_view s, std::string& out) const {
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = unicode::valid_sequence_length(s, i);
    if (n == 0) return false;
    const int b = decode(unicode::decode_at(s, i, n));
    if (b < 0) return false;
    out.push_back(static_cast<char>(b));
    i += n;
  }
  return true;
}

void ByteAlphabet::encode_string(std::string_view bytes, std::string& out) const {
  for (const char c : bytes) out.append(encode(static_cast<uint8_t>(c)));
}

// ---- merge table: (left id, right id) -> (rank, merged id), open addressing ----------------

struct Bpe::MergeTable {
  struct Slot {
    uint64_t key = UINT64_MAX;
    uint32_t rank = 0;
    int32_t merged = 0;
  };
  std::vector<Slot> slots;
  uint64_t mask = 0;

  explicit MergeTable(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots.resize(cap);
    mask = cap - 1;
  }
  static uint64_t key(int32_t a, int32_t b) {
    return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
  }
  static uint64_t hash(uint64_t k) { return (k * 0x9E3779B97F4A7C15ull) >> 17; }
  void put(uint64_t k, uint32_t rank, int32_t merged) {
    for (uint64_t i = hash(k) & mask;; i = (i + 1) & mask) {
      if (slots[i].key == UINT64_MAX || slots[i].key == k) {
        slots[i] = {k, rank, merged};
        return;
      }
    }
  }
  const Slot* find(int32_t a, int32_t b) const {
    const uint64_t k = key(a, b);
    for (uint64_t i = hash(k) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots[i];
      if (s.key == k) return &s;
      if (s.key == UINT64_MAX) return nullptr;
    }
  }
};

// ---- word cache ------------------------------------------------------------------------------

struct Bpe::Cache {
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
  };
  std::array<Shard, kCacheShards> shards;

  Shard& shard(std::string_view word, size_t& hash) {
    hash = StringHash{}(word);
    return shards[(hash >> 7) % kCacheShards];
  }
};

// ---- model -----------------------------------------------------------------------------------

Bpe::Bpe(const TokenMap& vocab,
         const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options)
    : options_(options), vocab_(&vocab), cache_(std::make_unique<Cache>()) {
  const ByteAlphabet& alphabet = ByteAlphabet::get();
  byte_ids_.fill(-1);
  if (options_.raw_bytes) {
    for (int b = 0; b < 256; ++b) {
      byte_ids_[b] = vocab.find(alphabet.encode(static_cast<uint8_t>(b)));
    }
    if (options_.ignore_merges) {
      std::string raw;
      raw_vocab_.reserve(vocab.size());
      for (const auto& [text, id] : vocab.entries()) {
        raw.clear();
        if (alphabet.decode_string(text, raw)) raw_vocab_.insert_or_assign(raw, id);
      }
    }
  }
  merges_ = std::make_unique<MergeTable>(merges.size());
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const int32_t ia = vocab.find(a), ib = vocab.find(b);
    if (ia < 0 || ib < 0)
      fail("tokenizer.json: merge #{} '{} {}': '{}' is not in the vocabulary", rank, a, b,
           ia < 0 ? a : b);
    joined.assign(a).append(b);
    const int32_t im = vocab.find(joined);
    if (im < 0)
      fail("tokenizer.json: merge #{} '{} {}': the merged token '{}' is not in the vocabulary",
           rank, a, b, joined);
    merges_->put(MergeTable::key(ia, ib), static_cast<uint32_t>(rank), im);
  }
}

Bpe::~Bpe() = default;

void Bpe::initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const {
  symbols.clear();
  // A run of characters missing from the vocabulary becomes unk tokens (fused or one each);
  // without an unk token the reference drops them.
  int32_t pending_unk = 0;
  auto flush_unk = [&] {
    for (; pending_unk > 0; --pending_unk) symbols.push_back({options_.unk_id, 0, 0, kNoMerge});
  };
  auto add = [&](int32_t id) {
    if (id >= 0) {
      flush_unk();
      symbols.push_back({id, 0, 0, kNoMerge});
    } else if (options_.unk_id >= 0) {
      if (!options_.fuse_unk || pending_unk == 0) ++pending_unk;
    }
  };
  if (options_.raw_bytes) {
    for (const char c : word) add(byte_ids_[static_cast<uint8_t>(c)]);
  } else {
    size_t i = 0;
    while (i < word.size()) {
      size_t n = unicode::valid_sequence_length(word, i);
      if (n == 0) n = 1;  // callers pass valid UTF-8; be safe anyway
      add(vocab_->find(word.substr(i, n)));
      i += n;
    }
  }
  flush_unk();
  const int32_t n = static_cast<int32_t>(symbols.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols[i].prev = i - 1;
    symbols[i].next = i + 1 < n ? i + 1 : -1;
  }
}

void Bpe::merge(std::vector<Symbol>& sym) const {
  const size_t n = sym.size();
  if (n < 2) return;
  auto rank_of = [&](int32_t i) -> uint32_t {
    const int32_t j = sym[i].next;
    if (j < 0) return kNoMerge;
    const MergeTable::Slot* s = merges_->find(sym[i].id, sym[j].id);
    return s ? s->rank : kNoMerge;
  };
  // Merges the pair starting at i; returns false if it no longer exists (stale heap entry).
  auto merge_at = [&](int32_t i) {
    const int32_t j = sym[i].next;
    const MergeTable::Slot* s = merges_->find(sym[i].id, sym[j].id);
    sym[i].id = s->merged;
    sym[i].next = sym[j].next;
    if (sym[j].next >= 0) sym[sym[j].next].prev = i;
    sym[j].id = -1;
    sym[i].rank = rank_of(i);
    if (sym[i].prev >= 0) sym[sym[i].prev].rank = rank_of(sym[i].prev);
  };
  for (size_t i = 0; i < n; ++i) sym[i].rank = rank_of(static_cast<int32_t>(i));

  if (n <= kScanLimit) {
    for (;;) {
      uint32_t best = kNoMerge;
      int32_t at = -1;
      for (int32_t i = 0; i >= 0; i = sym[i].next) {
        if (sym[i].rank < best) {
          best = sym[i].rank;
          at = i;
        }
      }
      if (at < 0) break;
      merge_at(at);
    }
    return;
  }

  // (rank, position) packed so that the smallest value is the lowest rank, leftmost.
  std::vector<uint64_t> heap;
  heap.reserve(n);
  for (size_t i = 0; i < n; ++i)
    if (sym[i].rank != kNoMerge) heap.push_back((uint64_t(sym[i].rank) << 32) | i);
  std::make_heap(heap.begin(), heap.end(), std::greater<>());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const uint64_t top = heap.back();
    heap.pop_back();
    const auto i = static_cast<int32_t>(top & 0xFFFFFFFF);
    const auto rank = static_cast<uint32_t>(top >> 32);
    // Stale if the symbol was absorbed or its pair changed (a pair's rank identifies it).
    if (sym[i].id < 0 || sym[i].rank != rank) continue;
    merge_at(i);
    for (int32_t k : {sym[i].prev, i}) {
      if (k >= 0 && sym[k].rank != kNoMerge) {
        heap.push_back((uint64_t(sym[k].rank) << 32) | uint32_t(k));
        std::push_heap(heap.begin(), heap.end(), std::greater<>());
      }
    }
  }
}

void Bpe::encode(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    const TokenMap& whole = options_.raw_bytes ? raw_vocab_ : *vocab_;
    const int32_t id = whole.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  if (options_.raw_bytes && word.size() == 1 && byte_ids_[static_cast<uint8_t>(word[0])] >= 0) {
    out.push_back(byte_ids_[static_cast<uint8_t>(word[0])]);
    return;
  }
  const bool cacheable = word.size() <= kMaxCachedWord;
  Cache::Shard* shard = nullptr;
  if (cacheable) {
    size_t hash;
    shard = &cache_->shard(word, hash);
    std::lock_guard lock(shard->mutex);
    auto it = shard->map.find(word);
    if (it != shard->map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  thread_local std::vector<Symbol> symbols;
  initial_symbols(word, symbols);
  merge(symbols);
  const size_t first = out.size();
  if (!symbols.empty())
    for (int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
  if (cacheable) {
    std::lock_guard lock(shard->mutex);
    if (shard->map.size() < kCacheEntriesPerShard)
      shard->map.emplace(std::string(word), std::vector<int32_t>(out.begin() + first, out.end()));
  }
}

}  // namespace r1
