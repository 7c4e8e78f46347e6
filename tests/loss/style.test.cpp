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

