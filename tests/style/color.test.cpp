#include <fstream>
#include <nst/style/color.hpp>
#include <string>

#include "../support/support.hpp"

TEST_CASE("rgb_to_yuv and yuv_to_rgb are inverses", "[style][color]") {
  auto rgb = nst_test::random_tensor<double>({2, 3, 5, 4}, 21, 0.0, 1.0);
  auto back = nst::yuv_to_rgb(nst::rgb_to_yuv(rgb));
  CHECK(nst_test::max_relative_error(back, rgb) < 1e-12);
  // Grey has no chrominance and its luminance is the grey level.
  nst::tensor<double> grey({1, 3, 1, 1}, 0.4);
  auto yuv = nst::rgb_to_yuv(grey);
  CHECK(yuv[0] == Approx(0.4));
  CHECK(yuv[1] == Approx(0.0).margin(1e-4));
  CHECK(yuv[2] == Approx(0.0).margin(1e-4));
}

TEST_CASE("original_colors keeps the result's luminance and the content's chrominance", "[style][color]") {
  auto stylized = nst_test::random_tensor<double>({1, 3, 6, 6}, 22, 0.2, 0.8);
  auto content = nst_test::random_tensor<double>({1, 3, 6, 6}, 23, 0.2, 0.8);
  auto mixed = nst::original_colors(stylized, content);
  auto y_mixed = nst::rgb_to_yuv(mixed), y_styl = nst::rgb_to_yuv(stylized), y_cont = nst::rgb_to_yuv(content);
  const nst::index_t plane = 36;
  for (nst::index_t i = 0; i < plane; ++i) {
    // Clamping to [0,1] may bend a few values; inputs in [0.2,0.8] keep most pixels unclamped.
    bool clamped = false;
    for (int c = 0; c < 3; ++c) clamped = clamped || mixed[c * plane + i] == 0.0 || mixed[c * plane + i] == 1.0;
    if (clamped) continue;
    CHECK(y_mixed[i] == Approx(y_styl[i]).margin(1e-4));
    CHECK(y_mixed[plane + i] == Approx(y_cont[plane + i]).margin(1e-4));
    CHECK(y_mixed[2 * plane + i] == Approx(y_cont[2 * plane + i]).margin(1e-4));
  }
  CHECK_THROWS_AS(nst::original_colors(stylized, nst::tensor<double>({1, 3, 6, 5})), nst::shape_error);
  CHECK_THROWS_AS(nst::rgb_to_yuv(nst::tensor<double>({1, 4, 2, 2})), nst::shape_error);
}

namespace {
// Mean [3] and covariance [3,3] of an RGB image's pixels, from the definition.
std::pair<Eigen::Vector3d, Eigen::Matrix3d> color_statistics(const nst::tensor<double>& rgb) {
  const nst::index_t plane = rgb.dim(2) * rgb.dim(3);
  Eigen::Vector3d mean = Eigen::Vector3d::Zero();
  for (nst::index_t i = 0; i < plane; ++i) mean += Eigen::Vector3d(rgb[i], rgb[plane + i], rgb[2 * plane + i]);
  mean /= static_cast<double>(plane);
  Eigen::Matrix3d cov = Eigen::Matrix3d::Zero();
  for (nst::index_t i = 0; i < plane; ++i) {
    const Eigen::Vector3d d = Eigen::Vector3d(rgb[i], rgb[plane + i], rgb[2 * plane + i]) - mean;
    cov += d * d.transpose();
  }
  return {mean, cov / static_cast<double>(plane)};
}

// A colourful image: random pixels mixed so the channels correlate, shifted towards red.
nst::tensor<double> tinted_image(nst::shape s, unsigned seed, double red) {
  auto image = nst_test::random_tensor<double>(s, seed, 0.0, 0.6);
  const nst::index_t plane = s[2] * s[3];
  for (nst::index_t i = 0; i < plane; ++i) {
    image[i] += red;
    image[plane + i] = 0.5 * image[plane + i] + 0.3 * image[i];
  }
  return image;
}
}  // namespace

