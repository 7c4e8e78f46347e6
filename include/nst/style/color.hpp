// nst/style/color.hpp — colour spaces for colour control.
//
// Style transfer moves the painting's colours onto the photo. `original_colors` undoes that
// after the fact (Gatys et al. 2017, "luminance transfer" done post hoc, as neural-style's
// -original_colors): the result's luminance Y with the content's chrominance U, V.
// Conversions use the BT.601 YUV matrix on RGB images [N,3,H,W] with values in [0,1].
//
// The other two colour controls of that paper act before the transfer:
//   - colour histogram matching: match_colors(style, content, color_match::cholesky) recolours
//     the style image so its pixels' mean and 3x3 colour covariance equal the content's,
//     x' = A (x - μ_s) + μ_c with A Σ_s Aᵀ = Σ_c, A from Cholesky factors (A = L_c L_s⁻¹) or from
//     symmetric square roots (color_match::pca, A = Σ_c^½ Σ_s^-½, the eigendecomposition
//     variant, which rotates colours least);
//   - luminance-only transfer: optimise on luminance_image(content) and
//     luminance_image(match_luminance(style, content)) (grey, R=G=B=Y), then recombine with
//     original_colors(result, content).
//
//   auto recoloured = nst::match_colors(style, content, nst::color_match::pca);
#pragma once

#include <algorithm>
#include <array>
#include <cmath>

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/LU>

#include "../core/tensor.hpp"
#include "../loss/detail/feature_statistics.hpp"

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

// RGB [N,3,H,W] -> YUV (BT.601: Y luminance, U and V chrominance); shape_error unless 3 channels.
template <class T>
tensor<T> rgb_to_yuv(const tensor<T>& rgb) { return detail::mix_channels(rgb, detail::rgb_to_yuv_matrix, "rgb_to_yuv"); }

// The exact inverse of rgb_to_yuv.
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

// How match_colors computes the linear map A with A Σ_s Aᵀ = Σ_c (none: no matching).
enum class color_match { none, cholesky, pca };

namespace detail {
inline void check_rgb_image(const shape& s, const char* what) {
  NST_CHECK(s.rank() == 4 && s[0] == 1 && s[1] == 3 && s[2] * s[3] > 0, shape_error, 186, what,
            ": expected an RGB image [1,3,H,W], got ", s);
}

// The pixels' mean [3] and colour covariance [3,3] of an RGB image [1,3,H,W], summed in double
// straight from its colour planes: no copy of the image is made (the content may be a large
// photo, whose copy in double would be 24 bytes a pixel: 100 MB at 2048x2048).
template <class T>
feature_moments<double> color_moments(const tensor<T>& rgb, const char* what) {
  check_rgb_image(rgb.shape(), what);
  const index_t pixels = rgb.dim(2) * rgb.dim(3);
  auto plane = [&](index_t c) {
    return Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(rgb.data() + c * pixels, pixels)
        .template cast<double>();
  };
  feature_moments<double> m{tensor<double>({3}), tensor<double>({3, 3})};
  for (index_t c = 0; c < 3; ++c) m.mean[c] = plane(c).sum() / static_cast<double>(pixels);
  for (index_t a = 0; a < 3; ++a)
    for (index_t b = 0; b <= a; ++b) {
      const double sum = ((plane(a) - m.mean[a]) * (plane(b) - m.mean[b])).sum();
      m.covariance[a * 3 + b] = m.covariance[b * 3 + a] = sum / static_cast<double>(pixels);
    }
  return m;
}

// Σ + εI with ε = 1e-6 · tr(Σ)/3 + 1e-12, so a flat-coloured image still has an invertible covariance.
inline Eigen::Matrix3d regularised(const tensor<double>& covariance) {
  Eigen::Matrix3d m = Eigen::Map<const Eigen::Matrix<double, 3, 3, Eigen::RowMajor>>(covariance.data());
  m.diagonal().array() += 1e-6 * m.trace() / 3 + 1e-12;
  return m;
}

// The symmetric square root of a symmetric positive definite matrix (power ½) or its inverse (-½).
inline Eigen::Matrix3d symmetric_power(const Eigen::Matrix3d& m, double power) {
  const Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> eigen(m);
  const Eigen::Vector3d scaled = eigen.eigenvalues().cwiseMax(1e-300).array().pow(power).matrix();
  return eigen.eigenvectors() * scaled.asDiagonal() * eigen.eigenvectors().transpose();
}
}  // namespace detail

