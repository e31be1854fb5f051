// libFuzzer target for the GGUF reader: arbitrary bytes must parse or fail with r1::Error, never
// crash or read out of bounds. A file that parses is also opened as a checkpoint (config and
// tokenizer synthesis, expert views) and the first rows of its tensors are dequantized.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_checkpoint.h"
#include "core/quants.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace r1;
  GgufFile g;
  try {
    g = parse_gguf(reinterpret_cast<const std::byte*>(data), size, "fuzz.gguf");
  } catch (const Error&) {
    return 0;
  }
  std::vector<float> row;
  for (const GgufTensorInfo& t : g.tensors) {
    if (!gguf_codec_supported(t.view.dtype)) continue;
    // One row (or the whole tensor if smaller), bounded to keep each input fast.
    const int64_t n = std::min<int64_t>(int64_t(t.dims[0]), 4096);
    const int64_t block = dtype_info(t.view.dtype).block_elems;
    const int64_t elems = n / block * block;
    row.resize(size_t(elems));
    if (elems > 0) dequantize(t.view.dtype, t.view.data, row.data(), elems);
  }
  try {
    std::shared_ptr<Checkpoint> ckpt = gguf_checkpoint(g);
    for (const auto& [name, entry] : ckpt->tensors) {
      const auto* p = static_cast<const uint8_t*>(entry.view.data);
      if (entry.view.nbytes > 0) {
        volatile uint8_t first = p[0], last = p[entry.view.nbytes - 1];  // views must lie inside the input
        (void)first;
        (void)last;
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
