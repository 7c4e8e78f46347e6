// nst/io/detail/zip.hpp — the central directory of a zip archive, for PyTorch's .pth files.
//
// torch.save (PyTorch >= 1.6) writes a zip of *stored* (uncompressed) entries:
// `<name>/data.pkl`, `<name>/data/<storage key>`, `<name>/version`, ... This reader lists the
// entries from the central directory (zip64 records and extra fields included, for archives over
// 4 GB) and gives the file offset of an entry's bytes so a loader can seek straight to the
// tensors it wants. Compressed or encrypted entries are refused (format_error 316); every offset
// and size is checked against the file (format_error 315/319).
//
//   nst::detail::zip_archive zip(file);
//   const zip_entry* pkl = zip.find("archive/data.pkl");
//   std::string pickle = zip.read(*pkl, "the pickle");
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "binary_file.hpp"

namespace nst {
namespace detail {

struct zip_entry {
  std::string name;
  std::uint64_t size = 0;             // uncompressed size
  std::uint64_t compressed_size = 0;
  std::uint64_t local_header_offset = 0;
  std::uint16_t method = 0;           // 0 = stored
  std::uint16_t flags = 0;            // bit 0 = encrypted
};

class zip_archive {
 public:
  static constexpr std::uint32_t local_header_signature = 0x04034b50;
  static constexpr std::uint32_t central_header_signature = 0x02014b50;
  static constexpr std::uint32_t end_signature = 0x06054b50;
  static constexpr std::uint32_t zip64_end_signature = 0x06064b50;
  static constexpr std::uint32_t zip64_locator_signature = 0x07064b50;

  explicit zip_archive(input_file& file) : file_(file) { read_central_directory(); }

  const std::vector<zip_entry>& entries() const noexcept { return entries_; }

