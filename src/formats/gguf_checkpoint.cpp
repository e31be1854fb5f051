// GGUF → Checkpoint: HF names, per-expert views of the stacked expert tensors, the flattened
// split-MLA tensors, the synthesized config.json and tokenizer files. No tensor data is copied.
#include "formats/gguf_checkpoint.h"

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "formats/gguf_arch.h"
#include "formats/gguf_tokenizer.h"

namespace r1 {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// blk.N.<rest> with N parsed; false for other names.
bool block_of(const std::string& name, int64_t* layer, std::string* rest) {
  long long l = -1;
  int used = 0;
  if (std::sscanf(name.c_str(), "blk.%lld.%n", &l, &used) != 1 || used == 0 || l < 0) return false;
  *layer = l;
  *rest = name.substr(size_t(used));
  return true;
}

}  // namespace

std::shared_ptr<Checkpoint> gguf_checkpoint(const GgufFile& g) {
  auto ckpt = std::make_shared<Checkpoint>();
  ckpt->path = g.path;
  ckpt->config = hf_config_from_gguf(g);
  if (g.file) ckpt->files.push_back(g.file);
  const std::string arch = g.get_string("general.architecture");
  // The converter permutes llama's q/k rows into interleaved rope pairs (see checkpoint.h).
  ckpt->rope_interleaved_qk = arch == "llama";
  const std::string file = std::filesystem::path(g.path).filename().string();
  const int64_t n_layers = ckpt->config["num_hidden_layers"].get<int64_t>();

  // A file may carry llama.cpp's split MLA tensors next to the single attn_kv_b (some
  // quantizers keep both); the split ones are then derived data and are not exposed.
  bool has_kv_b = false;
  for (const GgufTensorInfo& t : g.tensors) has_kv_b = has_kv_b || ends_with(t.name, ".attn_kv_b.weight");

  auto add = [&](const std::string& name, const TensorView& view, const std::string& gguf_name) {
    if (ckpt->tensors.count(name))
      fail("{}: tensor '{}' (from '{}') appears twice after renaming to Hugging Face names", g.path, name, gguf_name);
    ckpt->tensors.emplace(name, TensorEntry{view, file});
  };

  for (const GgufTensorInfo& t : g.tensors) {
    if (std::optional<ExpertName> ex = parse_gguf_experts(t.name)) {
      if (t.dims.size() != 3)
        fail("{}: tensor '{}' must be 3-D [experts, out, in], has {} dimensions", g.path, t.name, t.dims.size());
      const int64_t in = int64_t(t.dims[0]), out = int64_t(t.dims[1]), experts = int64_t(t.dims[2]);
      const uint64_t bytes = dtype_bytes(t.view.dtype, uint64_t(in) * uint64_t(out)).value();
      for (int64_t e = 0; e < experts; ++e) {
        TensorView v{t.view.dtype, {out, in}, static_cast<const std::byte*>(t.view.data) + uint64_t(e) * bytes, bytes};
        add(hf_expert_name(ex->layer, e, ex->proj), v, t.name);
      }
      continue;
    }
    const bool split_mla = ends_with(t.name, ".attn_k_b.weight") || ends_with(t.name, ".attn_v_b.weight");
    if (split_mla && has_kv_b) continue;
    TensorView view = t.view;
    std::optional<std::string> hf = hf_name_from_gguf(t.name);
    if (split_mla && view.shape.size() == 3)  // [H, a, b] → [H·a, b]: rows stay contiguous
      view.shape = {view.shape[0] * view.shape[1], view.shape[2]};
    if (!hf) {
      // Blocks past the main stack (multi-token prediction) keep their place under
      // model.layers.N so the model skips them; other unknown tensors keep their GGUF name and
      // are reported by the model's binder.
      int64_t layer;
      std::string rest;
      if (block_of(t.name, &layer, &rest) && layer >= n_layers) hf = fmt::format("model.layers.{}.{}", layer, rest);
      else hf = t.name;
    }
    add(*hf, view, t.name);
  }

  if (std::optional<HfTokenizerFiles> tok = hf_tokenizer_from_gguf(g)) {
    ckpt->tokenizer_json = std::move(tok->tokenizer);
    ckpt->tokenizer_config = std::move(tok->tokenizer_config);
  }
  return ckpt;
}

std::shared_ptr<Checkpoint> open_gguf_checkpoint(const std::string& path, LoadMode mode) {
  if (!std::filesystem::exists(path)) fail(ErrorKind::kNotFound, "{}: no such file", path);
  GgufFile first = open_gguf(path, mode);
  const int64_t count = first.get_int_opt("split.count").value_or(1);
  if (count <= 1) return gguf_checkpoint(first);

  // A model split by llama.cpp's gguf-split: <prefix>-00001-of-000NN.gguf ... (split.no counts
  // from 0). Any shard may be named; the set is opened from the first, whose metadata is the
  // model's, and the tensors of all shards are merged.
  if (count > 99999) fail("{}: split.count = {} is out of range", path, count);
  const std::string tail = fmt::format("-of-{:05d}.gguf", count);
  const size_t at = path.size() >= tail.size() + 6 ? path.size() - tail.size() - 6 : std::string::npos;
  if (at == std::string::npos || path.compare(path.size() - tail.size(), tail.size(), tail) != 0 || path[at] != '-')
    fail("{}: a split GGUF file (split.count {}) must be named <name>-NNNNN-of-{:05d}.gguf", path, count, count);
  const std::string prefix = path.substr(0, at);
  std::vector<std::shared_ptr<MappedFile>> extra;
  GgufFile merged;
  for (int64_t i = 0; i < count; ++i) {
    const std::string shard = fmt::format("{}-{:05d}{}", prefix, i + 1, tail);
    if (!std::filesystem::exists(shard)) fail(ErrorKind::kNotFound, "{}: shard {} of {} is missing", shard, i + 1, count);
    GgufFile g = shard == path ? std::move(first) : open_gguf(shard, mode);
    if (g.get_int_opt("split.count").value_or(1) != count || g.get_int_opt("split.no").value_or(-1) != i)
      fail("{}: split.no / split.count say this is not shard {} of {}", shard, i + 1, count);
    if (i == 0) {
      merged = std::move(g);
      continue;
    }
    extra.push_back(g.file);
    for (GgufTensorInfo& t : g.tensors) {
      if (merged.tensor_index.count(t.name)) fail("{}: tensor '{}' is also in an earlier shard", shard, t.name);
      merged.tensor_index.emplace(t.name, merged.tensors.size());
      merged.tensors.push_back(std::move(t));
    }
  }
  if (auto total = merged.get_int_opt("split.tensors.count"); total && *total != int64_t(merged.tensors.size()))
    fail("{}: the shards hold {} tensors, split.tensors.count says {}", merged.path, merged.tensors.size(), *total);
  std::shared_ptr<Checkpoint> ckpt = gguf_checkpoint(merged);
  ckpt->files.insert(ckpt->files.end(), extra.begin(), extra.end());
  return ckpt;
}

}  // namespace r1
