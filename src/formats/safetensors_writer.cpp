// safetensors writer: header first (offsets are known from shapes), then each tensor's bytes
// through a bounded buffer.
#include "formats/safetensors_writer.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace r1 {

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::vector<uint64_t> sizes;
  for (const TensorToWrite& t : tensors) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= uint64_t(d);
    auto bytes = dtype_bytes(t.dtype, numel);
    if (!bytes) fail("{}: tensor '{}' has an invalid size", path, t.name);
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + *bytes}}};
    sizes.push_back(*bytes);
    offset += *bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) fail(ErrorKind::kIo, "{}: cannot create: {}", path, std::strerror(errno));
  uint64_t len = text.size();
  bool ok = std::fwrite(&len, 8, 1, f.get()) == 1 && std::fwrite(text.data(), 1, text.size(), f.get()) == text.size();
  std::vector<std::byte> buf;
  for (size_t i = 0; ok && i < tensors.size(); ++i) {
    buf.resize(size_t(sizes[i]));
    if (sizes[i]) tensors[i].fill(buf.data(), sizes[i]);
    ok = std::fwrite(buf.data(), 1, buf.size(), f.get()) == buf.size();
  }
  if (!ok || std::fflush(f.get()) != 0) fail(ErrorKind::kIo, "{}: write failed: {}", path, std::strerror(errno));
}

}  // namespace r1
