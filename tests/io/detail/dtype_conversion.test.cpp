#include <nst/io/detail/dtype_conversion.hpp>

#include <cmath>

#include "../../support/support.hpp"

TEST_CASE("dtype_conversion: float16 values widen exactly", "[io][weights][dtype]") {
  using nst::detail::half_to_float;
  CHECK(half_to_float(0x3C00) == 1.0f);
  CHECK(half_to_float(0xC000) == -2.0f);
  CHECK(half_to_float(0x7BFF) == 65504.0f);               // largest finite
  CHECK(half_to_float(0x0400) == std::ldexp(1.0f, -14));  // smallest normal
  CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(half_to_float(0x03FF) == std::ldexp(1023.0f, -24));
  CHECK(half_to_float(0x3555) == 0.333251953125f);
  CHECK(half_to_float(0x8000) == 0.0f);
  CHECK(std::signbit(half_to_float(0x8000)));
  CHECK(half_to_float(0x7C00) == INFINITY);
  CHECK(half_to_float(0xFC00) == -INFINITY);
  CHECK(std::isnan(half_to_float(0x7E00)));
  CHECK(std::isnan(half_to_float(0xFC01)));
}

TEST_CASE("dtype_conversion: every float16 matches sign * mantissa * 2^exponent", "[io][weights][dtype]") {
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    const std::uint32_t exponent = (bits >> 10) & 0x1F, mantissa = bits & 0x3FF;
    if (exponent == 0x1F) continue;  // inf / NaN, checked above
    double expected = exponent == 0 ? std::ldexp(static_cast<double>(mantissa), -24)
                                    : std::ldexp(1.0 + mantissa / 1024.0, static_cast<int>(exponent) - 15);
    if (bits & 0x8000) expected = -expected;
    const float got = nst::detail::half_to_float(static_cast<std::uint16_t>(bits));
    if (static_cast<double>(got) != expected) FAIL("half 0x" << std::hex << bits << " gave " << got);
  }
}

TEST_CASE("dtype_conversion: bfloat16 is the top half of a float", "[io][weights][dtype]") {
  using nst::detail::bfloat16_to_float;
  CHECK(bfloat16_to_float(0x3F80) == 1.0f);
  CHECK(bfloat16_to_float(0x4049) == 3.140625f);
  CHECK(bfloat16_to_float(0xC2F7) == -123.5f);
  CHECK(bfloat16_to_float(0x0001) == std::ldexp(1.0f, -133));  // subnormal
  CHECK(bfloat16_to_float(0xFF80) == -INFINITY);
  CHECK(std::isnan(bfloat16_to_float(0x7FC0)));
}

TEST_CASE("dtype_conversion: decode_values reads little-endian bytes of each dtype", "[io][weights][dtype]") {
  const std::string bytes("\x00\x3c\x00\xc0\x80\x3f\x49\x40", 8);  // F16 1, -2 / BF16 1, 3.140625
  float f[2];
  nst::detail::decode_values(nst::dtype::f16, bytes.data(), 2, f);
  CHECK(f[0] == 1.0f);
  CHECK(f[1] == -2.0f);
  double d[2];
  nst::detail::decode_values(nst::dtype::bf16, bytes.data() + 4, 2, d);
  CHECK(d[0] == 1.0);
  CHECK(d[1] == 3.140625);
  const std::string f64("\x18\x2d\x44\x54\xfb\x21\x09\x40", 8);  // pi
  nst::detail::decode_values(nst::dtype::f64, f64.data(), 1, d);
  CHECK(d[0] == 3.141592653589793);
  nst::detail::decode_values(nst::dtype::f64, f64.data(), 1, f);
  CHECK(f[0] == static_cast<float>(3.141592653589793));
  std::string out;
  const float values[2] = {1.0f, -2.5f};
  nst::detail::append_le_values(out, values, 2);
  CHECK(out == std::string("\x00\x00\x80\x3f\x00\x00\x20\xc0", 8));
}
