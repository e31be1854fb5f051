// The vocabulary as a byte trie laid out in preorder: walking it visits every token once, shares
// the work of common prefixes, and skips a whole subtree with one jump when a prefix is rejected.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace r1::grammar::detail {

struct VocabTrie {
  struct Node {
    uint8_t byte = 0;       // the byte leading here from the parent
    uint16_t depth = 0;     // prefix length (0 for the root)
    uint32_t end = 0;       // index just past this node's subtree
    uint32_t tokens_begin = 0, tokens_end = 0;  // token ids ending here: node_tokens[begin, end)
  };
  // Every non-special token with at least one byte; nodes[0] is the root (the empty prefix).
  std::vector<Node> nodes;
  std::vector<int32_t> node_tokens;
  uint32_t max_depth = 0;
  // Every token with at least one byte (special ones too), sorted by bytes, for exact lookups.
  std::vector<std::pair<std::string_view, int32_t>> by_bytes;

  // Ids of the tokens whose bytes are exactly `bytes`.
  std::vector<int32_t> find(std::string_view bytes) const;
};

}  // namespace r1::grammar::detail
