// libFuzzer target for the safetensors reader: arbitrary bytes parse or fail with r1::Error,
// never crash; every view handed out lies inside the input and has the byte size its dtype and
// shape need. A file that parses is then bound as a qwen2 model's checkpoint, which exercises the
// binder's shape/dtype checks and its all-problems report on hostile tensor tables.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/error.h"
#include "formats/safetensors.h"
#include "models/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace r1;
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  SafetensorsFile f;
  try {
    f = parse_safetensors(bytes, size, "fuzz.safetensors");
  } catch (const Error&) {
    return 0;
  }
  auto ckpt = std::make_shared<Checkpoint>();
  ckpt->path = "fuzz";
  for (const auto& [name, view] : f.tensors) {
    const auto* p = static_cast<const std::byte*>(view.data);
    if (p < bytes || p + view.nbytes > bytes + size) std::abort();  // a view outside the input
    uint64_t numel = 1;
    for (int64_t d : view.shape) numel *= uint64_t(d);
    if (dtype_bytes(view.dtype, numel) != view.nbytes) std::abort();
    ckpt->tensors[name] = {view, "fuzz.safetensors"};
  }
  ckpt->config = {{"model_type", "qwen2"}, {"vocab_size", 8},        {"hidden_size", 4},
                  {"intermediate_size", 8}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
                  {"num_key_value_heads", 1}};
  try {
    load_model(ckpt);
  } catch (const Error&) {
  }
  return 0;
}