TEST_CASE("match_colors: Cholesky and PCA give the reference's mean and covariance", "[style][color]") {
  const auto style = tinted_image({1, 3, 9, 7}, 24, 0.4);
  const auto content = tinted_image({1, 3, 6, 11}, 25, 0.0);
  const auto [content_mean, content_cov] = color_statistics(content);
  const auto [style_mean, style_cov] = color_statistics(style);
  REQUIRE((style_mean - content_mean).norm() > 0.1);  // the test means something

  for (const auto method : {nst::color_match::cholesky, nst::color_match::pca}) {
    const auto matched = nst::match_colors(style, content, method);
    REQUIRE(matched.shape() == style.shape());
    const auto [mean, cov] = color_statistics(matched);
    CHECK((mean - content_mean).norm() < 1e-9);
    CHECK((cov - content_cov).norm() < 1e-5 * content_cov.norm());
  }
  // The two differ (by a rotation), and none changes nothing.
  const auto by_cholesky = nst::match_colors(style, content, nst::color_match::cholesky);
  const auto by_pca = nst::match_colors(style, content, nst::color_match::pca);
  CHECK(nst_test::max_relative_error(by_cholesky, by_pca) > 1e-3);
  CHECK(nst::match_colors(style, content, nst::color_match::none).vector() == style.vector());
  CHECK_THROWS_WITH(nst::match_colors(nst::tensor<double>({1, 1, 4, 4}), content, nst::color_match::pca),
                    Catch::Contains("expected an RGB image [1,3,H,W]"));
}

TEST_CASE("luminance_image and match_luminance: grey images with the reference's luminance statistics",
          "[style][color]") {
  const auto style = tinted_image({1, 3, 8, 8}, 26, 0.3);
  const auto content = tinted_image({1, 3, 5, 9}, 27, 0.0);
  const auto grey = nst::luminance_image(content);
  const auto yuv = nst::rgb_to_yuv(content);
  const nst::index_t plane = 45;
  for (nst::index_t i = 0; i < plane; ++i) {
    CHECK(grey[i] == Approx(yuv[i]).epsilon(1e-12));
    CHECK(grey[plane + i] == grey[i]);
    CHECK(grey[2 * plane + i] == grey[i]);
  }
  const auto matched = nst::match_luminance(style, content);
  const auto [mean, cov] = color_statistics(matched);
  const auto [content_mean, content_cov] = color_statistics(grey);
  CHECK(mean(0) == Approx(content_mean(0)).epsilon(1e-9));
  CHECK(cov(0, 0) == Approx(content_cov(0, 0)).epsilon(1e-9));
}

namespace {
// How far the process's peak resident set grows while `work` runs, in bytes: the peak is reset
// first (Linux: "5" written to /proc/self/clear_refs) and read from /proc/self/status after.
// -1 where the peak cannot be reset (not Linux, or not allowed).
template <class Work>
long long peak_memory_growth(Work&& work) {
  auto peak_kib = [] {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
    return -1LL;
  };
  {
    std::ofstream reset("/proc/self/clear_refs");
    if (!(reset << "5" << std::flush)) return -1;
  }
  const long long before = peak_kib();
  work();
  const long long after = peak_kib();
  return before < 0 || after < 0 ? -1 : (after - before) * 1024;
}
}  // namespace

TEST_CASE("match_colors and its moments make no copy of a large image", "[style][color]") {
  // A 2048x2048 content made four copies in double (320 MB) before any colour matching, and the
  // nst command's --max-memory fitted its estimate to that constant instead of the iterations.
  const nst::shape s{1, 3, 1536, 1536};
  nst::tensor<float> image(s);
  for (nst::index_t i = 0; i < image.size(); ++i) image[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f;
  const long long image_bytes = image.size() * static_cast<long long>(sizeof(float));
  nst::detail::feature_moments<double> moments;
  const long long for_moments = peak_memory_growth([&] { moments = nst::detail::color_moments(image, "test"); });
  if (for_moments < 0) {
    WARN("the peak resident set cannot be reset here: not measured");
    return;
  }
  CHECK(for_moments < image_bytes / 8);
  CHECK(moments.mean[0] == Approx(0.4995).margin(1e-3));
  CHECK(moments.covariance[0] == Approx(0.0833).margin(1e-3));  // values spread evenly over [0, 1)
  nst::tensor<float> recoloured;
  const long long for_matching =
      peak_memory_growth([&] { recoloured = nst::match_colors(image, image, nst::color_match::pca); });
  CHECK(for_matching < image_bytes + image_bytes / 4);            // the result, nothing more
  CHECK(nst_test::max_relative_error(recoloured, image) < 1e-4);  // matched to itself: unchanged
}
