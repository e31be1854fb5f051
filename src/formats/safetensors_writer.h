// Streams a safetensors file tensor by tensor, so multi-GB checkpoints (random benchmark models,
// test fixtures) are written without holding them in memory.
#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace r1 {

struct TensorToWrite {
  std::string name;
  DType dtype;
  Shape shape;
  // Fills `out` (exactly the tensor's byte size) with the tensor's data.
  std::function<void(std::byte* out, uint64_t bytes)> fill;
};

// Writes `tensors` in order with their header (and optional __metadata__). Throws r1::Error on I/O
// failure.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace r1
