// POSIX implementation of MappedFile.
#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/log.h"

namespace r1 {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path, LoadMode mode) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::kIo, "{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorKind::kIo, "{}: not a regular file", path);
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = uint64_t(st.st_size);
  if (file->size_ == 0) {
    ::close(fd);
    return file;
  }
  if (mode == LoadMode::kRead) {
    void* mem = std::aligned_alloc(64, (file->size_ + 63) / 64 * 64);
    if (!mem) {
      ::close(fd);
      fail(ErrorKind::kIo, "{}: cannot allocate {} bytes", path, file->size_);
    }
    file->data_ = static_cast<std::byte*>(mem);
    uint64_t done = 0;
    while (done < file->size_) {
      ssize_t n = ::pread(fd, file->data_ + done, file->size_ - done, off_t(done));
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        ::close(fd);
        fail(ErrorKind::kIo, "{}: read failed at byte {}", path, done);
      }
      done += uint64_t(n);
    }
    ::close(fd);
    return file;
  }
  void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) fail(ErrorKind::kIo, "{}: mmap failed: {}", path, std::strerror(errno));
  file->data_ = static_cast<std::byte*>(p);
  file->mapped_ = true;
  if (mode == LoadMode::kMlock) {
    if (::mlock(p, file->size_) == 0) {
      file->locked_ = true;
    } else {
      log_warn("{}: mlock failed ({}); weights may be evicted and re-read", path,
               std::strerror(errno));
    }
  }
  return file;
}

MappedFile::~MappedFile() {
  if (!data_) return;
  if (mapped_) {
    if (locked_) ::munlock(data_, size_);
    ::munmap(data_, size_);
  } else {
    std::free(data_);
  }
}

}  // namespace r1
