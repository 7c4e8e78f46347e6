// nst/io/pth.hpp — load PyTorch .pth state dicts without Python, and without running the pickle.
//
// Both on-disk formats of torch.save are read:
//   pth-zip     (PyTorch >= 1.6) a zip of stored entries: `<name>/data.pkl` (the pickled state
//               dict) and `<name>/data/<key>` (the raw little-endian bytes of each storage).
//   pth-legacy  (PyTorch 0.x, or _use_new_zipfile_serialization=False) consecutive pickles: the
//               magic number 0x1950a86a20f9469cfc6c, protocol version 1001, a sys_info dict, the
//               state dict, the list of storage keys; then per key an int64 element count and the
//               storage's bytes. torchvision's vgg19-dcbb9e9d.pth is this format.
// The pickle is read by nst's restricted unpickler (detail/unpickler.hpp), which executes
// nothing. Tensors are rebuilt from torch._utils._rebuild_tensor (PyTorch 0.x) or
// _rebuild_tensor_v2: storage, storage offset, sizes and strides, copied to a contiguous tensor.
// Float, Double, Half and BFloat16 storages are converted to T. The state dict is the top-level
// dict of tensors, or the dict stored under 'state_dict' or 'model' in a checkpoint dict.
// Only the bytes of the tensors `keep` accepts are read; the others are skipped with a seek.
//
//   auto w = nst::load_pth<float>("vgg19-dcbb9e9d.pth", [](const std::string& name) {
//     return name.rfind("features.", 0) == 0;             // skip the 470 MB classifier
//   });
//   w.at("features.0.weight").shape();                     // [64,3,3,3]
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "detail/binary_file.hpp"
#include "detail/dtype_conversion.hpp"
#include "detail/unpickler.hpp"
#include "detail/weight_types.hpp"
#include "detail/zip.hpp"

