// nst/interop/xtensor.hpp — copy between xtensor arrays and nst tensors, layouts stated.
//
// nst never needs xtensor; include this header only in code that already uses it (Debian's
// libxtensor-dev 0.24 works). Every conversion copies, and the element order is always C order
// (row-major, last index fastest), the order of nst::tensor:
//
//   xt::xarray<float> a = xt::random::rand<float>({1, 3, 64, 64});
//   nst::tensor<float> t = nst::from_xtensor<float>(a);       // same shape [1,3,64,64]: NCHW
//   xt::xarray<float> back = nst::to_xarray(t);                // a row-major xarray again
//   auto fixed = nst::to_xtensor<4>(t);                       // xt::xtensor<float, 4>
//
// Shapes are kept as they are, so a 4-D array is read as NCHW (batch, channels, height, width),
// which is what nst's ops expect. Arrays that store their elements column-major (Fortran order,
// xt::layout_type::column_major) are refused with value_error 280 rather than silently
// transposed: convert them first with xt::xarray<T, xt::layout_type::row_major>(a). Views and
// lazy expressions are evaluated in row-major order.
//
// Images in most image libraries (xtensor-io's xt::load_image among them) are height x width x
// channels (HWC) of 8-bit values; nst's images are [1,3,H,W] of RGB values in [0,1]. Two helpers
// convert explicitly, as load_image/save_image in <nst/io/image.hpp> do:
//
//   xt::xtensor<std::uint8_t, 3> pixels = ...;                    // [H,W,3] (or [H,W,1], [H,W,4])
//   nst::tensor<float> image = nst::from_hwc_image<float>(pixels); // [1,3,H,W], values / 255
//   auto out = nst::to_hwc_image<std::uint8_t>(image);             // [H,W,3], round(255 * clamp)
//
// Grey images ([H,W,1]) get three equal channels and a fourth (alpha) channel is dropped.
#pragma once

#include <xtensor/xarray.hpp>
#include <xtensor/xexpression.hpp>
#include <xtensor/xlayout.hpp>
#include <xtensor/xtensor.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

#include "../core/tensor.hpp"

