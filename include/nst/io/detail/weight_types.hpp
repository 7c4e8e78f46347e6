// nst/io/detail/weight_types.hpp — the types every weight loader returns.
//
// These are public (namespace nst); they live here so that <nst/io/safetensors.hpp>,
// <nst/io/pth.hpp> and <nst/io/weights.hpp> can share them. Include <nst/io/weights.hpp>.
//
//   nst::weight_file<float> w = nst::load_weights<float>("vgg19.pth");
//   const nst::tensor<float>& k = w.at("features.0.weight");   // [64,3,3,3]
//   for (const std::string& name : w.names) ...                  // file order
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"

namespace nst {

// Element types a weight file may store; every loader converts them to float or double.
enum class dtype { f16, bf16, f32, f64 };

// The safetensors spelling, used in every message: "F16", "BF16", "F32", "F64".
inline const char* dtype_name(dtype type) {
  switch (type) {
    case dtype::f16: return "F16";
    case dtype::bf16: return "BF16";
    case dtype::f32: return "F32";
    case dtype::f64: return "F64";
  }
  return "?";
}

// Bytes per element of `type` in a file: 2, 4 or 8.
inline std::size_t dtype_size(dtype type) {
  switch (type) {
    case dtype::f16:
    case dtype::bf16: return 2;
    case dtype::f32: return 4;
    case dtype::f64: return 8;
  }
  return 0;
}

// Prints dtype_name(type), so dtypes can go into error messages.
inline std::ostream& operator<<(std::ostream& out, dtype type) { return out << dtype_name(type); }

// One tensor as a file declares it (inspect_weights): no data.
struct tensor_info {
  std::string name;  // as the file spells it: "conv1_1.weight", "features.0.weight"
  dtype type;        // as stored (loading converts it)
  shape dims;        // as declared, e.g. [64,3,3,3] for a conv kernel (OIHW)
};

// Which tensors to load: true = load it. An empty filter loads everything.
using tensor_filter = std::function<bool(const std::string& name)>;

// The tensors loaded from one file, converted to T.
template <class T>
struct weight_file {
  std::string path;                               // the file it came from
  std::string format;                             // "safetensors", "pth-legacy", "pth-zip"
  std::vector<std::string> names;                 // the loaded tensors' names, in file order
  std::map<std::string, tensor<T>> tensors;       // name -> values (C order, as the file has them)
  std::map<std::string, std::string> metadata;    // safetensors __metadata__ (empty for .pth)
  std::uint64_t data_bytes_read = 0;              // tensor bytes read; filtered-out ones cost none

  // True when a tensor called `name` was loaded.
  bool contains(const std::string& name) const { return tensors.count(name) != 0; }

  // The tensor called `name`; lookup_error 500 when it was not loaded.
  const tensor<T>& at(const std::string& name) const {
    const auto found = tensors.find(name);
    if (found == tensors.end()) {
      std::string some;
      for (std::size_t i = 0; i < names.size() && i < 4; ++i) some += (i ? ", " : "") + names[i];
      if (names.size() > 4) some += ", ...";
      NST_THROW(lookup_error, 500, "weight_file::at: no tensor named '", name, "' among the ",
                names.size(), " tensors loaded from '", path, "' (", format, ")",
                names.empty() ? std::string() : ": " + some);
    }
    return found->second;
  }
};

namespace detail {

// The shape a file declares, checked: rank at most shape::max_rank, every dimension and the
// element count representable (format_error 309 naming `what`, e.g. "tensor 'w'").
template <class Int>
shape checked_shape(const std::vector<Int>& dims, const std::string& where, const std::string& what) {
  NST_CHECK(dims.size() <= static_cast<std::size_t>(shape::max_rank), format_error, 309, where, ": ",
            what, " has rank ", dims.size(), "; nst tensors have at most ", shape::max_rank, " dimensions");
  constexpr std::uint64_t limit = std::uint64_t{1} << 62;  // far above any real tensor
  std::uint64_t count = 1;  // of the non-zero dimensions, so that overflow is caught even with a 0
  for (const Int d : dims) {
    bool negative = false;
    if constexpr (std::is_signed<Int>::value) negative = d < 0;
    NST_CHECK(!negative && static_cast<std::uint64_t>(d) <= limit, format_error, 309, where, ": ",
              what, " has an impossible dimension ", d);
    if (d == 0) continue;
    NST_CHECK(count <= limit / static_cast<std::uint64_t>(d), format_error, 309, where, ": ", what,
              " has more than 2^62 elements (its dimensions overflow)");
    count *= static_cast<std::uint64_t>(d);
  }
  return shape(dims.begin(), dims.end());
}

}  // namespace detail
}  // namespace nst