namespace nst {
namespace detail {

// A storage as torch's persistent id describes it: the elements [base, base + size) of the root
// storage `key` (legacy files could save views of storages; otherwise base = 0, size = numel).
struct pth_storage {
  std::string key;
  dtype type = dtype::f32;
  std::int64_t numel = 0;  // elements of the root storage
  std::int64_t base = 0;
  std::int64_t size = 0;
};

// A tensor as a view of a storage: element (i0, i1, ...) is storage[offset + sum(ik * stride_k)].
struct pth_tensor {
  std::string name;
  pth_storage storage;
  std::int64_t offset = 0;
  shape dims;
  std::vector<std::int64_t> strides;
  std::int64_t span = 0;  // elements from the first to the last one the view touches
  bool row_major = false;  // strides of a contiguous C-order tensor: the span is the tensor
};

// Where a root storage's bytes lie in the file.
struct storage_bytes {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

struct pth_contents {
  std::string format;  // "pth-zip" or "pth-legacy"
  std::vector<pth_tensor> tensors;
  std::unique_ptr<zip_archive> zip;                      // pth-zip
  std::string zip_prefix;                                // pth-zip: "archive/"
  std::map<std::string, storage_bytes> legacy_storages;  // pth-legacy, when located
};

// The element type of torch.[cuda.]FloatStorage, ...; the unpickler admits no other storage type.
inline dtype storage_dtype(const std::string& global) {
  const std::string type = global.substr(global.rfind('.') + 1);
  if (type == "FloatStorage") return dtype::f32;
  if (type == "DoubleStorage") return dtype::f64;
  if (type == "HalfStorage") return dtype::f16;
  return dtype::bf16;
}

inline std::int64_t pickle_int(const pickle_value& v, const std::string& where, const std::string& what) {
  NST_CHECK(v.is(pickle_value::kind::integer), format_error, 337, where, ": ", what, " is ",
            pickle_kind_name(v.type), ", not an int that fits 64 bits");
  return v.integer;
}

inline const std::string& pickle_string(const pickle_value& v, const std::string& where, const std::string& what) {
  NST_CHECK(v.is(pickle_value::kind::string), format_error, 337, where, ": ", what, " is ",
            pickle_kind_name(v.type), ", not a str");
  return v.text;
}

inline std::string int_list(const std::vector<std::int64_t>& values) {
  std::string out = "(";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
  return out + ")";
}

inline std::vector<std::int64_t> pickle_int_tuple(const pickle_value& v, const std::string& where,
                                                  const std::string& what) {
  NST_CHECK(v.is(pickle_value::kind::tuple), format_error, 337, where, ": ", what, " is ",
            pickle_kind_name(v.type), ", not a tuple");
  std::vector<std::int64_t> values;
  for (const pickle_ptr& item : v.items) values.push_back(pickle_int(*item, where, what));
  return values;
}

// ('storage', StorageType, key, location, numel[, view_metadata]) with view_metadata None or
// (view_key, offset, size).
inline pth_storage parse_storage(const pickle_value& id, const std::string& where, const std::string& what) {
  NST_CHECK(id.is(pickle_value::kind::persistent_id), format_error, 337, where, ": ", what,
            " is built from ", pickle_kind_name(id.type), ", not a storage");
  const auto& f = id.items;
  NST_CHECK((f.size() == 5 || f.size() == 6) && f[0]->is(pickle_value::kind::string) &&
                f[0]->text == "storage" && f[1]->is(pickle_value::kind::global),
            format_error, 337, where, ": ", what,
            " refers to a persistent id that is not ('storage', StorageType, key, location, numel)");
  pth_storage s;
  s.type = storage_dtype(f[1]->text);
  s.key = pickle_string(*f[2], where, what + ": the storage key");
  pickle_string(*f[3], where, what + ": the storage location");
  s.numel = pickle_int(*f[4], where, what + ": the storage size");
  NST_CHECK(s.numel >= 0, format_error, 337, where, ": ", what, ": storage '", s.key,
            "' has negative size ", s.numel);
  s.size = s.numel;
  if (f.size() == 6 && !f[5]->is(pickle_value::kind::none)) {
    const pickle_value& view = *f[5];
    NST_CHECK(view.is(pickle_value::kind::tuple) && view.items.size() == 3, format_error, 337, where,
              ": ", what, ": the view of storage '", s.key, "' is not (key, offset, size)");
    s.base = pickle_int(*view.items[1], where, what + ": the storage view offset");
    s.size = pickle_int(*view.items[2], where, what + ": the storage view size");
    NST_CHECK(s.base >= 0 && s.size >= 0 && s.base <= s.numel && s.size <= s.numel - s.base,
              format_error, 337, where, ": ", what, ": the view [", s.base, ", +", s.size,
              ") lies outside storage '", s.key, "' of ", s.numel, " elements");
  }
  return s;
}

// A `tensor` value from the unpickler: the arguments of _rebuild_tensor(storage, offset, size,
// stride) or _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]).
inline pth_tensor parse_tensor(const std::string& name, const pickle_value& value, const std::string& where) {
  const std::string what = "tensor '" + name + "'";
  pth_tensor t;
  t.name = name;
  t.storage = parse_storage(*value.items[0], where, what);
  t.offset = pickle_int(*value.items[1], where, what + ": the storage offset");
  const std::vector<std::int64_t> sizes = pickle_int_tuple(*value.items[2], where, what + ": the size");
  t.strides = pickle_int_tuple(*value.items[3], where, what + ": the stride");
  t.dims = checked_shape(sizes, where, what);
  NST_CHECK(t.strides.size() == sizes.size(), format_error, 338, where, ": ", what, " has ",
            sizes.size(), " sizes but ", t.strides.size(), " strides");
  NST_CHECK(t.offset >= 0 && t.offset <= t.storage.size, format_error, 338, where, ": ", what,
            " starts at element ", t.offset, " of a storage of ", t.storage.size);
  const std::int64_t numel = t.dims.numel();
  if (numel == 0) return t;
  // The last element the view touches: offset + sum((size_k - 1) * stride_k), kept below the
  // storage size at every step so that it cannot overflow.
  const auto past_end = [&] {
    NST_THROW(format_error, 338, where, ": ", what, " of shape ", t.dims, " with strides ",
              int_list(t.strides), " and offset ", t.offset, " reaches past the end of its storage '",
              t.storage.key, "' (", t.storage.size, " elements)");
  };
  if (t.offset >= t.storage.size) past_end();
  std::int64_t last = t.offset;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const std::int64_t stride = t.strides[k], steps = sizes[k] - 1;
    NST_CHECK(stride >= 0, format_error, 338, where, ": ", what, " has a negative stride ", stride);
    if (steps > 0 && stride > (t.storage.size - 1 - last) / steps) past_end();
    last += steps * stride;
  }
  NST_CHECK(numel <= t.storage.size, format_error, 338, where, ": ", what, " of shape ", t.dims,
            " has more elements than its storage '", t.storage.key, "' (", t.storage.size,
            "); expanded (stride-0) views are not supported");
  t.span = last - t.offset + 1;
  std::int64_t row_major_stride = 1;
  t.row_major = true;
  for (std::size_t k = sizes.size(); k-- > 0;) {
    if (sizes[k] != 1 && t.strides[k] != row_major_stride) t.row_major = false;
    row_major_stride *= sizes[k];
  }
  return t;
}

// The state dict inside the unpickled object: a dict of tensors, or the dict under 'state_dict' or
// 'model' of a checkpoint dict.
inline const pickle_value& find_state_dict(const pickle_value& root, const std::string& where) {
  NST_CHECK(root.is(pickle_value::kind::dict), format_error, 336, where, ": the file holds ",
            pickle_kind_name(root.type), ", not a state dict");
  const auto all_tensors = [](const pickle_value& dict) {
    for (std::size_t i = 1; i < dict.items.size(); i += 2)
      if (!dict.items[i]->is(pickle_value::kind::tensor)) return false;
    return true;
  };
  if (all_tensors(root)) return root;
  for (const char* key : {"state_dict", "model"})
    for (std::size_t i = 0; i + 1 < root.items.size(); i += 2)
      if (root.items[i]->is(pickle_value::kind::string) && root.items[i]->text == key &&
          root.items[i + 1]->is(pickle_value::kind::dict) && all_tensors(*root.items[i + 1]))
        return *root.items[i + 1];
  std::string keys;
  for (std::size_t i = 0; i + 1 < root.items.size() && i < 16; i += 2) {
    const pickle_value& key = *root.items[i];
    keys += (i ? ", " : "") + (key.is(pickle_value::kind::string) ? "'" + key.text + "'" : pickle_kind_name(key.type));
    keys += std::string(": ") + pickle_kind_name(root.items[i + 1]->type);
  }
  NST_THROW(format_error, 336, where,
            ": no state dict found: expected a dict of tensors, or a checkpoint dict holding one "
            "under 'state_dict' or 'model'; the file holds {", keys, root.items.size() > 16 ? ", ...}" : "}");
}

inline std::vector<pth_tensor> parse_state_dict(const pickle_value& root, const std::string& where) {
  const pickle_value& dict = find_state_dict(root, where);
  std::vector<pth_tensor> tensors;
  std::set<std::string> seen;
  for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const std::string& name = pickle_string(*dict.items[i], where, "a state dict key");
    NST_CHECK(seen.insert(name).second, format_error, 340, where, ": tensor '", name,
              "' appears twice in the state dict");
    tensors.push_back(parse_tensor(name, *dict.items[i + 1], where));
  }
  return tensors;
}

inline void read_zip_pth(input_file& file, pth_contents& contents) {
  const std::string where = file.where();
  contents.format = "pth-zip";
  contents.zip = std::make_unique<zip_archive>(file);
  const zip_entry* pickle = nullptr;
  for (const zip_entry& e : contents.zip->entries()) {
    const std::size_t slash = e.name.find('/');
    if (slash == std::string::npos || slash == 0 || e.name.compare(slash, std::string::npos, "/data.pkl") != 0)
      continue;
    NST_CHECK(pickle == nullptr, format_error, 317, where, ": the archive holds two pickles, '",
              pickle ? pickle->name : "", "' and '", e.name, "'");
    pickle = &e;
  }
  NST_CHECK(pickle != nullptr, format_error, 317, where,
            ": the zip archive has no <name>/data.pkl entry, so it is not a torch.save file");
  contents.zip_prefix = pickle->name.substr(0, pickle->name.size() - 8);  // "archive/"
  if (const zip_entry* order = contents.zip->find(contents.zip_prefix + "byteorder")) {
    const std::string byteorder = contents.zip->read(*order, 16);
    NST_CHECK(byteorder == "little", format_error, 320, where, ": storages are stored ", byteorder,
              "-endian; nst reads little-endian files only");
  }
  const std::string bytes = contents.zip->read(*pickle, std::uint64_t{1} << 30);
  memory_reader in(bytes, where, pickle->name);
  contents.tensors = parse_state_dict(*unpickle(in, where).root, where);
}

// A legacy file: the magic number, protocol version and sys_info pickles, the state dict and, when
// `locate_storages`, the list of storage keys and where each storage's bytes lie after it.
inline void read_legacy_pth(input_file& file, pth_contents& contents, bool locate_storages) {
  const std::string where = file.where();
  contents.format = "pth-legacy";
  file_reader in(file, 0, "the pickles");
  // 0x1950a86a20f9469cfc6c as Python pickles it: 10 little-endian bytes.
  static const std::string magic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
  const pickle_ptr first = unpickle(in, where).root;
  NST_CHECK(first->is(pickle_value::kind::big_integer) && first->text == magic, format_error, 335, where,
            ": not a PyTorch file: the first pickle is not torch's magic number 0x1950a86a20f9469cfc6c");
  const pickle_ptr version = unpickle(in, where).root;
  NST_CHECK(version->is(pickle_value::kind::integer) && version->integer == 1001, format_error, 335,
            where, ": unsupported legacy PyTorch protocol version (expected 1001)");
  const pickle_ptr sys_info = unpickle(in, where).root;
  NST_CHECK(sys_info->is(pickle_value::kind::dict), format_error, 335, where,
            ": the legacy sys_info pickle is not a dict");
  for (std::size_t i = 0; i + 1 < sys_info->items.size(); i += 2)
    if (sys_info->items[i]->is(pickle_value::kind::string) && sys_info->items[i]->text == "little_endian")
      NST_CHECK(sys_info->items[i + 1]->is(pickle_value::kind::boolean) && sys_info->items[i + 1]->integer == 1,
                format_error, 320, where, ": the file was written on a big-endian machine; nst reads little-endian files only");
  const unpickle_result state = unpickle(in, where);
  contents.tensors = parse_state_dict(*state.root, where);
  if (!locate_storages) return;

  // Each storage key's dtype, from the persistent ids that name it.
  std::map<std::string, dtype> types;
  for (const pickle_ptr& id : state.persistent_ids) {
    const pth_storage s = parse_storage(*id, where, "a storage reference");
    const auto known = types.emplace(s.key, s.type);
    NST_CHECK(known.first->second == s.type, format_error, 337, where, ": storage '", s.key,
              "' is referenced as both ", known.first->second, " and ", s.type);
  }
  const pickle_ptr keys = unpickle(in, where).root;
  NST_CHECK(keys->is(pickle_value::kind::list), format_error, 337, where,
            ": the list of storage keys is ", pickle_kind_name(keys->type), ", not a list");
  // Then, for each key in that order: an int64 element count and the bytes. Skipped, not read.
  std::uint64_t pos = in.position();
  for (const pickle_ptr& key_value : keys->items) {
    const std::string& key = pickle_string(*key_value, where, "a storage key");
    const auto type = types.find(key);
    NST_CHECK(type != types.end(), format_error, 337, where, ": storage '", key,
              "' is listed but no tensor refers to it");
    const std::string count_bytes = file.read_at(pos, 8, "the size of storage '" + key + "'");
    const std::uint64_t count = load_u64(count_bytes.data());
    const std::uint64_t element_size = dtype_size(type->second);
    NST_CHECK(count <= (file.size() - pos - 8) / element_size, format_error, 301, where,
              " is truncated or corrupt: storage '", key, "' declares ", count, " elements of ",
              type->second, " at offset ", pos + 8, " but the file has ", file.size(), " bytes");
    NST_CHECK(contents.legacy_storages.emplace(key, storage_bytes{pos + 8, count * element_size}).second,
              format_error, 337, where, ": storage '", key, "' is listed twice");
    pos += 8 + count * element_size;
  }
}

inline pth_contents read_pth(input_file& file, bool locate_storages) {
  const std::string start = file.read_at(0, std::min<std::uint64_t>(file.size(), 4), "the file signature");
  pth_contents contents;
  if (start == "PK\x03\x04") {
    read_zip_pth(file, contents);
  } else {
    NST_CHECK(!start.empty() && static_cast<unsigned char>(start[0]) == 0x80, format_error, 300,
              file.where(), ": not a PyTorch file: it is neither a zip archive nor a pickle");
    read_legacy_pth(file, contents, locate_storages);
  }
  return contents;
}

inline storage_bytes locate_storage(const pth_contents& contents, const std::string& key, const std::string& where) {
  if (contents.zip) {
    const zip_entry* entry = contents.zip->find(contents.zip_prefix + "data/" + key);
    NST_CHECK(entry != nullptr, format_error, 317, where, ": the archive has no entry '",
              contents.zip_prefix, "data/", key, "' for storage '", key, "'");
    return {contents.zip->data_offset(*entry), entry->size};
  }
  const auto found = contents.legacy_storages.find(key);
  NST_CHECK(found != contents.legacy_storages.end(), format_error, 337, where, ": storage '", key,
            "' is not in the file's list of storages");
  return found->second;
}

// Reads the elements a view touches and copies them in row-major order.
template <class T>
tensor<T> read_pth_tensor(input_file& file, const pth_contents& contents, const pth_tensor& t,
                          std::uint64_t& bytes_read) {
  if (t.dims.numel() == 0) return tensor<T>(t.dims);
  const std::string where = file.where();
  const storage_bytes bytes = locate_storage(contents, t.storage.key, where);
  const std::uint64_t element_size = dtype_size(t.storage.type);
  NST_CHECK(bytes.size % element_size == 0 &&
                bytes.size / element_size == static_cast<std::uint64_t>(t.storage.numel),
            format_error, 337, where, ": storage '", t.storage.key, "' holds ", bytes.size,
            " bytes but tensor '", t.name, "' declares it as ", t.storage.numel, " elements of ",
            t.storage.type);
  // Allocated only now: the storage's bytes are in the file, so the tensor (no larger than its
  // storage) cannot be larger than the file, whatever sizes the pickle declares.
  tensor<T> out(t.dims);
  const std::uint64_t first = static_cast<std::uint64_t>(t.storage.base + t.offset);
  const std::string what = "tensor '" + t.name + "'";
  bytes_read += static_cast<std::uint64_t>(t.span) * element_size;
  if (t.row_major) {  // the usual case: read straight into the tensor
    read_converted(file, bytes.offset + first * element_size, t.storage.type, static_cast<std::uint64_t>(t.span),
                   out.data(), what);
    return out;
  }
  std::vector<T> span(static_cast<std::size_t>(t.span));
  read_converted(file, bytes.offset + first * element_size, t.storage.type, static_cast<std::uint64_t>(t.span),
                 span.data(), what);
  // Walk the view's indices like an odometer, moving through the span by the strides.
  const int rank = t.dims.rank();
  std::vector<index_t> index(static_cast<std::size_t>(rank), 0);
  std::int64_t source = 0;
  for (index_t i = 0; i < out.size(); ++i) {
    out[i] = span[static_cast<std::size_t>(source)];
    for (int axis = rank - 1; axis >= 0; --axis) {
      const std::size_t a = static_cast<std::size_t>(axis);
      if (++index[a] < t.dims[axis]) {
        source += t.strides[a];
        break;
      }
      source -= (t.dims[axis] - 1) * t.strides[a];
      index[a] = 0;
    }
  }
  return out;
}

}  // namespace detail