namespace nst {
namespace detail {

// The nst shape of an xtensor expression, with the checks every conversion makes: not
// column-major (value_error 280) and at most shape::max_rank dimensions (shape_error 180).
template <class E>
shape checked_xtensor_shape(const E& e, const char* function) {
  NST_CHECK(e.layout() != xt::layout_type::column_major, value_error, 280, function,
            ": the array is column-major; nst tensors are row-major (C order) and nst does not transpose "
            "silently: copy it into xt::xarray<T, xt::layout_type::row_major> first");
  NST_CHECK(e.dimension() <= static_cast<std::size_t>(shape::max_rank), shape_error, 180, function,
            ": the array has ", e.dimension(), " dimensions; nst tensors have at most ", shape::max_rank);
  return shape(e.shape().begin(), e.shape().end());
}

// The scale from an element of type V to [0,1]: 1 / max for unsigned integers, 1 for floats.
template <class V>
constexpr double unit_scale() {
  static_assert(std::is_floating_point<V>::value || std::is_unsigned<V>::value,
                "nst HWC images hold floating-point values in [0,1] or unsigned integer code values");
  if constexpr (std::is_floating_point<V>::value) {
    return 1.0;
  } else {
    return 1.0 / static_cast<double>(std::numeric_limits<V>::max());
  }
}

}  // namespace detail

// A tensor<T> with the shape and (row-major) element order of `expression`; elements are
// converted with static_cast. Refuses column-major arrays (value_error 280) and more than
// six dimensions (shape_error 180).
template <class T, class E>
tensor<T> from_xtensor(const xt::xexpression<E>& expression) {
  const E& e = expression.derived_cast();
  tensor<T> out(detail::checked_xtensor_shape(e, "from_xtensor"));
  std::transform(e.template cbegin<xt::layout_type::row_major>(), e.template cend<xt::layout_type::row_major>(),
                 out.begin(), [](const auto& v) { return static_cast<T>(v); });
  return out;
}

// A row-major xt::xarray with the shape and values of `t`.
template <class T>
xt::xarray<T, xt::layout_type::row_major> to_xarray(const tensor<T>& t) {
  xt::xarray<T, xt::layout_type::row_major> out(std::vector<std::size_t>(t.shape().begin(), t.shape().end()));
  std::copy(t.begin(), t.end(), out.data());
  return out;
}

// A row-major xt::xtensor<T, Rank> with the shape and values of `t`; shape_error 181 unless
// t has exactly Rank dimensions.
template <std::size_t Rank, class T>
xt::xtensor<T, Rank, xt::layout_type::row_major> to_xtensor(const tensor<T>& t) {
  NST_CHECK(t.rank() == static_cast<int>(Rank), shape_error, 181, "to_xtensor<", Rank, ">: the tensor has shape ",
            t.shape(), ", of rank ", t.rank());
  std::array<std::size_t, Rank> dims{};
  std::copy(t.shape().begin(), t.shape().end(), dims.begin());
  xt::xtensor<T, Rank, xt::layout_type::row_major> out(dims);
  std::copy(t.begin(), t.end(), out.data());
  return out;
}

// An nst image [1,3,H,W] (RGB in [0,1]) from an [H,W,C] image with C = 1 (grey, copied to three
// channels), 3 (RGB) or 4 (RGBA, alpha dropped). Unsigned integer pixels are divided by their
// type's maximum (255 for std::uint8_t); floating-point pixels are taken as they are.
// shape_error 182 for other shapes.
template <class T, class E>
tensor<T> from_hwc_image(const xt::xexpression<E>& expression) {
  const E& e = expression.derived_cast();
  const shape hwc = detail::checked_xtensor_shape(e, "from_hwc_image");
  NST_CHECK(hwc.rank() == 3 && (hwc[2] == 1 || hwc[2] == 3 || hwc[2] == 4), shape_error, 182,
            "from_hwc_image: expected an image [height, width, channels] with 1, 3 or 4 channels, got shape ", hwc);
  const index_t height = hwc[0], width = hwc[1], channels = hwc[2];
  const double scale = detail::unit_scale<typename E::value_type>();
  tensor<T> out({1, 3, height, width});
  auto pixel = e.template cbegin<xt::layout_type::row_major>();
  for (index_t y = 0; y < height; ++y) {
    for (index_t x = 0; x < width; ++x) {
      for (index_t c = 0; c < channels; ++c, ++pixel) {
        const T value = static_cast<T>(static_cast<double>(*pixel) * scale);
        if (channels == 1) {
          for (index_t rgb = 0; rgb < 3; ++rgb) out.at(0, rgb, y, x) = value;
        } else if (c < 3) {
          out.at(0, c, y, x) = value;
        }
      }
    }
  }
  return out;
}

// An [H,W,C] xtensor from the nst image [1,C,H,W]. For an unsigned integer U each value is
// clamped to [0,1] and rounded to round(value * max(U)); for floating-point U values are copied
// unchanged. shape_error 183 unless `image` is [1,C,H,W].
template <class U, class T>
xt::xtensor<U, 3, xt::layout_type::row_major> to_hwc_image(const tensor<T>& image) {
  static_assert(std::is_floating_point<U>::value || std::is_unsigned<U>::value,
                "to_hwc_image<U>: U must be a floating-point or an unsigned integer type");
  NST_CHECK(image.rank() == 4 && image.dim(0) == 1, shape_error, 183,
            "to_hwc_image: expected one image [1,C,H,W], got shape ", image.shape());
  const index_t channels = image.dim(1), height = image.dim(2), width = image.dim(3);
  xt::xtensor<U, 3, xt::layout_type::row_major> out(
      {static_cast<std::size_t>(height), static_cast<std::size_t>(width), static_cast<std::size_t>(channels)});
  U* pixel = out.data();
  for (index_t y = 0; y < height; ++y) {
    for (index_t x = 0; x < width; ++x) {
      for (index_t c = 0; c < channels; ++c, ++pixel) {
        const T value = image.at(0, c, y, x);
        if constexpr (std::is_floating_point<U>::value) {
          *pixel = static_cast<U>(value);
        } else {
          const double top = static_cast<double>(std::numeric_limits<U>::max());
          const double clamped = std::min(1.0, std::max(0.0, static_cast<double>(value)));
          *pixel = static_cast<U>(std::lround(clamped * top));
        }
      }
    }
  }
  return out;
}

}  // namespace nst
