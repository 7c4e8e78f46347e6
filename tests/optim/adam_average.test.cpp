// Iterate averaging (the EMA of Adam's iterates, adam::average_decay / adam::averaged).
#include <nst/optim/adam.hpp>
#include <nst/optim/minimize.hpp>

#include <cmath>
#include <vector>

#include "../support/support.hpp"
#include "problems.hpp"

using namespace optim_test;

TEST_CASE("adam: averaged() is the bias-corrected moving average of the iterates", "[optim][adam][average]") {
  const quadratic q = quadratic::with_condition(4, 10.0);
  std::vector<nst::tensor<double>> points;  // every evaluated x: x_0, x_1, ..., x_k
  auto objective = [&](const nst::tensor<double>& x, nst::tensor<double>& g) {
    points.push_back(x);
    return q(x, g);
  };
  nst::adam policy;
  policy.learning_rate = 0.3;
  policy.average_decay = 0.8;
  nst::stop_criteria stop;
  stop.max_iterations = 25;
  nst::adam_state<double> state;
  nst::tensor<double> x({4}, 2.0);
  nst::minimize(objective, x, policy, state, stop);
  REQUIRE(points.size() == 26);

  // a_k = Σ_{i=1..k} (1-d) d^(k-i) x_i, divided by 1 - d^k.
  const double d = 0.8;
  Eigen::VectorXd expected = Eigen::VectorXd::Zero(4);
  for (std::size_t i = 1; i < points.size(); ++i) expected = d * expected + (1 - d) * Eigen::VectorXd(points[i].vector());
  expected /= 1 - std::pow(d, 25);
  const nst::tensor<double> average = policy.averaged(state, x);
  CHECK((Eigen::VectorXd(average.vector()) - expected).norm() < 1e-12);
  CHECK((Eigen::VectorXd(average.vector()) - Eigen::VectorXd(x.vector())).norm() > 1e-3);  // not x itself

  // Off, or before any step: x itself.
  nst::adam plain;
  CHECK(plain.averaged(state, x).vector() == x.vector());
  CHECK(policy.averaged(nst::adam_state<double>{}, x).vector() == x.vector());
}

TEST_CASE("adam: at a fixed learning rate the average of the jittering iterates is closer to the minimum",
          "[optim][adam][average]") {
  const quadratic q = quadratic::with_condition(10, 100.0);
  nst::adam policy;
  policy.learning_rate = 0.2;  // large: the iterates keep jumping around the minimum
  policy.average_decay = 0.95;
  nst::stop_criteria stop;
  stop.max_iterations = 400;
  nst::adam_state<double> state;
  nst::tensor<double> x({10}, 3.0), g({10});
  nst::minimize(q, x, policy, state, stop);
  nst::tensor<double> average = policy.averaged(state, x);
  const double at_x = q(x, g), at_average = q(average, g);
  INFO("loss at the last iterate " << at_x << ", at the average " << at_average);
  CHECK(at_average < 0.2 * at_x);
}

TEST_CASE("adam: a bad average_decay and a state saved without averaging are refused", "[optim][adam][average]") {
  const quadratic q = quadratic::with_condition(2, 1.0);
  nst::stop_criteria stop;
  stop.max_iterations = 3;
  nst::tensor<double> x({2}, 1.0);
  nst::adam policy;
  policy.average_decay = 1.0;
  CHECK_THROWS_WITH(nst::minimize(q, x, policy, stop), Catch::Contains("average_decay must lie in [0, 1), got 1"));
  nst::adam plain;
  nst::adam_state<double> state;
  nst::minimize(q, x, plain, state, stop);  // no average kept
  policy.average_decay = 0.9;
  CHECK_THROWS_WITH(nst::minimize(q, x, policy, state, stop), Catch::Contains("iterate average of shape"));
}
