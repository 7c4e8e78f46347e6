// nst/style/color.hpp — colour spaces for colour control.
//
// Style transfer moves the painting's colours onto the photo. `original_colors` undoes that
// after the fact (Gatys et al. 2017, "luminance transfer" done post hoc, as neural-style's
// -original_colors): the result's luminance Y with the content's chrominance U, V.
// Conversions use the BT.601 YUV matrix on RGB images [N,3,H,W] with values in [0,1].
#pragma once

#include <algorithm>
#include <array>

#include <Eigen/LU>

#include "../core/tensor.hpp"

namespace nst {
namespace detail {
// Rows: Y, U, V as combinations of R, G, B (BT.601).
constexpr std::array<std::array<double, 3>, 3> rgb_to_yuv_matrix{{{0.299, 0.587, 0.114},
                                                                   {-0.14713, -0.28886, 0.436},
                                                                   {0.615, -0.51499, -0.10001}}};
template <class T>
tensor<T> mix_channels(const tensor<T>& image, const std::array<std::array<double, 3>, 3>& m, const char* what) {
  expect_rank(image, 4, what);
  NST_CHECK(image.dim(1) == 3, shape_error, 108, what, ": expected 3 channels, got shape ", image.shape());
  tensor<T> out(image.shape());
  const index_t plane = image.dim(2) * image.dim(3);
  for (index_t n = 0; n < image.dim(0); ++n) {
    const T* in = image.data() + n * 3 * plane;
    T* dst = out.data() + n * 3 * plane;
    for (index_t i = 0; i < plane; ++i)
      for (int row = 0; row < 3; ++row)
        dst[row * plane + i] = static_cast<T>(m[row][0] * in[i] + m[row][1] * in[plane + i] + m[row][2] * in[2 * plane + i]);
  }
  return out;
}
}  // namespace detail

template <class T>
tensor<T> rgb_to_yuv(const tensor<T>& rgb) { return detail::mix_channels(rgb, detail::rgb_to_yuv_matrix, "rgb_to_yuv"); }

template <class T>
tensor<T> yuv_to_rgb(const tensor<T>& yuv) {
  static const std::array<std::array<double, 3>, 3> inverse = [] {  // exact inverse of the matrix above
    Eigen::Matrix3d m;
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) m(r, c) = detail::rgb_to_yuv_matrix[r][c];
    const Eigen::Matrix3d inv = m.inverse();
    std::array<std::array<double, 3>, 3> out{};
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) out[r][c] = inv(r, c);
    return out;
  }();
  return detail::mix_channels(yuv, inverse, "yuv_to_rgb");
}

// The luminance of `stylized` with the chrominance of `content` (same shapes), clamped to [0,1].
template <class T>
tensor<T> original_colors(const tensor<T>& stylized, const tensor<T>& content) {
  expect_same_shape(stylized, content, "original_colors (stylized vs content)");
  tensor<T> yuv = rgb_to_yuv(content);
  const tensor<T> luminance = rgb_to_yuv(stylized);
  const index_t plane = yuv.dim(2) * yuv.dim(3);
  for (index_t n = 0; n < yuv.dim(0); ++n)
    std::copy_n(luminance.data() + n * 3 * plane, plane, yuv.data() + n * 3 * plane);
  tensor<T> rgb = yuv_to_rgb(yuv);
  for (T& v : rgb) v = std::min(T(1), std::max(T(0), v));
  return rgb;
}

}  // namespace nst
