#include <nst/loss/content.hpp>

#include "loss_support.hpp"

using loss_test::evaluate;
using loss_test::tensor_d;
using loss_test::mean_squared_difference;

TEST_CASE("content loss: w * mean((F - P)^2) and its gradient", "[loss][content]") {
  const auto target = nst_test::random_tensor<double>({1, 4, 5, 3}, 31);
  const auto x = nst_test::random_tensor<double>({1, 4, 5, 3}, 32);
  nst::content_loss<double> content(2.5, {"relu4_2"});
  content.set_targets({{"relu4_2", target}, {"relu1_1", x}});
  tensor_d gradient;
  CHECK(evaluate(content, x, "relu4_2", &gradient) == Approx(2.5 * mean_squared_difference(x, target)).epsilon(1e-12));
  auto check = nst::check_gradient([&](const tensor_d& at) { return evaluate(content, at, "relu4_2"); }, x, gradient);
  CHECK(check.ok(1e-7));
}

