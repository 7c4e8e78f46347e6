#include <nst/loss/wasserstein.hpp>

#include <Eigen/Eigenvalues>

#include "loss_support.hpp"

using loss_test::evaluate;
using loss_test::tensor_d;

namespace {
Eigen::MatrixXd symmetric_root(const Eigen::MatrixXd& m) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> e(m);
  return e.eigenvectors() * e.eigenvalues().cwiseSqrt().asDiagonal() * e.eigenvectors().transpose();
}
std::pair<Eigen::VectorXd, Eigen::MatrixXd> moments_of(const tensor_d& x) {
  const nst::index_t c = x.dim(1), p = x.dim(2) * x.dim(3);
  const auto f = x.matrix(c, p);
  const Eigen::VectorXd mean = f.rowwise().mean();
  const Eigen::MatrixXd centred = f.colwise() - mean;
  return {mean, centred * centred.transpose() / static_cast<double>(p)};
}
}  // namespace

TEST_CASE("wasserstein_style_loss: the closed-form W2 of two Gaussians, and its gradient", "[loss][wasserstein]") {
  const auto s = nst_test::random_tensor<double>({1, 4, 5, 5}, 61, 0.0, 3.0);
  const auto x = nst_test::random_tensor<double>({1, 4, 4, 6}, 62);
  nst::wasserstein_style_loss<double> style(2.0, {"relu3_1"});
  style.set_targets({{{"relu3_1", s}}});

  // |μ-μt|² + tr(Σ + Σt - 2 (Σt^½ Σ Σt^½)^½) with both Σ regularised by the same ε, from scratch.
  const auto [ms, cs] = moments_of(s);
  const auto [mx, cx] = moments_of(x);
  const double epsilon = 1e-4 * cs.trace() / 4.0 + 1e-12;
  CHECK(style.target("relu3_1").epsilon == Approx(epsilon).epsilon(1e-12));
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(4, 4);
  const Eigen::MatrixXd cs_reg = cs + epsilon * identity, cx_reg = cx + epsilon * identity;
  const Eigen::MatrixXd root = symmetric_root(cs_reg);
  const double w2 = (mx - ms).squaredNorm() + (cx_reg + cs_reg - 2 * symmetric_root(root * cx_reg * root)).trace();
  tensor_d gradient;
  CHECK(evaluate(style, x, "relu3_1", &gradient) == Approx(2.0 * w2 / 4.0).epsilon(1e-10));
  auto check = nst::check_gradient([&](const tensor_d& at) { return evaluate(style, at, "relu3_1"); }, x, gradient);
  CHECK(check.ok(1e-6));

  // W2 vanishes between a distribution and itself, and is positive otherwise.
  CHECK(evaluate(style, s, "relu3_1") == Approx(0.0).margin(1e-9));
  CHECK(w2 > 0.1);
}

TEST_CASE("wasserstein_style_loss: masked, with layer weights, through dead channels; gradient",
          "[loss][wasserstein]") {
  auto s = nst_test::random_tensor<double>({1, 3, 4, 4}, 63, 0.0, 1.0);
  auto x = nst_test::random_tensor<double>({1, 3, 6, 4}, 64, 0.0, 1.0);
  for (nst::index_t i = 0; i < 16; ++i) s[2 * 16 + i] = 0.0;  // a channel that never fires, as after ReLU
  nst::tensor<double> mask({1, 1, 3, 2}, 0.0);
  mask[0] = mask[1] = mask[2] = 1.0;
  mask[3] = 0.5;
  nst::wasserstein_style_loss<double> style(1.0, {"relu1_1"}, {3.0});
  style.set_guided_targets({{{"relu1_1", s}}}, {mask});
  tensor_d gradient;
  const double value = evaluate(style, x, "relu1_1", &gradient);
  CHECK(std::isfinite(value));
  CHECK(value > 0);
  auto check = nst::check_gradient([&](const tensor_d& at) { return evaluate(style, at, "relu1_1"); }, x, gradient);
  CHECK(check.ok(1e-5));
  // Pixels outside the (resampled) mask get no gradient: the bottom rows map to mask rows of 0.
  for (nst::index_t c = 0; c < 3; ++c)
    for (nst::index_t j = 0; j < 4; ++j) CHECK(gradient.at(0, c, 5, j) == 0.0);
}
