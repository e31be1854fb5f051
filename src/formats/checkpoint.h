// A checkpoint on disk as a set of named zero-copy tensor views plus its configuration:
// a Hugging Face directory (config.json, model.safetensors or the shards listed in
// model.safetensors.index.json, generation_config.json). Models bind tensors by HF name.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace r1 {

struct TensorEntry {
  TensorView view;
  std::string file;  // for error messages
};

struct Checkpoint {
  std::string path;                                // the directory (or file) opened
  nlohmann::json config;                           // config.json
  std::optional<nlohmann::json> generation_config; // generation_config.json when present
  std::map<std::string, TensorEntry> tensors;
  std::vector<std::shared_ptr<MappedFile>> files;  // keep the views alive
  bool config_only = false;                        // a directory with config.json but no weights
  // A .gguf file carries its tokenizer: the equivalent tokenizer.json / tokenizer_config.json
  // (absent for Hugging Face directories, whose files the tokenizer module reads itself).
  std::optional<nlohmann::json> tokenizer_json;
  std::optional<nlohmann::json> tokenizer_config;
  // q/k projection rows are stored with each head's rope pairs interleaved (2i, 2i+1) rather
  // than in halves (i, i + d/2): llama GGUF files, permuted by the converter. Attention scores
  // are unchanged when q and k both use interleaved rope.
  bool rope_interleaved_qk = false;

  const TensorEntry* find(const std::string& name) const {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : &it->second;
  }
  uint64_t tensor_bytes() const;
};

// Reads `dir`/config.json (and generation_config.json if present) without touching weights.
nlohmann::json read_json_file(const std::string& path);

// Opens a Hugging Face model directory, or a .gguf file (formats/gguf_checkpoint.h). Throws
// r1::Error naming the file on any problem.
// With allow_config_only, a directory holding config.json but no weights opens with
// config_only set (used by `r1 info` on a published config).
std::shared_ptr<Checkpoint> open_checkpoint(const std::string& path, LoadMode mode = LoadMode::kMmap,
                                            bool allow_config_only = false);

}  // namespace r1
