// safetensors reader: an 8-byte little-endian header length, a JSON header mapping tensor names
// to {dtype, shape, data_offsets}, then the data. Every check a hostile file could fail is made
// before a view is handed out, and every error names the file and the tensor.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace r1 {

struct SafetensorsFile {
  std::string path;
  std::shared_ptr<MappedFile> file;             // keeps the views alive (null for parse_safetensors)
  std::map<std::string, TensorView> tensors;    // zero-copy views into the file's data section
  std::map<std::string, std::string> metadata;  // "__metadata__" (string → string)
};

// Validates and indexes a safetensors image of `size` bytes. `name` is used in error messages.
// Views point into `data`, which must outlive the result.
SafetensorsFile parse_safetensors(const std::byte* data, uint64_t size, const std::string& name);

// Maps (or reads, per `mode`) and parses a file.
SafetensorsFile open_safetensors(const std::string& path, LoadMode mode = LoadMode::kMmap);

// Header length limit: real checkpoints have headers of a few MB at most.
inline constexpr uint64_t kMaxSafetensorsHeader = uint64_t(100) << 20;

}  // namespace r1
