#include <nst/style/color.hpp>

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
