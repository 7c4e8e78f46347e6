// Built only where xtensor is installed (Debian's libxtensor-dev); the suite builds without it.
#if __has_include(<xtensor/xarray.hpp>)
#include <nst/interop/xtensor.hpp>

#include <xtensor/xbuilder.hpp>
#include <xtensor/xview.hpp>

#include <cstdint>

#include "../support/support.hpp"

TEST_CASE("interop xtensor: from_xtensor keeps shape and C order (NCHW for 4-D)", "[interop][xtensor]") {
  const xt::xarray<double> a = xt::arange<double>(24).reshape({1, 2, 3, 4});
  const auto t = nst::from_xtensor<float>(a);
  REQUIRE(t.shape() == nst::shape({1, 2, 3, 4}));
  for (std::size_t c = 0; c < 2; ++c)
    for (std::size_t y = 0; y < 3; ++y)
      for (std::size_t x = 0; x < 4; ++x)
        CHECK(t.at(0, static_cast<nst::index_t>(c), static_cast<nst::index_t>(y), static_cast<nst::index_t>(x)) ==
              static_cast<float>(a(0, c, y, x)));
  // A fixed-rank xtensor and a lazy expression (a strided view) go the same way.
  const xt::xtensor<int, 2> fixed = {{1, 2, 3}, {4, 5, 6}};
  const auto column = nst::from_xtensor<double>(xt::view(fixed, xt::all(), 1));
  REQUIRE(column.shape() == nst::shape({2}));
  CHECK(column[0] == 2.0);
  CHECK(column[1] == 5.0);
  const auto scaled = nst::from_xtensor<double>(2.0 * fixed);
  CHECK(scaled[5] == 12.0);
}

TEST_CASE("interop xtensor: column-major arrays are refused, not transposed", "[interop][xtensor]") {
  xt::xarray<float, xt::layout_type::column_major> fortran = {{1, 2}, {3, 4}};
  CHECK_THROWS_WITH(nst::from_xtensor<float>(fortran),
                    Catch::Contains("[nst.value_error.280]") && Catch::Contains("column-major"));
  xt::xtensor<float, 3, xt::layout_type::column_major> image({2, 2, 3});
  CHECK_THROWS_WITH(nst::from_hwc_image<float>(image), Catch::Contains("[nst.value_error.280]"));
  // The conversion the message suggests works and keeps (row, column) meaning.
  const auto t = nst::from_xtensor<float>(xt::xarray<float, xt::layout_type::row_major>(fortran));
  CHECK(t[1] == 2.0f);
  CHECK(t[2] == 3.0f);
}

TEST_CASE("interop xtensor: more than six dimensions is a shape error", "[interop][xtensor]") {
  xt::xarray<float> deep = xt::zeros<float>({1, 1, 1, 1, 1, 1, 2});
  CHECK_THROWS_WITH(nst::from_xtensor<float>(deep), Catch::Contains("[nst.shape_error.180]") && Catch::Contains("7"));
}

TEST_CASE("interop xtensor: to_xarray and to_xtensor copy back, to_xtensor checks the rank", "[interop][xtensor]") {
  const auto t = nst_test::random_tensor<double>({2, 3, 4}, 3);
  const auto a = nst::to_xarray(t);
  REQUIRE(a.dimension() == 3);
  CHECK(a.shape()[2] == 4);
  CHECK(a(1, 2, 3) == t[(1 * 3 + 2) * 4 + 3]);
  const auto fixed = nst::to_xtensor<3>(t);
  CHECK(fixed(1, 0, 2) == t[(1 * 3 + 0) * 4 + 2]);
  CHECK(nst_test::max_relative_error(nst::from_xtensor<double>(a), t) == 0.0);
  CHECK_THROWS_WITH(nst::to_xtensor<4>(t), Catch::Contains("[nst.shape_error.181]") && Catch::Contains("[2,3,4]"));
}

TEST_CASE("interop xtensor: HWC 8-bit images to [1,3,H,W] in [0,1] and back", "[interop][xtensor]") {
  xt::xtensor<std::uint8_t, 3> rgb({2, 3, 3});
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb.data()[i] = static_cast<std::uint8_t>(i * 9);
  const auto image = nst::from_hwc_image<float>(rgb);
  REQUIRE(image.shape() == nst::shape({1, 3, 2, 3}));
  // pixel (y=1, x=2) channel 1 is HWC element (1*3 + 2)*3 + 1 = 16, value 144.
  CHECK(image.at(0, 1, 1, 2) == Approx(144.0f / 255.0f));
  CHECK(image.at(0, 0, 0, 0) == 0.0f);
  const auto back = nst::to_hwc_image<std::uint8_t>(image);
  CHECK(back == rgb);

  // Grey is copied to three channels, alpha is dropped, floats are taken as they are.
  xt::xtensor<std::uint8_t, 3> grey = {{{255}, {0}}};
  const auto from_grey = nst::from_hwc_image<double>(grey);
  CHECK(from_grey.shape() == nst::shape({1, 3, 1, 2}));
  for (nst::index_t c = 0; c < 3; ++c) CHECK(from_grey.at(0, c, 0, 0) == 1.0);
  xt::xtensor<float, 3> rgba = {{{0.1f, 0.2f, 0.3f, 0.9f}}};
  const auto from_rgba = nst::from_hwc_image<float>(rgba);
  CHECK(from_rgba.shape() == nst::shape({1, 3, 1, 1}));
  CHECK(from_rgba[2] == 0.3f);
  CHECK_THROWS_WITH(nst::from_hwc_image<float>(xt::xtensor<float, 3>({2, 2, 2})),
                    Catch::Contains("[nst.shape_error.182]") && Catch::Contains("[2,2,2]"));
}

TEST_CASE("interop xtensor: to_hwc_image clamps and rounds 8-bit output, copies floats", "[interop][xtensor]") {
  nst::tensor<float> image({1, 3, 1, 1});
  image[0] = -0.5f;
  image[1] = 0.5f;
  image[2] = 1.5f;
  const auto bytes = nst::to_hwc_image<std::uint8_t>(image);
  CHECK(int(bytes(0, 0, 0)) == 0);
  CHECK(int(bytes(0, 0, 1)) == 128);  // round(127.5)
  CHECK(int(bytes(0, 0, 2)) == 255);
  const auto floats = nst::to_hwc_image<float>(image);
  CHECK(floats(0, 0, 2) == 1.5f);
  CHECK_THROWS_WITH(nst::to_hwc_image<float>(nst::tensor<float>({2, 3, 1, 1})),
                    Catch::Contains("[nst.shape_error.183]"));
}
#endif
