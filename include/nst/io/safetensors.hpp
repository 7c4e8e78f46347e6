// nst/io/safetensors.hpp — read and write safetensors files, checking every byte of the header.
//
// A safetensors file is: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {"k": "v"}, "conv1_1.weight": {"dtype": "F32", "shape": [64,3,3,3],
//    "data_offsets": [0, 6912]}, ...}
// (possibly padded with spaces), then the data section, which the tensors' byte ranges must tile
// exactly: no holes, no overlaps, nothing left over. nst checks all of that, the header size (at
// most 100 MB), the dtypes, that each range holds shape x dtype bytes, and dimension overflow;
// any violation is a format_error naming the tensor. F16, BF16, F32 and F64 tensors are converted
// to T; other dtypes of the spec (I64, U8, ...) are refused when loaded (filter them out).
// Tensors are listed in file order (by data offset); those the filter rejects are never read.
//
//   auto w = nst::load_safetensors<float>("vgg19.safetensors",
//                                         [](const std::string& n) { return n.rfind("conv", 0) == 0; });
//   w.at("conv1_1.weight");  w.metadata.at("architecture");
//   nst::save_safetensors<float>("out.safetensors", w.tensors, w.names, w.metadata);  // atomic
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "detail/atomic_file.hpp"
#include "detail/binary_file.hpp"
#include "detail/dtype_conversion.hpp"
#include "detail/json.hpp"
#include "detail/weight_types.hpp"

namespace nst {
namespace detail {

struct safetensors_entry {
  std::string name;
  std::string dtype_name;      // as written: "F32", "I64", ...
  bool supported = false;      // F16, BF16, F32 or F64
  dtype type = dtype::f32;     // when supported
  shape dims;
  std::uint64_t begin = 0;     // byte range in the data section
  std::uint64_t end = 0;
};

struct safetensors_header {
  std::vector<safetensors_entry> entries;  // in file order (by data offset)
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;             // file offset of the data section
};

constexpr std::uint64_t safetensors_max_header = std::uint64_t{100} << 20;

// The element size of a dtype of the safetensors spec, or 0 for an unknown name.
inline std::uint64_t safetensors_dtype_size(const std::string& name) {
  static const std::map<std::string, std::uint64_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2},
      {"F16", 2},  {"BF16", 2}, {"I32", 4}, {"U32", 4},     {"F32", 4},     {"I64", 8}, {"U64", 8},
      {"F64", 8}};
  const auto found = sizes.find(name);
  return found == sizes.end() ? 0 : found->second;
}

inline safetensors_entry parse_safetensors_entry(const std::string& name, const json_value& v,
                                                 const std::string& where) {
  const std::string what = "tensor '" + name + "'";
  NST_CHECK(v.type == json_value::kind::object, format_error, 304, where, ": ", what,
            " is described by ", json_kind_name(v.type), ", not an object");
  for (const std::string& key : v.keys)
    NST_CHECK(key == "dtype" || key == "shape" || key == "data_offsets", format_error, 304, where,
              ": ", what, " has an unknown field '", key, "'");
  const json_value* type = v.find("dtype");
  const json_value* dims = v.find("shape");
  const json_value* offsets = v.find("data_offsets");
  NST_CHECK(type && dims && offsets, format_error, 304, where, ": ", what,
            " needs the fields dtype, shape and data_offsets");
  NST_CHECK(type->type == json_value::kind::string, format_error, 304, where, ": ", what,
            ": dtype is not a string");
  NST_CHECK(dims->type == json_value::kind::array, format_error, 304, where, ": ", what,
            ": shape is not an array");
  NST_CHECK(offsets->type == json_value::kind::array && offsets->items.size() == 2, format_error, 304,
            where, ": ", what, ": data_offsets is not an array of two integers");

  safetensors_entry e;
  e.name = name;
  e.dtype_name = type->text;
  const std::uint64_t element_size = safetensors_dtype_size(e.dtype_name);
  NST_CHECK(element_size != 0, format_error, 306, where, ": ", what, " has unknown dtype '",
            e.dtype_name, "'");
  for (const dtype t : {dtype::f16, dtype::bf16, dtype::f32, dtype::f64})
    if (e.dtype_name == dtype_name(t)) {
      e.supported = true;
      e.type = t;
    }
  std::vector<std::uint64_t> extents;
  for (const json_value& d : dims->items) {
    NST_CHECK(d.type == json_value::kind::integer, format_error, 304, where, ": ", what,
              ": shape holds ", json_kind_name(d.type), ", not an integer");
    extents.push_back(d.integer);
  }
  e.dims = checked_shape(extents, where, what);
  for (const json_value& o : offsets->items)
    NST_CHECK(o.type == json_value::kind::integer, format_error, 304, where, ": ", what,
              ": data_offsets holds ", json_kind_name(o.type), ", not an integer");
  e.begin = offsets->items[0].integer;
  e.end = offsets->items[1].integer;
  NST_CHECK(e.begin <= e.end, format_error, 307, where, ": ", what, " has data_offsets [", e.begin,
            ", ", e.end, "] that end before they begin");
  const std::uint64_t numel = static_cast<std::uint64_t>(e.dims.numel());
  NST_CHECK(numel <= UINT64_MAX / element_size && e.end - e.begin == numel * element_size,
            format_error, 308, where, ": ", what, " is ", e.dtype_name, " of shape ", e.dims, " (",
            numel, " elements) but data_offsets [", e.begin, ", ", e.end, "] span ",
            e.end - e.begin, " bytes");
  return e;
}

