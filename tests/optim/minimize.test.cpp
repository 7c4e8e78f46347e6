#include <nst/optim/adam.hpp>
#include <nst/optim/lbfgs.hpp>
#include <nst/optim/minimize.hpp>

#include <limits>

#include "../support/support.hpp"
#include "problems.hpp"

using namespace optim_test;

TEST_CASE("minimize: max_iterations bounds the run and the observer sees every iteration", "[optim][minimize]") {
  for (int budget : {0, 1, 7}) {
    nst::stop_criteria stop;
    stop.max_iterations = budget;
    auto x = rosenbrock_start<double>(2);
    const auto start = x;
    std::vector<nst::iteration_report> reports;
    auto objective = record(rosenbrock{});
    const auto result = nst::minimize(objective, x, nst::adam{0.01}, stop,
                                      [&](const nst::iteration_report& r) { reports.push_back(r); });
    INFO("max_iterations = " << budget);
    CHECK(result.iterations == budget);
    CHECK(result.evaluations == budget + 1);
    CHECK(result.stop_reason == "max_iterations");
    CHECK(result.loss == objective.losses.back());
    REQUIRE(reports.size() == static_cast<std::size_t>(budget));
    for (int i = 0; i < budget; ++i) {
      const auto& r = reports[static_cast<std::size_t>(i)];
      CHECK(r.iteration == i + 1);
      CHECK(r.evaluations == i + 2);
      CHECK(r.loss == objective.losses[static_cast<std::size_t>(i + 1)]);
      CHECK(r.seconds >= 0);
    }
    CHECK(std::equal(x.begin(), x.end(), start.begin()) == (budget == 0));
  }
}

TEST_CASE("minimize: max_evaluations counts line-search evaluations", "[optim][minimize]") {
  nst::lbfgs policy;
  policy.search = nst::line_search::strong_wolfe;
  nst::stop_criteria stop;
  stop.max_evaluations = 12;
  auto x = rosenbrock_start<double>(2);
  const auto result = nst::minimize(rosenbrock{}, x, policy, stop);
  CHECK(result.stop_reason == "max_evaluations");
  CHECK(result.evaluations >= 12);
  CHECK(result.evaluations < 12 + 25);  // checked after each iteration, as torch's max_eval
  CHECK(result.iterations < result.evaluations - 1);  // some line search took more than one
}

TEST_CASE("minimize: relative_tolerance stops at the first small relative change", "[optim][minimize]") {
  nst::stop_criteria stop;
  stop.relative_tolerance = 1e-3;
  auto x = rosenbrock_start<double>(2);
  std::vector<double> losses;
  auto objective = record(rosenbrock{});
  const auto result = nst::minimize(objective, x, nst::adam{0.01}, stop);
  CHECK(result.stop_reason == "relative_tolerance");
  const auto& f = objective.losses;
  REQUIRE(f.size() >= 2);
  auto relative = [&](std::size_t k) { return std::abs(f[k] - f[k - 1]) / std::abs(f[k]); };
  CHECK(relative(f.size() - 1) < 1e-3);
  for (std::size_t k = 1; k + 1 < f.size(); ++k) CHECK(relative(k) >= 1e-3);
}

TEST_CASE("minimize: an observer returning false stops the run at once", "[optim][minimize]") {
  nst::stop_criteria stop;
  auto x = rosenbrock_start<double>(2);
  int calls = 0;
  const auto result = nst::minimize(rosenbrock{}, x, nst::lbfgs{}, stop, [&](const nst::iteration_report& r) {
    ++calls;
    return r.iteration < 4;
  });
  CHECK(result.stop_reason == "observer");
  CHECK(result.iterations == 4);
  CHECK(calls == 4);
}

TEST_CASE("minimize: refuses empty inputs, bad stop criteria and non-finite losses", "[optim][minimize]") {
  const nst::stop_criteria stop;
  nst::tensor<double> empty({0});
  CHECK_THROWS_WITH(nst::minimize(rosenbrock{}, empty, nst::adam{}, stop), Catch::Contains("value_error.221"));

  auto x = rosenbrock_start<double>(2);
  nst::stop_criteria negative;
  negative.max_iterations = -3;
  CHECK_THROWS_WITH(nst::minimize(rosenbrock{}, x, nst::adam{}, negative), Catch::Contains("value_error.222"));

  // The loss turns NaN at the third evaluation: a clear error, not a silent NaN image.
  int evaluations = 0;
  auto turns_nan = [&](const nst::tensor<double>& at, nst::tensor<double>& g) {
    const double f = rosenbrock{}(at, g);
    return ++evaluations == 3 ? std::numeric_limits<double>::quiet_NaN() : f;
  };
  CHECK_THROWS_WITH(nst::minimize(turns_nan, x, nst::lbfgs{}, stop),
                    Catch::Contains("value_error.220") && Catch::Contains("nan") && Catch::Contains("evaluation 3"));

  auto shrinks_gradient = [](const nst::tensor<double>&, nst::tensor<double>& g) {
    g = nst::tensor<double>({1});
    return 1.0;
  };
  CHECK_THROWS_AS(nst::minimize(shrinks_gradient, x, nst::adam{}, stop), nst::shape_error);
}