// `source` ([1,3,H,W] RGB) recoloured so that the mean and covariance of its pixels' colours
// equal those of `reference` (any size): x' = A (x - μ_s) + μ_r, A as color_match says (none
// returns source). Values are not clamped (a few may leave [0,1]); shape_error 186.
template <class T>
tensor<T> match_colors(const tensor<T>& source, const tensor<T>& reference, color_match method) {
  detail::check_rgb_image(source.shape(), "match_colors (source)");
  detail::check_rgb_image(reference.shape(), "match_colors (reference)");
  if (method == color_match::none) return source;
  const detail::feature_moments<double> s = detail::color_moments(source, "match_colors (source)");
  const detail::feature_moments<double> r = detail::color_moments(reference, "match_colors (reference)");
  const Eigen::Matrix3d cs = detail::regularised(s.covariance), cr = detail::regularised(r.covariance);
  Eigen::Matrix3d a;
  if (method == color_match::cholesky) {
    const Eigen::Matrix3d ls = cs.llt().matrixL(), lr = cr.llt().matrixL();
    a = lr * ls.inverse();
  } else {
    a = detail::symmetric_power(cr, 0.5) * detail::symmetric_power(cs, -0.5);
  }
  const Eigen::Vector3d mean_s = Eigen::Map<const Eigen::Vector3d>(s.mean.data());
  const Eigen::Vector3d mean_r = Eigen::Map<const Eigen::Vector3d>(r.mean.data());
  const index_t plane = source.dim(2) * source.dim(3);
  tensor<T> out(source.shape());
  for (index_t i = 0; i < plane; ++i) {
    const Eigen::Vector3d x(source[i], source[plane + i], source[2 * plane + i]);
    const Eigen::Vector3d y = a * (x - mean_s) + mean_r;
    for (int c = 0; c < 3; ++c) out[c * plane + i] = static_cast<T>(y(c));
  }
  return out;
}

// The luminance Y of an RGB image [N,3,H,W] as a grey RGB image (R = G = B = Y), for the network.
template <class T>
tensor<T> luminance_image(const tensor<T>& rgb) {
  tensor<T> grey = rgb_to_yuv(rgb);
  const index_t plane = grey.dim(2) * grey.dim(3);
  for (index_t n = 0; n < grey.dim(0); ++n) {
    T* image = grey.data() + n * 3 * plane;
    std::copy_n(image, plane, image + plane);
    std::copy_n(image, plane, image + 2 * plane);
  }
  return grey;
}

// `source`'s luminance ([1,3,H,W] RGB in, grey RGB out) shifted and scaled to the mean and
// standard deviation of `reference`'s luminance: Y' = (Y - μ_s) σ_r / σ_s + μ_r (Gatys et al.
// 2017 match the style's luminance histogram to the content's this way). Not clamped.
template <class T>
tensor<T> match_luminance(const tensor<T>& source, const tensor<T>& reference) {
  auto statistics = [](const tensor<T>& rgb, const char* what) {
    const detail::feature_moments<double> m = detail::color_moments(luminance_image(rgb), what);
    return std::pair<double, double>(m.mean[0], std::sqrt(m.covariance[0]));
  };
  const auto [mean_s, deviation_s] = statistics(source, "match_luminance (source)");
  const auto [mean_r, deviation_r] = statistics(reference, "match_luminance (reference)");
  const double scale = deviation_s > 1e-12 ? deviation_r / deviation_s : 1.0;
  tensor<T> grey = luminance_image(source);
  for (T& v : grey) v = static_cast<T>((v - mean_s) * scale + mean_r);
  return grey;
}

}  // namespace nst
