// Fast reading of tokenizer.json: a SAX pass that builds the JSON tree for everything except the
// two large parts, model.vocab and model.merges, which go straight into flat vectors (the full
// tree of a 128k-token file costs more than the rest of loading together).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace r1 {

struct ModelParts {
  // Set when the file had them in the expected shape; the tree then lacks these fields.
  std::optional<std::vector<std::pair<std::string, int64_t>>> vocab;
  std::optional<std::vector<std::pair<std::string, std::string>>> merges;
};

struct TokenizerJson {
  nlohmann::json tree;
  ModelParts parts;
};

// Throws r1::Error naming `path` on malformed JSON or a malformed vocab/merges entry.
TokenizerJson parse_tokenizer_json(std::string_view text, const std::string& path);

}  // namespace r1
