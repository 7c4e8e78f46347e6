#include <nst/style/sheet.hpp>

#include "../support/support.hpp"

namespace {

// The columns [left, left + width) of `sheet` as their own image.
template <class T>
nst::tensor<T> region(const nst::tensor<T>& sheet, nst::index_t left, nst::index_t width) {
  nst::tensor<T> out({1, 3, sheet.dim(2), width});
  for (nst::index_t c = 0; c < 3; ++c)
    for (nst::index_t y = 0; y < sheet.dim(2); ++y)
      for (nst::index_t x = 0; x < width; ++x) out.at(0, c, y, x) = sheet.at(0, c, y, left + x);
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("contact_sheet: each region is the input resized to the sheet's height", "[style][sheet]", float,
                   double) {
  using T = TestType;
  const auto content = nst_test::random_tensor<T>({1, 3, 60, 80}, 1, 0, 1);  // 4:3 -> 48 x 64
  const auto style = nst_test::random_tensor<T>({1, 3, 90, 45}, 2, 0, 1);    // 1:2 -> 48 x 24
  const auto result = nst_test::random_tensor<T>({1, 3, 48, 50}, 3, 0, 1);   // already 48 high
  const nst::index_t gap = 5;
  const auto sheet = nst::contact_sheet<T>({content, style, result}, 48, gap, T(0.25));
  REQUIRE(sheet.shape() == nst::shape({1, 3, 48, 64 + gap + 24 + gap + 50}));
  CHECK(nst_test::max_relative_error(region(sheet, 0, 64), nst::resize(content, 48, 64)) == 0);
  CHECK(nst_test::max_relative_error(region(sheet, 64 + gap, 24), nst::resize(style, 48, 24)) == 0);
  CHECK(nst_test::max_relative_error(region(sheet, 64 + gap + 24 + gap, 50), result) < 1e-6);
  for (const nst::index_t left : {nst::index_t(64), nst::index_t(64 + gap + 24)}) {
    const auto between = region(sheet, left, gap);
    for (const T v : between) CHECK(v == T(0.25));
  }
}

TEST_CASE("contact_sheet: one image, no gap, at least one column", "[style][sheet]") {
  const auto tall = nst_test::random_tensor<float>({1, 3, 300, 2}, 4, 0, 1);
  const auto sheet = nst::contact_sheet<float>({tall}, 30, 0);
  CHECK(sheet.shape() == nst::shape({1, 3, 30, 1}));
}

TEST_CASE("contact_sheet: bad input is a clear error", "[style][sheet]") {
  const auto image = nst_test::random_tensor<float>({1, 3, 8, 8}, 5, 0, 1);
  CHECK_THROWS_WITH((nst::contact_sheet<float>({}, 10)), Catch::Contains("value_error.277"));
  CHECK_THROWS_WITH((nst::contact_sheet<float>({image}, 0)), Catch::Contains("value_error.277"));
  CHECK_THROWS_WITH((nst::contact_sheet<float>({image}, 8, -1)), Catch::Contains("value_error.277"));
  CHECK_THROWS_WITH((nst::contact_sheet<float>({image, nst::tensor<float>({1, 1, 8, 8})}, 8)), Catch::Contains("value_error.278"));
  CHECK_THROWS_WITH((nst::contact_sheet<float>({nst::tensor<float>({3, 8, 8})}, 8)), Catch::Contains("value_error.278"));
  CHECK_THROWS_WITH((nst::contact_sheet<float>({nst::tensor<float>({1, 3, 0, 8})}, 8)), Catch::Contains("value_error.278"));
  CHECK_THROWS_WITH((nst::contact_sheet<float>({image, image}, 8, nst::max_image_side)), Catch::Contains("value_error.279"));
  CHECK_THROWS_WITH((nst::contact_sheet<float>({image}, nst::max_image_side + 1)), Catch::Contains("value_error.279"));
}