// Reads and checks the header; reads no tensor data.
inline safetensors_header read_safetensors_header(input_file& file) {
  const std::string where = file.where();
  const std::string prefix = file.read_at(0, 8, "the 8-byte header length");
  const std::uint64_t length = load_u64(prefix.data());
  NST_CHECK(length <= safetensors_max_header, format_error, 302, where, ": header length ", length,
            " exceeds the ", safetensors_max_header, "-byte limit (not a safetensors file?)");
  NST_CHECK(length <= file.size() - 8, format_error, 302, where, ": header length ", length,
            " runs past the end of the file (", file.size(), " bytes; truncated?)");
  const std::string text = file.read_at(8, length, "the JSON header");
  NST_CHECK(!text.empty() && text[0] == '{', format_error, 303, where,
            ": the header does not start with '{' (not a safetensors file?)");
  const json_value root = parse_json(text, where);

  safetensors_header header;
  header.data_start = 8 + length;
  for (std::size_t i = 0; i < root.keys.size(); ++i) {
    const std::string& key = root.keys[i];
    const json_value& value = root.items[i];
    if (key != "__metadata__") {
      header.entries.push_back(parse_safetensors_entry(key, value, where));
      continue;
    }
    NST_CHECK(value.type == json_value::kind::object, format_error, 310, where,
              ": __metadata__ is ", json_kind_name(value.type), ", not an object of strings");
    for (std::size_t m = 0; m < value.keys.size(); ++m) {
      NST_CHECK(value.items[m].type == json_value::kind::string, format_error, 310, where,
                ": __metadata__ value of '", value.keys[m], "' is ", json_kind_name(value.items[m].type),
                ", not a string");
      header.metadata[value.keys[m]] = value.items[m].text;
    }
  }

  // The byte ranges, in file order, must tile the data section exactly.
  std::stable_sort(header.entries.begin(), header.entries.end(),
                   [](const safetensors_entry& a, const safetensors_entry& b) {
                     return a.begin < b.begin || (a.begin == b.begin && a.end < b.end);
                   });
  const std::uint64_t data_size = file.size() - header.data_start;
  std::uint64_t covered = 0;
  for (const safetensors_entry& e : header.entries) {
    NST_CHECK(e.begin == covered, format_error, 307, where, ": tensor '", e.name, "' starts at byte ",
              e.begin, " of the data section but the tensors before it end at byte ", covered,
              e.begin > covered ? " (a hole)" : " (they overlap)");
    covered = e.end;
  }
  NST_CHECK(covered == data_size, format_error, 307, where, ": the tensors cover ", covered,
            " bytes but the data section has ", data_size,
            covered > data_size ? " (truncated file?)" : " (unindexed bytes at the end)");
  return header;
}

inline void check_loadable(const safetensors_entry& e, const std::string& where) {
  NST_CHECK(e.supported, format_error, 306, where, ": tensor '", e.name, "' has dtype ", e.dtype_name,
            "; nst loads F16, BF16, F32 and F64 tensors (filter this one out to load the others)");
}

}  // namespace detail

// Loads the tensors of a safetensors file that `keep` accepts (all when empty), converted to T.
// Throws io_error 400 (cannot read the file) and format_error (3xx: a header or data range that
// breaks the format, or format_error 306 for a dtype nst does not load, naming the tensor).
template <class T>
weight_file<T> load_safetensors(const std::string& path, const tensor_filter& keep = {}) {
  detail::input_file file(path, "load_safetensors");
  const detail::safetensors_header header = detail::read_safetensors_header(file);
  weight_file<T> out;
  out.path = path;
  out.format = "safetensors";
  out.metadata = header.metadata;
  for (const detail::safetensors_entry& e : header.entries) {
    if (keep && !keep(e.name)) continue;
    detail::check_loadable(e, file.where());
    tensor<T> values(e.dims);
    detail::read_converted(file, header.data_start + e.begin, e.type,
                           static_cast<std::uint64_t>(values.size()), values.data(),
                           "tensor '" + e.name + "'");
    out.data_bytes_read += e.end - e.begin;
    out.names.push_back(e.name);
    out.tensors.emplace(e.name, std::move(values));
  }
  return out;
}

