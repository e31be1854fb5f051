// Parsing and validation of safetensors headers (format: github.com/huggingface/safetensors spec).
#include "formats/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"

namespace r1 {

namespace {

using nlohmann::json;

int64_t checked_dim(const json& d, const std::string& where) {
  if (!d.is_number_integer() && !d.is_number_unsigned())
    fail("{}: shape entries must be non-negative integers", where);
  if (d.is_number_integer() && d.get<int64_t>() < 0) fail("{}: negative dimension in shape", where);
  uint64_t v = d.get<uint64_t>();
  if (v > uint64_t(std::numeric_limits<int64_t>::max())) fail("{}: dimension too large", where);
  return int64_t(v);
}

uint64_t checked_offset(const json& o, const std::string& where) {
  if (!o.is_number_unsigned() && !(o.is_number_integer() && o.get<int64_t>() >= 0))
    fail("{}: data_offsets must be two non-negative integers", where);
  return o.get<uint64_t>();
}

}  // namespace

SafetensorsFile parse_safetensors(const std::byte* data, uint64_t size, const std::string& name) {
  SafetensorsFile out;
  out.path = name;
  if (size < 8) fail("{}: not a safetensors file: {} bytes, too short for the header length", name, size);
  uint64_t header_len = 0;
  std::memcpy(&header_len, data, 8);  // little-endian on every platform r1 runs on
  if (header_len > kMaxSafetensorsHeader)
    fail("{}: header length {} is absurd (limit {} bytes); the file is corrupt or not safetensors",
         name, header_len, kMaxSafetensorsHeader);
  if (header_len > size - 8)
    fail("{}: header length {} runs past the end of the {}-byte file (truncated?)", name, header_len,
         size);
  const char* header_begin = reinterpret_cast<const char*>(data + 8);
  json header;
  try {
    header = json::parse(header_begin, header_begin + header_len);
  } catch (const json::exception& e) {  // parse errors, and numbers out of range (406)
    fail("{}: header is not valid JSON: {}", name, e.what());
  }
  if (!header.is_object()) fail("{}: header must be a JSON object", name);

  const std::byte* data_begin = data + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  struct Span {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Span> spans;

  for (auto& [key, entry] : header.items()) {
    if (key == "__metadata__") {
      if (!entry.is_object()) fail("{}: __metadata__ must be an object", name);
      for (auto& [mk, mv] : entry.items()) {
        if (!mv.is_string()) fail("{}: __metadata__ value '{}' must be a string", name, mk);
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    const std::string where = fmt::format("{}: tensor '{}'", name, key);
    if (!entry.is_object()) fail("{}: entry must be an object", where);
    auto dt = entry.find("dtype");
    auto sh = entry.find("shape");
    auto off = entry.find("data_offsets");
    if (dt == entry.end() || !dt->is_string()) fail("{}: missing or non-string 'dtype'", where);
    if (sh == entry.end() || !sh->is_array()) fail("{}: missing or non-array 'shape'", where);
    if (off == entry.end() || !off->is_array() || off->size() != 2)
      fail("{}: 'data_offsets' must be an array of two integers", where);

    auto dtype = dtype_from_safetensors(dt->get<std::string>());
    if (!dtype) fail("{}: unknown dtype '{}'", where, dt->get<std::string>());
    if (sh->size() > 8) fail("{}: {} dimensions is more than any checkpoint uses", where, sh->size());

    TensorView view;
    view.dtype = *dtype;
    uint64_t numel = 1;
    for (const json& d : *sh) {
      int64_t dim = checked_dim(d, where);
      view.shape.push_back(dim);
      if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / uint64_t(dim))
        fail("{}: shape {} overflows", where, sh->dump());
      numel *= uint64_t(dim);
    }
    uint64_t begin = checked_offset((*off)[0], where);
    uint64_t end = checked_offset((*off)[1], where);
    if (begin > end) fail("{}: data_offsets [{}, {}] are reversed", where, begin, end);
    auto expected = dtype_bytes(*dtype, numel);
    if (!expected) fail("{}: byte size of shape {} overflows", where, shape_str(view.shape));
    if (end - begin != *expected)
      fail("{}: {} bytes in data_offsets but dtype {} x shape {} needs {} bytes", where, end - begin,
           dt->get<std::string>(), shape_str(view.shape), *expected);
    if (end > data_size)
      fail("{}: data_offsets [{}, {}] run past the end of the data section ({} bytes; truncated file?)",
           where, begin, end, data_size);
    view.data = data_begin + begin;
    view.nbytes = end - begin;
    auto [it, inserted] = out.tensors.emplace(key, std::move(view));
    spans.push_back({begin, end, &it->first});
  }

  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  const Span* furthest = nullptr;  // the non-empty span reaching furthest so far
  for (const Span& cur : spans) {
    if (cur.begin == cur.end) continue;  // empty tensors occupy no bytes
    if (furthest && cur.begin < furthest->end)
      fail("{}: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", name, *furthest->name,
           furthest->begin, furthest->end, *cur.name, cur.begin, cur.end);
    if (!furthest || cur.end > furthest->end) furthest = &cur;
  }
  return out;
}

SafetensorsFile open_safetensors(const std::string& path, LoadMode mode) {
  auto file = MappedFile::open(path, mode);
  SafetensorsFile out = parse_safetensors(file->data(), file->size(), path);
  out.file = std::move(file);
  return out;
}

}  // namespace r1
