#include <nst/loss/style.hpp>

#include "loss_support.hpp"

using loss_test::evaluate;
using loss_test::tensor_d;

TEST_CASE("style loss: w * mean((gram(F) - A)^2) with blended targets, and its gradient", "[loss][style]") {
  const auto s1 = nst_test::random_tensor<double>({1, 3, 4, 6}, 33);
  const auto s2 = nst_test::random_tensor<double>({1, 3, 5, 5}, 34);  // style images may differ in size
  const auto x = nst_test::random_tensor<double>({1, 3, 4, 4}, 35);
  nst::style_loss<double> style(100.0, {"relu2_1"});
  style.set_targets({{{"relu2_1", s1}}, {{"relu2_1", s2}}}, {1.0, 3.0});

  // A = 0.25 gram(s1) + 0.75 gram(s2), computed here from the definition G = F Fᵀ / (C*H*W).
  auto gram_of = [](const tensor_d& f) {
    const auto m = f.matrix(f.dim(1), f.dim(2) * f.dim(3));
    Eigen::MatrixXd g = m * m.transpose() / static_cast<double>(f.size());
    return g;
  };
  const Eigen::MatrixXd expected_target = 0.25 * gram_of(s1) + 0.75 * gram_of(s2);
  const tensor_d& target = style.target("relu2_1");
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) CHECK(target[r * 3 + c] == Approx(expected_target(r, c)).epsilon(1e-12));

  const double expected = 100.0 * (gram_of(x) - expected_target).squaredNorm() / 9.0;
  tensor_d gradient;
  CHECK(evaluate(style, x, "relu2_1", &gradient) == Approx(expected).epsilon(1e-12));
  auto check = nst::check_gradient([&](const tensor_d& at) { return evaluate(style, at, "relu2_1"); }, x, gradient);
  CHECK(check.ok(1e-6));
}

TEST_CASE("style loss: bad blend weights and missing layers are refused", "[loss][style]") {
  const auto s = nst_test::random_tensor<double>({1, 2, 3, 3}, 36);
  nst::style_loss<double> style(1.0, {"relu1_1"});
  CHECK_THROWS_WITH(style.set_targets({{{"relu1_1", s}}}, {1.0, 2.0}), Catch::Contains("2 blend weights for 1"));
  CHECK_THROWS_WITH(style.set_targets({{{"relu1_1", s}}}, {0.0}), Catch::Contains("sum to 0"));
  CHECK_THROWS_WITH(style.set_targets({{{"relu2_1", s}}}), Catch::Contains("lack layer 'relu1_1'"));
  CHECK_THROWS_WITH(evaluate(style, s, "relu1_1"), Catch::Contains("set_targets() was not called"));
}


TEST_CASE("style loss: per-layer weights scale each layer's term", "[loss][style]") {
  const auto s = nst_test::random_tensor<double>({1, 3, 4, 4}, 37);
  const auto x = nst_test::random_tensor<double>({1, 3, 4, 4}, 38);
  nst::style_loss<double> plain(2.0, {"relu1_1"}), weighted(2.0, {"relu1_1"}, {0.25});
  plain.set_targets({{{"relu1_1", s}}});
  weighted.set_targets({{{"relu1_1", s}}});
  CHECK(evaluate(weighted, x, "relu1_1") == Approx(0.25 * evaluate(plain, x, "relu1_1")).epsilon(1e-12));
  CHECK(weighted.layer_weights() == std::vector<double>{0.25});
  CHECK_THROWS_WITH(nst::style_loss<double>(1.0, {"relu1_1", "relu2_1"}, {1.0}),
                    Catch::Contains("1 layer weights for 2 style layers"));
  CHECK_THROWS_WITH(nst::style_loss<double>(1.0, {"relu1_1"}, {-1.0}), Catch::Contains("layer weight -1"));
}