  const zip_entry* find(const std::string& name) const {
    for (const zip_entry& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }

  // Offset in the file of the entry's bytes, after its local header; checks the entry is stored
  // uncompressed and lies inside the file.
  std::uint64_t data_offset(const zip_entry& e) const {
    NST_CHECK((e.flags & 1u) == 0, format_error, 316, file_.where(), ": zip entry '", e.name,
              "' is encrypted; nst reads only plain stored entries");
    NST_CHECK(e.method == 0, format_error, 316, file_.where(), ": zip entry '", e.name,
              "' is compressed (method ", e.method,
              "); nst reads only stored entries, as torch.save writes them. Re-save the file with "
              "torch.save, or convert it to safetensors");
    NST_CHECK(e.compressed_size == e.size, format_error, 319, file_.where(), ": stored zip entry '",
              e.name, "' has compressed size ", e.compressed_size, " but size ", e.size);
    const std::string header = file_.read_at(e.local_header_offset, 30, "the local header of '" + e.name + "'");
    NST_CHECK(load_u32(header.data()) == local_header_signature, format_error, 315, file_.where(),
              ": zip entry '", e.name, "' has no local header at offset ", e.local_header_offset);
    const std::uint64_t start = e.local_header_offset + 30 + load_u16(header.data() + 26) +
                                load_u16(header.data() + 28);
    NST_CHECK(start <= file_.size() && e.size <= file_.size() - start, format_error, 319,
              file_.where(), ": zip entry '", e.name, "' (", e.size, " bytes at offset ", start,
              ") runs past the end of the file (", file_.size(), " bytes)");
    return start;
  }

  // The whole entry; refuses entries larger than `max_size` before allocating.
  std::string read(const zip_entry& e, std::uint64_t max_size) const {
    NST_CHECK(e.size <= max_size, format_error, 319, file_.where(), ": zip entry '", e.name,
              "' declares ", e.size, " bytes, more than the ", max_size, " allowed");
    return file_.read_at(data_offset(e), e.size, "zip entry '" + e.name + "'");
  }

 private:
  [[noreturn]] void corrupt(const std::string& problem) const {
    NST_THROW(format_error, 315, file_.where(), ": not a valid zip archive: ", problem);
  }

  // The end-of-central-directory record: the last 22 bytes, or earlier when a comment follows.
  std::uint64_t find_end_record() const {
    const std::uint64_t size = file_.size();
    if (size < 22) corrupt("the file is too short (" + std::to_string(size) + " bytes) to hold one");
    const std::uint64_t span = std::min<std::uint64_t>(size, 22 + 0xFFFF);
    const std::string tail = file_.read_at(size - span, span, "the end of the zip archive");
    for (std::uint64_t i = span - 22 + 1; i-- > 0;) {
      const char* p = tail.data() + i;
      if (load_u32(p) == end_signature && i + 22 + load_u16(p + 20) == span) return size - span + i;
    }
    corrupt("no end-of-central-directory record (truncated file?)");
  }

  void read_central_directory() {
    const std::uint64_t end_at = find_end_record();
    const std::string end = file_.read_at(end_at, 22, "the end-of-central-directory record");
    std::uint64_t count = load_u16(end.data() + 10);
    std::uint64_t directory_size = load_u32(end.data() + 12);
    std::uint64_t directory_at = load_u32(end.data() + 16);
    std::uint64_t directory_end = end_at;
    if (load_u16(end.data() + 4) != 0 || load_u16(end.data() + 6) != 0)
      corrupt("multi-disk archives are not supported");
    if (count == 0xFFFF || directory_size == 0xFFFFFFFF || directory_at == 0xFFFFFFFF) {
      // zip64: a locator right before the end record points at the zip64 end record.
      if (end_at < 20) corrupt("zip64 locator missing");
      const std::string locator = file_.read_at(end_at - 20, 20, "the zip64 locator");
      if (load_u32(locator.data()) != zip64_locator_signature) corrupt("zip64 locator missing");
      const std::uint64_t record_at = load_u64(locator.data() + 8);
      const std::string record = file_.read_at(record_at, 56, "the zip64 end-of-central-directory record");
      if (load_u32(record.data()) != zip64_end_signature) corrupt("bad zip64 end-of-central-directory record");
      count = load_u64(record.data() + 32);
      directory_size = load_u64(record.data() + 40);
      directory_at = load_u64(record.data() + 48);
      directory_end = record_at;
    }
    if (directory_at > directory_end || directory_size > directory_end - directory_at)
      corrupt("the central directory (" + std::to_string(directory_size) + " bytes at offset " +
              std::to_string(directory_at) + ") lies outside the archive");
    if (count > directory_size / 46)
      corrupt(std::to_string(count) + " entries cannot fit in a central directory of " +
              std::to_string(directory_size) + " bytes");
    const std::string directory = file_.read_at(directory_at, directory_size, "the central directory");
    std::size_t pos = 0;
    for (std::uint64_t i = 0; i < count; ++i) pos = read_entry(directory, pos);
  }

  // Parses the central directory header at `pos`; returns the position of the next one.
  std::size_t read_entry(const std::string& directory, std::size_t pos) {
    if (directory.size() - pos < 46 || load_u32(directory.data() + pos) != central_header_signature)
      corrupt("bad central directory entry at offset " + std::to_string(pos));
    const char* h = directory.data() + pos;
    const std::size_t name_length = load_u16(h + 28), extra_length = load_u16(h + 30),
                      comment_length = load_u16(h + 32);
    if (directory.size() - pos - 46 < name_length + extra_length + comment_length)
      corrupt("central directory entry at offset " + std::to_string(pos) + " runs past its end");
    zip_entry e;
    e.flags = load_u16(h + 8);
    e.method = load_u16(h + 10);
    e.compressed_size = load_u32(h + 20);
    e.size = load_u32(h + 24);
    e.local_header_offset = load_u32(h + 42);
    e.name.assign(h + 46, name_length);
    apply_zip64_extra(e, std::string(h + 46 + name_length, extra_length), load_u16(h + 34));
    entries_.push_back(std::move(e));
    return pos + 46 + name_length + extra_length + comment_length;
  }

  // The zip64 extra field (id 1) holds, in this order, the 64-bit values of whichever of size,
  // compressed size and local header offset are 0xFFFFFFFF in the fixed header.
  void apply_zip64_extra(zip_entry& e, const std::string& extra, std::uint16_t disk) const {
    for (std::size_t pos = 0; extra.size() - pos >= 4;) {
      const std::uint16_t id = load_u16(extra.data() + pos);
      const std::size_t length = load_u16(extra.data() + pos + 2);
      if (extra.size() - pos - 4 < length) corrupt("extra field of '" + e.name + "' runs past its end");
      if (id == 1) {
        const char* field = extra.data() + pos + 4;
        std::size_t used = 0;
        for (std::uint64_t* value : {&e.size, &e.compressed_size, &e.local_header_offset}) {
          if (*value != 0xFFFFFFFF) continue;
          if (length - used < 8) corrupt("zip64 extra field of '" + e.name + "' is too short");
          *value = load_u64(field + used);
          used += 8;
        }
      }
      pos += 4 + length;
    }
    if (disk != 0 && disk != 0xFFFF) corrupt("entry '" + e.name + "' lies on another disk");
  }

  input_file& file_;
  std::vector<zip_entry> entries_;
};

}  // namespace detail
}  // namespace nst