// Names, dtypes and shapes of a safetensors file's tensors, in file order, and its __metadata__
// into *metadata; reads no tensor data. Throws as load_safetensors.
inline std::vector<tensor_info> inspect_safetensors(const std::string& path,
                                                    std::map<std::string, std::string>* metadata = nullptr) {
  detail::input_file file(path, "inspect_weights");
  const detail::safetensors_header header = detail::read_safetensors_header(file);
  std::vector<tensor_info> infos;
  for (const detail::safetensors_entry& e : header.entries) {
    detail::check_loadable(e, file.where());
    infos.push_back({e.name, e.type, e.dims});
  }
  if (metadata) *metadata = header.metadata;
  return infos;
}

// Writes `tensors` as a safetensors file (F32 for float, F64 for double), in the order `order`
// gives, which must name every tensor exactly once, with `metadata` as __metadata__. The header is
// padded with spaces to a multiple of 8 bytes so that the data is aligned. Atomic: the file is
// written beside `path` under a temporary name and renamed over it, so `path` is either the old
// file or the complete new one (detail/atomic_file.hpp: written, flushed to disk, renamed); on
// failure (io_error 421 create, 422 write, 423 rename) the old file is untouched. Throws
// value_error 240 (`order` does not name each tensor once) or 241 (a reserved or non-UTF-8 name).
template <class T>
void save_safetensors(const std::string& path, const std::map<std::string, tensor<T>>& tensors,
                      const std::vector<std::string>& order,
                      const std::map<std::string, std::string>& metadata) {
  const char* caller = "save_safetensors";
  std::set<std::string> seen;
  for (const std::string& name : order) {
    NST_CHECK(tensors.count(name) != 0, value_error, 240, caller, ": '", name,
              "' is in the order but not among the ", tensors.size(), " tensors");
    NST_CHECK(seen.insert(name).second, value_error, 240, caller, ": '", name,
              "' appears twice in the order");
    NST_CHECK(!name.empty() && name != "__metadata__", value_error, 241, caller,
              ": a tensor cannot be named '", name, "'");
  }
  for (const auto& entry : tensors)
    NST_CHECK(seen.count(entry.first) != 0, value_error, 240, caller, ": tensor '", entry.first,
              "' is missing from the order");
  for (const auto& entry : metadata)
    NST_CHECK(detail::find_invalid_utf8(entry.first) == std::string::npos &&
                  detail::find_invalid_utf8(entry.second) == std::string::npos,
              value_error, 241, caller, ": metadata '", entry.first, "' is not valid UTF-8");
  for (const std::string& name : order)
    NST_CHECK(detail::find_invalid_utf8(name) == std::string::npos, value_error, 241, caller,
              ": tensor name '", name, "' is not valid UTF-8");

  const dtype type = detail::dtype_of<T>();
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& entry : metadata) {
      header += (first ? "" : ",") + detail::json_quote(entry.first) + ":" + detail::json_quote(entry.second);
      first = false;
    }
    header += "}";
  }
  std::uint64_t offset = 0;
  for (const std::string& name : order) {
    const tensor<T>& t = tensors.at(name);
    const std::uint64_t bytes = static_cast<std::uint64_t>(t.size()) * sizeof(T);
    header += (header.size() > 1 ? "," : "") + detail::json_quote(name) + ":{\"dtype\":\"" +
              dtype_name(type) + "\",\"shape\":[";
    for (int axis = 0; axis < t.rank(); ++axis) header += (axis ? "," : "") + std::to_string(t.dim(axis));
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');

  detail::write_file_atomically(path, caller, [&](detail::byte_sink& out) {
    std::string bytes;
    detail::store_le(bytes, header.size(), 8);
    bytes += header;
    out.write(bytes.data(), bytes.size());
    for (const std::string& name : order) {  // one tensor at a time: no copy of the whole file
      const tensor<T>& t = tensors.at(name);
      bytes.clear();
      detail::append_le_values(bytes, t.data(), static_cast<std::size_t>(t.size()));
      out.write(bytes.data(), bytes.size());
    }
  });
}

}  // namespace nst
