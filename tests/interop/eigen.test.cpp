#include <nst/interop/eigen.hpp>
#include <nst/ops/gram.hpp>

#include "../support/support.hpp"

TEST_CASE("interop eigen: from_eigen copies by (row, column), whatever the storage order", "[interop][eigen]") {
  Eigen::MatrixXd column_major(2, 3);
  column_major << 1, 2, 3, 4, 5, 6;
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major = column_major;
  for (const auto& t : {nst::from_eigen(column_major), nst::from_eigen(row_major)}) {
    REQUIRE(t.shape() == nst::shape({2, 3}));
    for (nst::index_t i = 0; i < 6; ++i) CHECK(t[i] == static_cast<double>(i + 1));
  }
  // An expression is evaluated: the transpose is [3,2] with t[i*2 + j] == m(j, i).
  const auto transposed = nst::from_eigen(column_major.transpose());
  REQUIRE(transposed.shape() == nst::shape({3, 2}));
  CHECK(transposed[1] == 4.0);
  CHECK(transposed[2] == 2.0);
}

TEST_CASE("interop eigen: from_eigen with a shape keeps row-major order, refuses a wrong count",
          "[interop][eigen]") {
  Eigen::MatrixXf m(2, 2);
  m << 1, 2, 3, 4;
  const auto t = nst::from_eigen(m, {1, 1, 2, 2});
  CHECK(t.shape() == nst::shape({1, 1, 2, 2}));
  CHECK(t.at(0, 0, 0, 1) == 2.0f);
  CHECK(t.at(0, 0, 1, 0) == 3.0f);
  CHECK_THROWS_WITH(nst::from_eigen(m, {5}), Catch::Contains("[nst.shape_error.184]") && Catch::Contains("[5]"));
}

TEST_CASE("interop eigen: to_eigen inverts from_eigen and needs rank 2", "[interop][eigen]") {
  const Eigen::MatrixXd m = Eigen::MatrixXd::Random(4, 7);
  CHECK(nst::to_eigen(nst::from_eigen(m)) == m);
  const auto t = nst_test::random_tensor<double>({2, 3}, 1);
  const Eigen::MatrixXd e = nst::to_eigen(t);
  CHECK(e(1, 2) == t[5]);
  CHECK(e(0, 1) == t[1]);
  CHECK_THROWS_WITH(nst::to_eigen(nst::tensor<double>({6})), Catch::Contains("[nst.shape_error.101]"));
}

TEST_CASE("interop eigen: channel_matrix is the Gram matrix's F and shares memory", "[interop][eigen]") {
  auto f = nst_test::random_tensor<double>({2, 4, 3, 5}, 7);
  const double chw = 4.0 * 3 * 5;
  const auto g = nst::gram(f);
  for (nst::index_t n = 0; n < 2; ++n) {
    const Eigen::MatrixXd expected = nst::channel_matrix(f, n) * nst::channel_matrix(f, n).transpose() / chw;
    for (nst::index_t i = 0; i < 4; ++i)
      for (nst::index_t j = 0; j < 4; ++j) CHECK(g[(n * 4 + i) * 4 + j] == Approx(expected(i, j)).epsilon(1e-12));
  }
  nst::channel_matrix(f, 1)(2, 7) = 42;  // row 2 = channel 2, column 7 = pixel (1, 2)
  CHECK(f.at(1, 2, 1, 2) == 42);
  const auto& cf = f;
  CHECK(nst::channel_matrix(cf, 1)(2, 7) == 42);
  CHECK_THROWS_WITH(nst::channel_matrix(f, 2),
                    Catch::Contains("[nst.value_error.281]") && Catch::Contains("[2,4,3,5]"));
  CHECK_THROWS_WITH(nst::channel_matrix(g, 0), Catch::Contains("[nst.shape_error.101]"));
}

TEST_CASE("interop eigen: image_plane maps one channel as H x W", "[interop][eigen]") {
  nst::tensor<float> image({1, 3, 2, 4});
  nst::image_plane(image, 0, 1).setConstant(0.5f);
  nst::image_plane(image, 0, 2)(1, 3) = 1.0f;
  for (nst::index_t y = 0; y < 2; ++y)
    for (nst::index_t x = 0; x < 4; ++x) {
      CHECK(image.at(0, 0, y, x) == 0.0f);
      CHECK(image.at(0, 1, y, x) == 0.5f);
    }
  CHECK(image.at(0, 2, 1, 3) == 1.0f);
  const auto& view = image;
  CHECK(nst::image_plane(view, 0, 1).sum() == Approx(4.0f));
  CHECK_THROWS_WITH(nst::image_plane(image, 0, 3), Catch::Contains("[nst.value_error.281]"));
  CHECK_THROWS_WITH(nst::image_plane(image, -1, 0), Catch::Contains("[nst.value_error.281]"));
}
