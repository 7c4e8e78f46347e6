// Helpers shared by the weight-file tests: fixture and scratch files, the values Python wrote
// (tests/fixtures/weights/<set>.expected.*), and builders for hand-made pickles and zip archives
// used to craft legacy, Python-2-style, zip64 and hostile files.
#pragma once

#include <nst/core/tensor.hpp>
#include <nst/io/detail/weight_types.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../../support/support.hpp"

namespace nst_test {

inline std::string weight_fixture(const std::string& name) { return fixture_path("weights/" + name); }

inline std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_file_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// `value` as `bytes` little-endian bytes.
inline std::string le_bytes(std::uint64_t value, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((value >> (8 * i)) & 0xFF);
  return out;
}

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class scratch_dir {
 public:
  scratch_dir() {
    std::random_device entropy;
    path_ = std::filesystem::temp_directory_path() / ("nst-weights-test-" + std::to_string(entropy()));
    std::filesystem::create_directories(path_);
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Writes `bytes` to a file called `name` here and returns its path.
  std::string write(const std::string& name, const std::string& bytes) const {
    write_file_bytes(file(name), bytes);
    return file(name);
  }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path_))
      names.push_back(entry.path().filename().string());
    return names;
  }

 private:
  std::filesystem::path path_;
};

// The tensors of tests/fixtures/weights/<set>.expected.{txt,f64}, as Python wrote them, in order.
inline std::vector<std::pair<std::string, nst::tensor<double>>> expected_tensors(const std::string& set) {
  std::ifstream index(weight_fixture(set + ".expected.txt"));
  REQUIRE(index.good());
  const std::string values = read_file_bytes(weight_fixture(set + ".expected.f64"));
  std::vector<std::pair<std::string, nst::tensor<double>>> out;
  std::size_t offset = 0;
  for (std::string line; std::getline(index, line);) {
    std::istringstream fields(line);
    std::string name, dims_text;
    fields >> name >> dims_text;
    nst::shape dims;
    std::istringstream dims_in(dims_text);
    for (std::string d; std::getline(dims_in, d, ',');) dims.push_back(std::stol(d));
    nst::tensor<double> t(dims);
    const std::size_t bytes = static_cast<std::size_t>(t.size()) * 8;
    REQUIRE(offset + bytes <= values.size());
    for (nst::index_t i = 0; i < t.size(); ++i) {
      std::uint64_t bits = 0;
      for (int b = 7; b >= 0; --b)
        bits = (bits << 8) | static_cast<unsigned char>(values[offset + static_cast<std::size_t>(i) * 8 + static_cast<std::size_t>(b)]);
      std::memcpy(&t[i], &bits, 8);
    }
    offset += bytes;
    out.emplace_back(name, std::move(t));
  }
  REQUIRE(offset == values.size());
  return out;
}

// Checks that `w` holds exactly the tensors of `set`, in order, each value equal to Python's
// (converted to T the way a C++ cast does: exact for F16/BF16/F32, rounded for F64 as float).
template <class T>
void check_matches_expected(const nst::weight_file<T>& w, const std::string& set) {
  const auto expected = expected_tensors(set);
  REQUIRE(w.names.size() == expected.size());
  REQUIRE(w.tensors.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO(w.format << " tensor " << expected[i].first);
    CHECK(w.names[i] == expected[i].first);
    const nst::tensor<T>& got = w.at(expected[i].first);
    const nst::tensor<double>& want = expected[i].second;
    REQUIRE(got.shape() == want.shape());
    nst::index_t mismatches = 0;
    for (nst::index_t k = 0; k < want.size(); ++k) mismatches += got[k] != static_cast<T>(want[k]);
    CHECK(mismatches == 0);
  }
}

inline std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return le_bytes(header.size(), 8) + header + data;
}

// ---- hand-made pickles ----
inline std::string op(unsigned char code) { return std::string(1, static_cast<char>(code)); }
inline std::string pickle_str(const std::string& s) { return "X" + le_bytes(s.size(), 4) + s; }          // BINUNICODE
inline std::string pickle_py2_str(const std::string& s) { return "U" + le_bytes(s.size(), 1) + s; }      // SHORT_BINSTRING
inline std::string pickle_int(std::uint32_t v) { return "J" + le_bytes(v, 4); }                         // BININT
inline std::string pickle_global(const std::string& module, const std::string& name) {
  return "c" + module + "\n" + name + "\n";
}
// A tuple of already-pickled items, via MARK ... TUPLE.
inline std::string pickle_tuple(const std::vector<std::string>& items) {
  std::string out = "(";
  for (const auto& item : items) out += item;
  return out + "t";
}
inline std::string pickle_proto2(const std::string& body) { return "\x80\x02" + body + "."; }

// The three pickles a legacy .pth starts with: magic number, protocol version 1001, sys_info.
inline std::string legacy_pth_header() {
  return pickle_proto2(op(0x8a) + op(10) + std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10)) +
         pickle_proto2("M" + le_bytes(1001, 2)) +
         pickle_proto2("}(" + pickle_str("protocol_version") + "M" + le_bytes(1001, 2) +
                       pickle_str("little_endian") + op(0x88) + "u");
}

