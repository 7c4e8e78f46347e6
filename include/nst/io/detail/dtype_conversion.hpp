// nst/io/detail/dtype_conversion.hpp — little-endian F16/BF16/F32/F64 bytes to float or double.
//
// Every conversion is exact where the target can hold the value: a half or bfloat16 widens to
// float without rounding (subnormals, signed zeros, infinities and NaNs included); only F64 read
// as float rounds. Bytes are decoded explicitly as little endian, so big-endian hosts work too.
//
//   float x = nst::detail::half_to_float(0x3C00);                 // 1.0f
//   read_converted<float>(file, offset, nst::dtype::f16, n, out, "tensor 'w'");
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "binary_file.hpp"
#include "weight_types.hpp"

namespace nst {
namespace detail {

inline float float_from_bits(std::uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

inline double double_from_bits(std::uint64_t bits) {
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// IEEE binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
inline float half_to_float(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1Fu;
  const std::uint32_t mantissa = half & 0x3FFu;
  if (exponent == 0x1F) return float_from_bits(sign | 0x7F800000u | (mantissa << 13));  // inf, NaN
  if (exponent != 0) return float_from_bits(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa * 2^-24, exact in float.
  const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  return sign ? -magnitude : magnitude;
}

// bfloat16 is the upper half of a float.
inline float bfloat16_to_float(std::uint16_t bits) {
  return float_from_bits(static_cast<std::uint32_t>(bits) << 16);
}

// Converts `count` little-endian values of `type` at `bytes` to T.
template <class T>
void decode_values(dtype type, const char* bytes, std::size_t count, T* out) {
  const std::size_t size = dtype_size(type);
  for (std::size_t i = 0; i < count; ++i) {
    const char* p = bytes + i * size;
    switch (type) {
      case dtype::f16: out[i] = static_cast<T>(half_to_float(load_u16(p))); break;
      case dtype::bf16: out[i] = static_cast<T>(bfloat16_to_float(load_u16(p))); break;
      case dtype::f32: out[i] = static_cast<T>(float_from_bits(load_u32(p))); break;
      case dtype::f64: out[i] = static_cast<T>(double_from_bits(load_u64(p))); break;
    }
  }
}

// Reads `count` values of `type` stored at `offset` in `file` into `out` (converted to T), in
// chunks of about 1 MB so that no second copy of a large tensor is ever held in memory.
template <class T>
void read_converted(input_file& file, std::uint64_t offset, dtype type, std::uint64_t count, T* out,
                    const std::string& what) {
  const std::uint64_t size = dtype_size(type);
  NST_CHECK(count <= file.size() / size, format_error, 301, file.where(),
            " is truncated or corrupt: ", what, " needs ", count, " values of ", type,
            " but the file has only ", file.size(), " bytes");
  const std::uint64_t chunk_values = (std::uint64_t{1} << 20) / size;
  std::string buffer;
  for (std::uint64_t done = 0; done < count;) {
    const std::uint64_t n = std::min(chunk_values, count - done);
    buffer.resize(static_cast<std::size_t>(n * size));
    file.read_at(offset + done * size, &buffer[0], n * size, what);
    decode_values(type, buffer.data(), static_cast<std::size_t>(n), out + done);
    done += n;
  }
}

// The dtype nst writes for T: F32 for float, F64 for double.
template <class T>
constexpr dtype dtype_of() {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                "nst weight files hold float or double tensors");
  return std::is_same<T, float>::value ? dtype::f32 : dtype::f64;
}

// Appends `count` values as little-endian F32 (float) or F64 (double).
template <class T>
void append_le_values(std::string& out, const T* values, std::size_t count) {
  out.reserve(out.size() + count * sizeof(T));
  for (std::size_t i = 0; i < count; ++i) {
    if constexpr (std::is_same<T, float>::value) {
      std::uint32_t bits;
      std::memcpy(&bits, &values[i], sizeof bits);
      store_le(out, bits, 4);
    } else {
      std::uint64_t bits;
      std::memcpy(&bits, &values[i], sizeof bits);
      store_le(out, bits, 8);
    }
  }
}

}  // namespace detail
}  // namespace nst
