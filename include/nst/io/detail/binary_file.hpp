// nst/io/detail/binary_file.hpp — bounds-checked reading of binary files and byte buffers.
//
// Weight files come from the internet, so every read is checked against the file size before it
// happens: asking for bytes past the end raises format_error 301 ("truncated") naming the file and
// what was being read, never an out-of-bounds access. A missing or unreadable file is an io_error.
//
//   nst::detail::input_file file(path, "load_safetensors");
//   std::string header = file.read_at(8, header_length, "the JSON header");
//
// `byte_reader` is the sequential view the unpickler consumes; `memory_reader` reads a buffer
// (a zip entry), `file_reader` reads a file from some offset on (a legacy .pth), in 64 KB chunks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "../../core/error.hpp"

namespace nst {
namespace detail {

// Unsigned little-endian integer of `bytes` bytes (at most 8) starting at `p`.
inline std::uint64_t load_le(const char* p, int bytes) {
  std::uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(p[i]);
  return value;
}
inline std::uint16_t load_u16(const char* p) { return static_cast<std::uint16_t>(load_le(p, 2)); }
inline std::uint32_t load_u32(const char* p) { return static_cast<std::uint32_t>(load_le(p, 4)); }
inline std::uint64_t load_u64(const char* p) { return load_le(p, 8); }

// Appends `value` as `bytes` little-endian bytes.
inline void store_le(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

// A read-only binary file with its size; every read is bounds-checked.
class input_file {
 public:
  // `caller` names the public function for error messages ("load_pth").
  input_file(const std::string& path, const char* caller) : path_(path), caller_(caller) {
    std::error_code ec;
    NST_CHECK(std::filesystem::exists(path, ec), io_error, 400, caller_, ": cannot open '", path_,
              "': no such file");
    NST_CHECK(std::filesystem::is_regular_file(path, ec), io_error, 400, caller_, ": cannot open '",
              path_, "': not a regular file");
    size_ = std::filesystem::file_size(path, ec);
    in_.open(path, std::ios::binary);
    NST_CHECK(!ec && in_.is_open(), io_error, 400, caller_, ": cannot open '", path_,
              "' for reading (permission denied?)");
  }

  const std::string& path() const noexcept { return path_; }
  const std::string& caller() const noexcept { return caller_; }
  std::uint64_t size() const noexcept { return size_; }

  // "load_pth: 'x.pth'" — the start of every message about this file.
  std::string where() const { return caller_ + ": '" + path_ + "'"; }

  // Copies `n` bytes at `offset` into `out`; `what` names them for the truncation error.
  void read_at(std::uint64_t offset, char* out, std::uint64_t n, const std::string& what) {
    check_range(offset, n, what);
    if (n == 0) return;
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(out, static_cast<std::streamsize>(n));
    NST_CHECK(in_.gcount() == static_cast<std::streamsize>(n), io_error, 401, where(),
              ": reading ", n, " bytes at offset ", offset, " failed");
  }

  std::string read_at(std::uint64_t offset, std::uint64_t n, const std::string& what) {
    check_range(offset, n, what);  // before allocating: a hostile length must not allocate
    std::string bytes(static_cast<std::size_t>(n), '\0');
    read_at(offset, &bytes[0], n, what);
    return bytes;
  }

 private:
  void check_range(std::uint64_t offset, std::uint64_t n, const std::string& what) const {
    NST_CHECK(offset <= size_ && n <= size_ - offset, format_error, 301, where(),
              " is truncated or corrupt: ", what, " needs bytes [", offset, ", ", offset + n,
              ") but the file has ", size_, " bytes");
  }

  std::string path_;
  std::string caller_;
  std::ifstream in_;
  std::uint64_t size_ = 0;
};

// Sequential reading for the unpickler. `read` raises format_error 301 when fewer bytes remain.
class byte_reader {
 public:
  virtual ~byte_reader() = default;
  virtual void read(char* out, std::uint64_t n) = 0;
  virtual std::uint64_t remaining() const = 0;
  virtual std::uint64_t position() const = 0;  // for error messages
};

class memory_reader : public byte_reader {
 public:
  // `where` and `what` name the buffer in errors ("load_pth: 'x.pth'", "archive/data.pkl").
  memory_reader(const std::string& bytes, std::string where, std::string what)
      : bytes_(bytes), where_(std::move(where)), what_(std::move(what)) {}

  void read(char* out, std::uint64_t n) override {
    NST_CHECK(n <= remaining(), format_error, 301, where_, " is truncated or corrupt: ", what_,
              " ends at byte ", bytes_.size(), " but ", n, " more bytes are needed at byte ", pos_);
    std::memcpy(out, bytes_.data() + pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
  }
  std::uint64_t remaining() const override { return bytes_.size() - pos_; }
  std::uint64_t position() const override { return pos_; }

 private:
  const std::string& bytes_;
  std::string where_, what_;
  std::size_t pos_ = 0;
};

class file_reader : public byte_reader {
 public:
  file_reader(input_file& file, std::uint64_t start, std::string what)
      : file_(file), buffer_start_(start), what_(std::move(what)) {}

  void read(char* out, std::uint64_t n) override {
    NST_CHECK(n <= remaining(), format_error, 301, file_.where(), " is truncated or corrupt: ",
              what_, " needs ", n, " bytes at offset ", position(), " but the file has ",
              file_.size(), " bytes");
    while (n > 0) {
      if (buffer_pos_ == buffer_.size()) refill();
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, buffer_.size() - buffer_pos_));
      std::memcpy(out, buffer_.data() + buffer_pos_, take);
      buffer_pos_ += take;
      out += take;
      n -= take;
    }
  }
  std::uint64_t remaining() const override { return file_.size() - position(); }
  std::uint64_t position() const override { return buffer_start_ + buffer_pos_; }

 private:
  void refill() {
    buffer_start_ += buffer_.size();
    buffer_ = file_.read_at(buffer_start_, std::min<std::uint64_t>(chunk, file_.size() - buffer_start_), what_);
    buffer_pos_ = 0;
  }

  static constexpr std::uint64_t chunk = 1 << 16;
  input_file& file_;
  std::string buffer_;
  std::uint64_t buffer_start_;
  std::size_t buffer_pos_ = 0;
  std::string what_;
};

}  // namespace detail
}  // namespace nst
