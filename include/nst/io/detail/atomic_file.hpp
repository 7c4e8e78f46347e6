// nst/io/detail/atomic_file.hpp — write a file so that readers see the old one or the new one,
// never half of either.
//
// The bytes go to a temporary file `<path>.tmp-XXXXXX` in the same directory (so the final
// rename stays inside one file system), which is flushed to disk (fsync) and then renamed over
// `path` in one step. If anything fails — opening, writing, the producer throwing, fsync, the
// rename — the temporary file is removed and an existing `path` is left untouched.
//
//   nst::detail::write_file_atomically("out.bin", "save_weights", [&](nst::detail::byte_sink& out) {
//     out.write(header.data(), header.size());
//     out.write(payload.data(), payload.size());
//   });
//
// byte_sink::write never throws (so it may be called from C code, e.g. stb's write callbacks):
// it remembers the first error and ignores later writes; write_file_atomically raises it
// (io_error 422) once the producer returns. POSIX only (open/fsync/rename).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

#include "../../core/error.hpp"

namespace nst {
namespace detail {

// Where a producer writes its bytes: the open temporary file.
class byte_sink {
 public:
  explicit byte_sink(int fd) : fd_(fd) {}

  // Writes all `size` bytes (retrying short writes and interrupted calls); true on success.
  bool write(const void* data, std::size_t size) noexcept {
    const char* p = static_cast<const char*>(data);
    while (error_ == 0 && size > 0) {
      const ::ssize_t written = ::write(fd_, p, size);
      if (written < 0) {
        if (errno != EINTR) error_ = errno;
        continue;
      }
      p += written;
      size -= static_cast<std::size_t>(written);
    }
    return error_ == 0;
  }
  int error() const noexcept { return error_; }  // the first errno, 0 if none

 private:
  int fd_;
  int error_ = 0;
};

// Owns the temporary file until it is renamed into place; removes it otherwise.
class temporary_file {
 public:
  temporary_file(const std::string& target, const char* caller) {
    static std::atomic<unsigned> counter{0};
    int open_error = 0;
    for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
      const unsigned salt = counter++ ^ static_cast<unsigned>(::getpid()) * 2654435761u ^
                            static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count());
      char suffix[16];
      std::snprintf(suffix, sizeof suffix, ".tmp-%06x", salt & 0xffffffu);
      path_ = target + suffix;
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);  // 0666 less the umask
      open_error = errno;
      if (fd_ < 0 && open_error != EEXIST) break;  // a name collision is retried, nothing else
    }
    NST_CHECK(fd_ >= 0, io_error, 421, caller, ": cannot create the temporary file ", path_, " to write ", target,
              ": ", std::strerror(open_error));
  }
  temporary_file(const temporary_file&) = delete;
  temporary_file& operator=(const temporary_file&) = delete;
  ~temporary_file() {
    if (fd_ >= 0) ::close(fd_);
    if (!renamed_) ::unlink(path_.c_str());
  }

  int fd() const noexcept { return fd_; }
  const std::string& path() const noexcept { return path_; }

  // Flushes the data to disk, closes the file and renames it to `target`.
  void commit(const std::string& target, const char* caller) {
    if (::fsync(fd_) != 0) fail(422, "cannot flush it to disk", target, caller);
    const int closed = ::close(fd_);
    fd_ = -1;
    if (closed != 0) fail(422, "cannot close it", target, caller);
    if (::rename(path_.c_str(), target.c_str()) != 0) fail(423, "cannot rename it to the target", target, caller);
    renamed_ = true;
  }

 private:
  [[noreturn]] void fail(int id, const char* problem, const std::string& target, const char* caller) const {
    const int error = errno;
    NST_THROW(io_error, id, caller, ": writing ", target, " through ", path_, ": ", problem, ": ", std::strerror(error));
  }

  std::string path_;
  int fd_ = -1;
  bool renamed_ = false;
};

// Runs `produce(byte_sink&)` into a temporary file next to `path`, then replaces `path` with it.
// `caller` names the public function in error messages.
template <class Produce>
void write_file_atomically(const std::string& path, const char* caller, Produce&& produce) {
  temporary_file file(path, caller);
  byte_sink sink(file.fd());
  produce(sink);
  NST_CHECK(sink.error() == 0, io_error, 422, caller, ": writing ", file.path(), " (for ", path,
            ") failed: ", std::strerror(sink.error()));
  file.commit(path, caller);
}

}  // namespace detail
}  // namespace nst