// torch's persistent id for a FloatStorage.
inline std::string pickle_float_storage(const std::string& key, std::uint32_t numel) {
  return pickle_tuple({pickle_str("storage"), pickle_global("torch", "FloatStorage"), pickle_str(key),
                       pickle_str("cpu"), pickle_int(numel), "N"}) + "Q";
}

// ---- hand-made zip archives (stored entries) ----
struct zip_item {
  std::string name;
  std::string data;
};

// A zip of stored entries; with `zip64` every size and offset goes through the zip64 extra
// field and end records, as an archive over 4 GB would have them.
inline std::string make_zip(const std::vector<zip_item>& items, bool zip64 = false) {
  std::string file, directory;
  for (const zip_item& item : items) {
    const std::uint64_t local_at = file.size();
    const std::string extra = zip64 ? le_bytes(1, 2) + le_bytes(24, 2) + le_bytes(item.data.size(), 8) +
                                          le_bytes(item.data.size(), 8) + le_bytes(local_at, 8)
                                    : "";
    const std::string local_extra = zip64 ? le_bytes(1, 2) + le_bytes(16, 2) + le_bytes(item.data.size(), 8) +
                                                le_bytes(item.data.size(), 8)
                                          : "";
    const std::uint32_t small = zip64 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(item.data.size());
    file += le_bytes(0x04034b50, 4) + le_bytes(45, 2) + le_bytes(0, 2) + le_bytes(0, 2) + le_bytes(0, 4) +
            le_bytes(0, 4) + le_bytes(small, 4) + le_bytes(small, 4) + le_bytes(item.name.size(), 2) +
            le_bytes(local_extra.size(), 2) + item.name + local_extra + item.data;
    directory += le_bytes(0x02014b50, 4) + le_bytes(45, 2) + le_bytes(45, 2) + le_bytes(0, 2) +
                 le_bytes(0, 2) + le_bytes(0, 4) + le_bytes(0, 4) + le_bytes(small, 4) + le_bytes(small, 4) +
                 le_bytes(item.name.size(), 2) + le_bytes(extra.size(), 2) + le_bytes(0, 2) + le_bytes(0, 2) +
                 le_bytes(0, 2) + le_bytes(0, 4) + le_bytes(zip64 ? 0xFFFFFFFFu : local_at, 4) + item.name + extra;
  }
  const std::uint64_t directory_at = file.size();
  file += directory;
  if (zip64) {
    const std::uint64_t record_at = file.size();
    file += le_bytes(0x06064b50, 4) + le_bytes(44, 8) + le_bytes(45, 2) + le_bytes(45, 2) + le_bytes(0, 4) +
            le_bytes(0, 4) + le_bytes(items.size(), 8) + le_bytes(items.size(), 8) +
            le_bytes(directory.size(), 8) + le_bytes(directory_at, 8);
    file += le_bytes(0x07064b50, 4) + le_bytes(0, 4) + le_bytes(record_at, 8) + le_bytes(1, 4);
    return file + le_bytes(0x06054b50, 4) + le_bytes(0, 4) + le_bytes(0xFFFF, 2) + le_bytes(0xFFFF, 2) +
           le_bytes(0xFFFFFFFF, 4) + le_bytes(0xFFFFFFFF, 4) + le_bytes(0, 2);
  }
  return file + le_bytes(0x06054b50, 4) + le_bytes(0, 4) + le_bytes(items.size(), 2) +
         le_bytes(items.size(), 2) + le_bytes(directory.size(), 4) + le_bytes(directory_at, 4) + le_bytes(0, 2);
}

// A pth-zip archive "archive/" holding `pickle` as data.pkl and `storages` as data/<key>.
inline std::string make_pth_zip(const std::string& pickle, const std::vector<zip_item>& storages, bool zip64 = false) {
  std::vector<zip_item> items{{"archive/data.pkl", pickle}};
  for (const zip_item& s : storages) items.push_back({"archive/data/" + s.name, s.data});
  items.push_back({"archive/version", "3\n"});
  return make_zip(items, zip64);
}

// Raw little-endian float32 bytes of `values`.
inline std::string f32_bytes(const std::vector<float>& values) {
  std::string out;
  for (float v : values) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    out += le_bytes(bits, 4);
  }
  return out;
}

// Calls check(path, n) with `path` holding the first n bytes of `bytes`, for every n below
// `dense` and every `step`-th n above it. The file is written once and cut shorter each time.
template <class Check>
void for_each_truncation(const scratch_dir& dir, const std::string& bytes, std::size_t dense, std::size_t step,
                         Check check) {
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n < bytes.size(); n += n < dense ? 1 : step) lengths.push_back(n);
  if (!bytes.empty()) lengths.push_back(bytes.size() - 1);
  const std::string path = dir.write("truncated", bytes);
  for (auto n = lengths.rbegin(); n != lengths.rend(); ++n) {
    std::filesystem::resize_file(path, *n);
    check(path, *n);
  }
}

}  // namespace nst_test
