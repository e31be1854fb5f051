// A read-only file held in memory: mmap'd (zero-copy, the page cache is the only copy),
// mmap'd and locked (--mlock, so the kernel cannot evict weights mid-benchmark), or read into
// anonymous memory (--no-mmap).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace r1 {

enum class LoadMode { kMmap, kMlock, kRead };

class MappedFile {
 public:
  // Throws r1::Error naming the path when the file cannot be opened, mapped or read.
  static std::shared_ptr<MappedFile> open(const std::string& path, LoadMode mode = LoadMode::kMmap);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool locked() const { return locked_; }

 private:
  MappedFile() = default;
  std::string path_;
  std::byte* data_ = nullptr;
  uint64_t size_ = 0;
  bool mapped_ = false;
  bool locked_ = false;
};

}  // namespace r1
