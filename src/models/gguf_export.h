// Exporting a checkpoint the models can run as a GGUF file (what `r1 quantize` does): the
// architecture's own tensor table (a planning bind of its config) says which tensors to write
// and at which shapes; the source is checked against it (every problem reported at once), then
// formats/gguf_convert writes the file.
#pragma once

#include <string>

#include "formats/gguf_convert.h"

namespace r1 {

struct GgufExportOptions {
  GgufConvertOptions convert;
  bool tokenizer = true;  // embed the tokenizer when the source has one
  int threads = 0;        // 0: all cores
};

// `in`: a Hugging Face directory or a .gguf file. Throws r1::Error naming what is wrong.
GgufConvertStats export_gguf(const std::string& in, const std::string& out, GgufExportOptions options,
                             LoadMode mode = LoadMode::kMmap);

}  // namespace r1
