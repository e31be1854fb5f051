// Vocabulary: the token bytes of one tokenizer, preprocessed once into a preorder byte trie.
#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/mask_cache.h"
#include "grammar/vocab_trie.h"

namespace r1::grammar {

namespace detail {

std::vector<int32_t> VocabTrie::find(std::string_view bytes) const {
  std::vector<int32_t> out;
  auto it = std::lower_bound(by_bytes.begin(), by_bytes.end(), bytes,
                             [](const auto& e, std::string_view b) { return e.first < b; });
  for (; it != by_bytes.end() && it->first == bytes; ++it) out.push_back(it->second);
  return out;
}

}  // namespace detail

Vocabulary::Vocabulary(std::vector<std::string> token_bytes, std::vector<int32_t> eos_ids,
                       std::vector<int32_t> special_ids)
    : tokens_(std::move(token_bytes)), eos_ids_(std::move(eos_ids)) {
  auto start = std::chrono::steady_clock::now();
  const auto n = static_cast<int64_t>(tokens_.size());
  if (n == 0 || n > (int64_t{1} << 30)) fail("vocabulary size {} is out of range", n);
  special_.assign(tokens_.size(), 0);
  eos_.assign(tokens_.size(), 0);
  for (int32_t id : special_ids) {
    if (id < 0 || id >= n) fail("special token id {} is outside the vocabulary (size {})", id, n);
    special_[id] = 1;
  }
  for (int32_t id : eos_ids_) {
    if (id < 0 || id >= n) fail("end-of-sequence token id {} is outside the vocabulary (size {})", id, n);
    eos_[id] = 1;
  }
  memo_ = std::make_unique<detail::MaskMemo>();
  trie_ = std::make_unique<detail::VocabTrie>();
  detail::VocabTrie& t = *trie_;
  std::vector<std::pair<std::string_view, int32_t>> plain;
  for (int32_t id = 0; id < n; ++id) {
    if (tokens_[id].empty()) continue;
    if (tokens_[id].size() > 0xFFFF) fail("token {} is longer than 65535 bytes", id);
    t.by_bytes.push_back({tokens_[id], id});
    if (!special_[id] && !eos_[id]) plain.push_back({tokens_[id], id});
  }
  std::sort(t.by_bytes.begin(), t.by_bytes.end());
  std::sort(plain.begin(), plain.end());

  // Sorted order puts a prefix before its extensions and equal strings side by side, so the
  // tokens ending at a node are the ones seen when the node is created (and their duplicates).
  t.nodes.push_back({});
  std::vector<uint32_t> path{0};  // node index per depth along the current branch
  std::string_view prev;
  for (auto [bytes, id] : plain) {
    size_t common = 0;
    while (common < prev.size() && common < bytes.size() && prev[common] == bytes[common]) ++common;
    if (common == bytes.size() && bytes.size() == prev.size()) {
      t.node_tokens.push_back(id);
      t.nodes[path.back()].tokens_end = static_cast<uint32_t>(t.node_tokens.size());
      continue;
    }
    while (path.size() > common + 1) {
      t.nodes[path.back()].end = static_cast<uint32_t>(t.nodes.size());
      path.pop_back();
    }
    for (size_t d = common; d < bytes.size(); ++d) {
      detail::VocabTrie::Node node;
      node.byte = static_cast<uint8_t>(bytes[d]);
      node.depth = static_cast<uint16_t>(d + 1);
      node.tokens_begin = node.tokens_end = static_cast<uint32_t>(t.node_tokens.size());
      path.push_back(static_cast<uint32_t>(t.nodes.size()));
      t.nodes.push_back(node);
    }
    t.node_tokens.push_back(id);
    t.nodes[path.back()].tokens_end = static_cast<uint32_t>(t.node_tokens.size());
    t.max_depth = std::max<uint32_t>(t.max_depth, static_cast<uint32_t>(bytes.size()));
    prev = bytes;
  }
  while (!path.empty()) {
    t.nodes[path.back()].end = static_cast<uint32_t>(t.nodes.size());
    path.pop_back();
  }
  build_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Vocabulary::~Vocabulary() = default;

}  // namespace r1::grammar