TEST_CASE("style loss: guided Gram matrices only see their mask's pixels; gradient", "[loss][style]") {
  const auto s1 = nst_test::random_tensor<double>({1, 3, 4, 4}, 39);
  const auto s2 = nst_test::random_tensor<double>({1, 3, 5, 3}, 40);
  auto x = nst_test::random_tensor<double>({1, 3, 4, 6}, 41);
  // Masks at the features' resolution: left half for style 1, right half for style 2.
  nst::tensor<double> left({1, 1, 4, 6}), right({1, 1, 4, 6});
  for (nst::index_t i = 0; i < 4; ++i)
    for (nst::index_t j = 0; j < 6; ++j) (j < 3 ? left : right).at(0, 0, i, j) = 1.0;
  nst::style_loss<double> style(10.0, {"relu1_1"});
  style.set_guided_targets({{{"relu1_1", s1}}, {{"relu1_1", s2}}}, {left, right});
  REQUIRE(style.regions() == 2);

  // Expected: style k's Gram target against the Gram matrix of x's columns in its half only.
  auto gram_of_columns = [&](nst::index_t first, nst::index_t last) {
    Eigen::MatrixXd g = Eigen::MatrixXd::Zero(3, 3);
    for (nst::index_t i = 0; i < 4; ++i)
      for (nst::index_t j = first; j < last; ++j) {
        Eigen::Vector3d f(x.at(0, 0, i, j), x.at(0, 1, i, j), x.at(0, 2, i, j));
        g += f * f.transpose();
      }
    return Eigen::MatrixXd(g / (3.0 * 4.0 * static_cast<double>(last - first)));
  };
  auto target_of = [&](std::size_t k) {
    return Eigen::Map<const Eigen::Matrix<double, 3, 3, Eigen::RowMajor>>(style.target("relu1_1", k).data());
  };
  const double expected = 10.0 * ((gram_of_columns(0, 3) - target_of(0)).squaredNorm() +
                                  (gram_of_columns(3, 6) - target_of(1)).squaredNorm()) / 9.0;
  tensor_d gradient;
  CHECK(evaluate(style, x, "relu1_1", &gradient) == Approx(expected).epsilon(1e-9));
  auto check = nst::check_gradient([&](const tensor_d& at) { return evaluate(style, at, "relu1_1"); }, x, gradient);
  CHECK(check.ok(1e-6));

  // A mask at twice the resolution is resampled to the features': changing a pixel far right
  // leaves the term of a left-half mask alone.
  nst::tensor<double> big_left({1, 1, 8, 12});
  for (nst::index_t i = 0; i < 8; ++i)
    for (nst::index_t j = 0; j < 6; ++j) big_left.at(0, 0, i, j) = 1.0;
  nst::style_loss<double> only_left(10.0, {"relu1_1"});
  only_left.set_guided_targets({{{"relu1_1", s1}}}, {big_left});
  const double before = evaluate(only_left, x, "relu1_1");
  x.at(0, 1, 2, 5) += 0.7;
  CHECK(evaluate(only_left, x, "relu1_1") == Approx(before).epsilon(1e-12));

  CHECK_THROWS_WITH(style.set_guided_targets({{{"relu1_1", s1}}}, {left, right}), Catch::Contains("2 masks for 1"));
  CHECK_THROWS_WITH(style.set_guided_targets({{{"relu1_1", s1}}}, {nst::tensor<double>({1, 1, 4, 4})}),
                    Catch::Contains("zero everywhere"));
  CHECK_THROWS_WITH(style.set_guided_targets({{{"relu1_1", s1}}}, {nst::tensor<double>({1, 3, 4, 4}, 1.0)}),
                    Catch::Contains("must be [1,1,H,W]"));
  CHECK_THROWS_WITH(style.set_guided_targets({{{"relu1_1", s1}}}, {nst::tensor<double>({1, 1, 4, 4}, 2.0)}),
                    Catch::Contains("outside [0,1]"));
}
