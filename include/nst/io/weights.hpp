// nst/io/weights.hpp — load the weight files people actually have, whatever their format.
//
// load_weights picks the reader from the file's first bytes:
//   "PK\3\4"                       -> pth-zip      (torch.save, PyTorch >= 1.6)
//   JSON '{' after 8 length bytes  -> safetensors
//   0x80 (a pickle)                -> pth-legacy   (PyTorch 0.x; torchvision's vgg19-dcbb9e9d.pth)
// and converts every tensor to T (float or double). No Python is involved and no pickle code is
// run; corrupt or hostile files end in an nst::format_error naming the problem (io_error when
// the file cannot be read). Pass a filter to load only some tensors: the others are skipped
// without being read, which matters for VGG19, whose classifier is 470 of its 548 MB.
//
//   auto w = nst::load_weights<float>("weights/vgg19-dcbb9e9d.pth", [](const std::string& n) {
//     return n.rfind("features.", 0) == 0;
//   });
//   for (const std::string& name : w.names) std::cout << name << ' ' << w.at(name).shape() << '\n';
//   nst::inspect_weights("x.safetensors");          // names, dtypes, shapes; no tensor data read
//   nst::sha256_file("weights/vgg19-dcbb9e9d.pth"); // "dcbb9e9d..." to check a download
//
// The types (dtype, tensor_info, weight_file, tensor_filter) are in detail/weight_types.hpp;
// the format-specific functions (load_safetensors, save_safetensors, load_pth) in
// <nst/io/safetensors.hpp> and <nst/io/pth.hpp>, which this header includes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "detail/binary_file.hpp"
#include "detail/sha256.hpp"
#include "detail/weight_types.hpp"
#include "pth.hpp"
#include "safetensors.hpp"

namespace nst {
namespace detail {

enum class weight_format { safetensors, pth };

// Tells the formats apart by their first bytes (format_error 300 when none matches).
inline weight_format detect_weight_format(const std::string& path, const char* caller) {
  input_file file(path, caller);
  const std::string start = file.read_at(0, std::min<std::uint64_t>(file.size(), 9), "the file signature");
  if (start.compare(0, 4, "PK\x03\x04") == 0) return weight_format::pth;
  if (start.size() == 9 && start[8] == '{') return weight_format::safetensors;
  if (!start.empty() && static_cast<unsigned char>(start[0]) == 0x80) return weight_format::pth;
  static const char hex[] = "0123456789abcdef";
  std::string bytes;
  for (const char c : start) {
    const unsigned char u = static_cast<unsigned char>(c);
    bytes += std::string(bytes.empty() ? "" : " ") + hex[u >> 4] + hex[u & 0xF];
  }
  NST_THROW(format_error, 300, file.where(),
            ": not a weight file nst knows (safetensors, or a PyTorch .pth in zip or legacy format); "
            "it starts with bytes [", bytes, "]");
}

}  // namespace detail

// Loads the tensors `keep` accepts (all when empty) of a safetensors or .pth file (recognised by
// its content, not its name), converted to T. Throws io_error 400 (cannot read), format_error
// 300 (neither format) and the errors of load_safetensors / load_pth.
template <class T>
weight_file<T> load_weights(const std::string& path, const tensor_filter& keep = {}) {
  return detail::detect_weight_format(path, "load_weights") == detail::weight_format::safetensors
             ? load_safetensors<T>(path, keep)
             : load_pth<T>(path, keep);
}

// The names, dtypes and shapes of a file's tensors in file order, and (safetensors) its
// __metadata__ into *metadata (cleared for .pth); reads no tensor data. Throws as load_weights.
inline std::vector<tensor_info> inspect_weights(const std::string& path,
                                                std::map<std::string, std::string>* metadata = nullptr) {
  if (detail::detect_weight_format(path, "inspect_weights") == detail::weight_format::safetensors)
    return inspect_safetensors(path, metadata);
  if (metadata) metadata->clear();
  return inspect_pth(path);
}

// SHA-256 of a file's bytes as 64 lowercase hex digits (io_error 400 when it cannot be read).
inline std::string sha256_file(const std::string& path) {
  detail::input_file file(path, "sha256_file");
  detail::sha256 hash;
  std::string chunk;
  for (std::uint64_t offset = 0; offset < file.size(); offset += chunk.size()) {
    chunk = file.read_at(offset, std::min<std::uint64_t>(file.size() - offset, 1 << 20), "the data");
    hash.update(chunk.data(), chunk.size());
  }
  return hash.hex();
}

}  // namespace nst
