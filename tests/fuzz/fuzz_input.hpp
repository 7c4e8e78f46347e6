// fuzz_input.hpp — what the libFuzzer harnesses share: the input as a file, and the one rule.
//
// nst's loaders read from a path, so each input is written to a per-process file (in /dev/shm
// when there is one, so that no disk is touched) and loaded from there. The rule every harness
// checks: a loader returns, or throws an nst::error. Anything else — a crash, a sanitizer report,
// a different exception (std::bad_alloc, std::length_error, ...), a hang, an allocation over
// libFuzzer's -malloc_limit_mb — is a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace nst_fuzz {

// A file that holds the current input; removed when the process ends normally.
class input_file {
 public:
  explicit input_file(const char* name) {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
    path_ = std::string(dir) + "/nst-fuzz-" + std::to_string(::getpid()) + "-" + name;
  }
  ~input_file() { std::remove(path_.c_str()); }

  // Replaces the file's contents with `data` and returns its path.
  const std::string& write(const std::uint8_t* data, std::size_t size) {
    std::FILE* out = std::fopen(path_.c_str(), "wb");
    if (!out || (size > 0 && std::fwrite(data, 1, size, out) != size) || std::fclose(out) != 0) {
      std::perror(path_.c_str());
      std::abort();  // the harness itself failed, not nst
    }
    return path_;
  }

 private:
  std::string path_;
};

}  // namespace nst_fuzz
