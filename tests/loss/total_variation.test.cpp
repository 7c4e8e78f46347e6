#include <nst/loss/total_variation.hpp>

#include "loss_support.hpp"

using loss_test::evaluate;
using loss_test::tensor_d;

TEST_CASE("total-variation loss: w * Σ squared neighbour differences, and its gradient", "[loss][tv]") {
  tensor_d x(nst::shape{1, 1, 2, 2}, std::vector<double>{1, 2, 4, 8});
  nst::tv_loss<double> tv(0.5);
  // Horizontal: (2-1)^2 + (8-4)^2 = 17; vertical: (4-1)^2 + (8-2)^2 = 45.
  CHECK(evaluate(tv, x, "unused") == Approx(0.5 * 62));
  const auto y = nst_test::random_tensor<double>({2, 3, 5, 4}, 37);
  tensor_d gradient;
  evaluate(tv, y, "unused", &gradient);
  // Central differences with h = 1e-6 are good to ~1e-7 here, hence 1e-6.
  CHECK(nst::check_gradient([&](const tensor_d& at) { return evaluate(tv, at, "unused"); }, y, gradient).ok(1e-6));
}

