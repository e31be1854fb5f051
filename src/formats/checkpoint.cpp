// Hugging Face directory loading: single-file or sharded safetensors, every shard validated.
#include "formats/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "formats/gguf_checkpoint.h"
#include "formats/safetensors.h"

namespace r1 {

namespace fs = std::filesystem;

uint64_t Checkpoint::tensor_bytes() const {
  uint64_t total = 0;
  for (const auto& [name, t] : tensors) total += t.view.nbytes;
  return total;
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "{}: cannot open", path);
  std::stringstream buf;
  buf << in.rdbuf();
  try {
    return nlohmann::json::parse(buf.str());
  } catch (const nlohmann::json::exception& e) {  // parse errors, and numbers out of range
    fail("{}: not valid JSON: {}", path, e.what());
  }
}

namespace {

void add_file(Checkpoint& ckpt, const std::string& path, LoadMode mode,
              const std::set<std::string>* only) {
  SafetensorsFile st = open_safetensors(path, mode);
  std::string short_name = fs::path(path).filename().string();
  for (auto& [name, view] : st.tensors) {
    if (only && !only->count(name)) continue;
    if (ckpt.tensors.count(name))
      fail("{}: tensor '{}' also appears in {}", short_name, name, ckpt.tensors[name].file);
    ckpt.tensors.emplace(name, TensorEntry{view, short_name});
  }
  ckpt.files.push_back(st.file);
}

}  // namespace

std::shared_ptr<Checkpoint> open_checkpoint(const std::string& path, LoadMode mode, bool allow_config_only) {
  fs::path dir(path);
  if (fs::is_regular_file(dir) && dir.extension() == ".gguf") return open_gguf_checkpoint(path, mode);
  if (!fs::is_directory(dir)) {
    if (!fs::exists(dir)) fail(ErrorKind::kNotFound, "{}: no such model directory", path);
    fail(ErrorKind::kUnsupported, "{}: not a model directory (expected config.json + *.safetensors)", path);
  }
  auto ckpt = std::make_shared<Checkpoint>();
  ckpt->path = path;
  fs::path config = dir / "config.json";
  if (!fs::exists(config)) fail(ErrorKind::kNotFound, "{}: config.json is missing", path);
  ckpt->config = read_json_file(config.string());
  if (!ckpt->config.is_object()) fail("{}: must be a JSON object", config.string());
  fs::path gen = dir / "generation_config.json";
  if (fs::exists(gen)) ckpt->generation_config = read_json_file(gen.string());

  fs::path index = dir / "model.safetensors.index.json";
  fs::path single = dir / "model.safetensors";
  if (fs::exists(index)) {
    nlohmann::json idx = read_json_file(index.string());
    auto wm = idx.find("weight_map");
    if (!idx.is_object() || wm == idx.end() || !wm->is_object())
      fail("{}: missing 'weight_map' object", index.string());
    std::map<std::string, std::set<std::string>> by_file;
    for (auto& [name, file] : wm->items()) {
      if (!file.is_string()) fail("{}: weight_map['{}'] must be a file name", index.string(), name);
      std::string f = file.get<std::string>();
      if (f.empty() || f.find('/') != std::string::npos || f == "..")
        fail("{}: weight_map['{}'] = '{}' is not a file in the model directory", index.string(), name, f);
      by_file[f].insert(name);
    }
    for (auto& [file, names] : by_file) {
      fs::path shard = dir / file;
      if (!fs::exists(shard))
        fail(ErrorKind::kNotFound, "{}: shard '{}' listed in model.safetensors.index.json is missing",
             path, file);
      add_file(*ckpt, shard.string(), mode, &names);
      for (const std::string& name : names)
        if (!ckpt->tensors.count(name))
          fail("{}: tensor '{}' is listed in model.safetensors.index.json but not in the shard", file, name);
    }
  } else if (fs::exists(single)) {
    add_file(*ckpt, single.string(), mode, nullptr);
  } else if (allow_config_only) {
    ckpt->config_only = true;
  } else {
    fail(ErrorKind::kNotFound, "{}: no model.safetensors or model.safetensors.index.json", path);
  }
  return ckpt;
}

}  // namespace r1