// Loads the tensors of a .pth state dict (zip or legacy format) that `keep` accepts (all when
// empty), converted to T, in the state dict's order. Throws io_error 400 (cannot read the file)
// and format_error (3xx: a corrupt or hostile zip, pickle or storage, naming the tensor).
template <class T>
weight_file<T> load_pth(const std::string& path, const tensor_filter& keep = {}) {
  detail::input_file file(path, "load_pth");
  const detail::pth_contents contents = detail::read_pth(file, true);
  weight_file<T> out;
  out.path = path;
  out.format = contents.format;
  for (const detail::pth_tensor& t : contents.tensors) {
    if (keep && !keep(t.name)) continue;
    out.tensors.emplace(t.name, detail::read_pth_tensor<T>(file, contents, t, out.data_bytes_read));
    out.names.push_back(t.name);
  }
  return out;
}

// Names, dtypes and shapes of a .pth state dict's tensors, in order; reads no tensor data.
// Throws as load_pth.
inline std::vector<tensor_info> inspect_pth(const std::string& path) {
  detail::input_file file(path, "inspect_weights");
  std::vector<tensor_info> infos;
  for (const detail::pth_tensor& t : detail::read_pth(file, false).tensors)
    infos.push_back({t.name, t.storage.type, t.dims});
  return infos;
}

}  // namespace nst
