// A GGUF file opened as a complete r1 checkpoint: the Hugging Face view of it (config.json
// synthesized from `<arch>.*` metadata, tensors renamed to HF names with zero-copy views,
// stacked experts split into per-expert views, the tokenizer as tokenizer.json +
// tokenizer_config.json). open_checkpoint() dispatches here for *.gguf files. A model split by
// llama.cpp's gguf-split (<name>-00001-of-000NN.gguf, ...) opens from any of its shards.
#pragma once

#include <memory>
#include <string>

#include "formats/checkpoint.h"
#include "formats/gguf.h"

namespace r1 {

std::shared_ptr<Checkpoint> open_gguf_checkpoint(const std::string& path, LoadMode mode = LoadMode::kMmap);

// The same from an already parsed file (its views must stay valid: `g.file` is kept).
std::shared_ptr<Checkpoint> gguf_checkpoint(const GgufFile& g);

}  // namespace r1
