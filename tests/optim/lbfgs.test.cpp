#include <nst/optim/lbfgs.hpp>
#include <nst/optim/minimize.hpp>

#include <cstring>
#include <set>
#include <string>

#include "../support/support.hpp"
#include "problems.hpp"

using namespace optim_test;

namespace {

nst::lbfgs make_lbfgs(nst::line_search search, int history = 10, double learning_rate = 1) {
  nst::lbfgs policy;
  policy.search = search;
  policy.history = history;
  policy.learning_rate = learning_rate;
  return policy;
}

// Replays one torch.optim.LBFGS step(closure) recorded by make_optim_fixtures.py and compares
// every objective evaluation, in order. With line_search_fn=None torch skips evaluating the point
// its last iteration reaches; minimize() evaluates it (the fixture's final_loss).
void replay_lbfgs(const std::string& name) {
  const fixture torch(name);
  const bool wolfe = torch.word("line_search") == "strong_wolfe";
  nst::lbfgs policy = make_lbfgs(wolfe ? nst::line_search::strong_wolfe : nst::line_search::none,
                                 torch.integer("history"), torch.number("learning_rate"));
  policy.tolerance_grad = torch.number("tolerance_grad");
  policy.tolerance_change = torch.number("tolerance_change");
  nst::stop_criteria stop;
  stop.max_iterations = torch.integer("max_iterations");
  stop.max_evaluations = torch.integer("max_evaluations");

  auto x = torch.tensor("start");
  auto objective = record(rosenbrock{});
  const auto result = nst::minimize(objective, x, policy, stop);

  std::vector<double> expected = torch.numbers("evaluated_losses");
  if (!wolfe && torch.integer("iterations") == stop.max_iterations) expected.push_back(torch.number("final_loss"));
  INFO(name);
  CHECK(result.iterations == torch.integer("iterations"));
  CHECK(result.evaluations == static_cast<int>(expected.size()));
  CHECK(max_relative_difference(objective.losses, expected) < 1e-10);
  CHECK(nst_test::max_relative_error(x, torch.tensor("final_x"), 1e-3) < 1e-10);
  CHECK(result.loss == Approx(torch.number("final_loss")).epsilon(1e-10));
}

}  // namespace

TEST_CASE("lbfgs: every evaluation matches torch.optim.LBFGS without line search", "[optim][lbfgs]") {
  replay_lbfgs("lbfgs_none_rosenbrock2.txt");
  replay_lbfgs("lbfgs_none_rosenbrock6.txt");
}

TEST_CASE("lbfgs: every evaluation matches torch.optim.LBFGS with strong-Wolfe line search", "[optim][lbfgs]") {
  replay_lbfgs("lbfgs_strong_wolfe_rosenbrock2.txt");
  replay_lbfgs("lbfgs_strong_wolfe_rosenbrock6.txt");
}

TEST_CASE("lbfgs: minimises a quadratic and Rosenbrock in 2-D and 10-D, in both modes", "[optim][lbfgs]") {
  for (auto search : {nst::line_search::none, nst::line_search::strong_wolfe}) {
    INFO("strong_wolfe = " << (search == nst::line_search::strong_wolfe));
    nst::lbfgs policy = make_lbfgs(search);
    policy.tolerance_grad = 1e-10;
    policy.tolerance_change = 0;  // run until the gradient (or the slope along d) vanishes
    nst::stop_criteria stop;
    stop.max_iterations = 500;

    // A history as long as the problem: torch's absolute curvature threshold (y·s > 1e-10) stops
    // accepting pairs once the steps get tiny, so a short history would stall near 1e-11.
    policy.history = 20;
    const auto bowl = quadratic::with_condition(20, 100);
    nst::tensor<double> x({20});
    auto result = nst::minimize(bowl, x, policy, stop);
    INFO("quadratic: loss " << result.loss << ", stop: " << result.stop_reason);
    CHECK(result.loss < 1e-17);
    for (nst::index_t i = 0; i < 20; ++i) CHECK(x[i] == Approx(bowl.c[static_cast<std::size_t>(i)]).margin(1e-8));
    policy.history = 10;

    for (nst::index_t n : {2, 10}) {
      auto y = rosenbrock_start<double>(n);
      result = nst::minimize(rosenbrock{}, y, policy, stop);
      INFO("Rosenbrock n = " << n << ": loss " << result.loss << ", stop: " << result.stop_reason << " after "
                             << result.iterations);
      // The fixed step's iteration count depends on rounding: 212 for n = 10 with -march=native
      // on an Intel Xeon (AVX-512), under 200 on an AMD EPYC.
      CHECK(result.iterations < 300);
      CHECK(result.loss < 1e-20);
      for (double v : y) CHECK(v == Approx(1.0).margin(1e-9));
    }
  }
}

TEST_CASE("lbfgs: strong-Wolfe line search beats the fixed step on an ill-conditioned problem", "[optim][lbfgs]") {
  // Rosenbrock with b = 400: its Hessian at the minimum has condition number 1.0e4. Count the
  // evaluations each mode needs to bring the loss below 1e-12 of where it started.
  const rosenbrock valley{400};
  auto evaluations_to_converge = [&](nst::line_search search, int budget) {
    auto x = rosenbrock_start<double>(2);
    nst::tensor<double> g({2});
    const double target = 1e-12 * valley(x, g);
    int evaluations = 0, reached = -1;
    auto counted = [&](const nst::tensor<double>& at, nst::tensor<double>& gradient) {
      const double f = valley(at, gradient);
      ++evaluations;
      if (reached < 0 && f <= target) reached = evaluations;
      return f;
    };
    nst::lbfgs policy = make_lbfgs(search, 5);
    policy.tolerance_change = 0;
    nst::stop_criteria stop;
    stop.max_evaluations = budget;
    nst::minimize(counted, x, policy, stop, [&](const nst::iteration_report&) { return reached < 0; });
    return reached;
  };
  const int wolfe = evaluations_to_converge(nst::line_search::strong_wolfe, 1000);
  const int fixed = evaluations_to_converge(nst::line_search::none, 1000);
  CHECK(wolfe > 0);
  CHECK(wolfe < 100);
  CHECK((fixed < 0 || fixed > 3 * wolfe));  // the fixed step oscillates along the valley
}

TEST_CASE("lbfgs: pairs without positive curvature are not remembered", "[optim][lbfgs]") {
  // A linear function: y = g_{k+1} - g_k = 0, so no pair ever enters the history and every
  // direction is -g; with the fixed step x moves by t1 = min(1, 1/|g|_1) lr, then by lr.
  const std::vector<double> slope{0.5, -0.25, 0.125};
  auto linear = [&](const nst::tensor<double>& x, nst::tensor<double>& g) {
    double f = 0;
    for (nst::index_t i = 0; i < 3; ++i) {
      f += slope[static_cast<std::size_t>(i)] * x[i];
      g[i] = slope[static_cast<std::size_t>(i)];
    }
    return f;
  };
  nst::tensor<double> x({3});
  nst::policy_state<nst::lbfgs, double> state;
  nst::stop_criteria stop;
  stop.max_iterations = 6;
  const auto result = nst::minimize(linear, x, make_lbfgs(nst::line_search::none, 10, 0.5), state, stop);
  CHECK(result.iterations == 6);
  CHECK(state.steps.empty());
  CHECK(state.hessian_scale == 1);
  const double travelled = std::min(1.0, 1.0 / 0.875) * 0.5 + 5 * 0.5;
  for (nst::index_t i = 0; i < 3; ++i) CHECK(x[i] == Approx(-travelled * slope[static_cast<std::size_t>(i)]));
}

TEST_CASE("lbfgs: initial_scale c makes the initial inverse Hessian c gamma I once there are enough pairs",
          "[optim][lbfgs]") {
  // f = sum a_i x_i^2 / 2 from x0 = 1: two iterations without line search, the second one's
  // direction by the two-loop recursion over the one pair (s, y), worked out here; with
  // initial_scale_pairs 1, or a history of 1 (full), that pair is enough for c; with the default
  // 10 pairs and a history of 10 it is not (c = 1).
  const std::vector<double> a{1, 4, 9, 0.5};
  auto quadratic = [&](const nst::tensor<double>& x, nst::tensor<double>& g) {
    double f = 0;
    for (nst::index_t i = 0; i < 4; ++i) {
      g[i] = a[static_cast<std::size_t>(i)] * x[i];
      f += 0.5 * x[i] * g[i];
    }
    return f;
  };
  const auto dot = [](const std::vector<double>& u, const std::vector<double>& v) {
    double sum = 0;
    for (std::size_t i = 0; i < u.size(); ++i) sum += u[i] * v[i];
    return sum;
  };
  struct setting {
    double scale;
    int pairs_needed, history;
  };
  for (const auto [scale, pairs_needed, history] :
       {setting{1, 1, 10}, setting{2, 1, 10}, setting{0.5, 1, 10}, setting{2, 10, 10}, setting{2, 10, 1}}) {
    INFO("initial_scale " << scale << ", initial_scale_pairs " << pairs_needed << ", history " << history);
    const double c = pairs_needed <= 1 || history <= 1 ? scale : 1.0;
    std::vector<double> x0(4, 1.0), g0(4), x1(4), g1(4), s(4), y(4), d(4);
    for (std::size_t i = 0; i < 4; ++i) g0[i] = a[i] * x0[i];
    const double t = std::min(1.0, 1.0 / (g0[0] + g0[1] + g0[2] + g0[3]));
    for (std::size_t i = 0; i < 4; ++i) {
      x1[i] = x0[i] - t * g0[i];
      g1[i] = a[i] * x1[i];
      s[i] = x1[i] - x0[i];
      y[i] = g1[i] - g0[i];
      d[i] = -g1[i];
    }
    const double rho = 1 / dot(y, s), gamma = dot(s, y) / dot(y, y);
    const double alpha = rho * dot(s, d);
    for (std::size_t i = 0; i < 4; ++i) d[i] = c * gamma * (d[i] - alpha * y[i]);
    const double beta = rho * dot(y, d);
    for (std::size_t i = 0; i < 4; ++i) d[i] += (alpha - beta) * s[i];

    nst::tensor<double> x({4});
    x.vector().setOnes();
    nst::lbfgs policy = make_lbfgs(nst::line_search::none, history);
    policy.initial_scale = scale;
    policy.initial_scale_pairs = pairs_needed;
    nst::stop_criteria stop;
    stop.max_iterations = 2;
    nst::minimize(quadratic, x, policy, stop);
    for (nst::index_t i = 0; i < 4; ++i)
      CHECK(x[i] == Approx(x1[static_cast<std::size_t>(i)] + d[static_cast<std::size_t>(i)]).epsilon(1e-12));
  }
  for (const double bad : {0.0, -1.0, std::nan(""), HUGE_VAL}) {
    nst::lbfgs policy;
    policy.initial_scale = bad;
    auto x = rosenbrock_start<double>(2);
    CHECK_THROWS_WITH(nst::minimize(rosenbrock{}, x, policy, nst::stop_criteria{}),
                      Catch::Contains("value_error.225") && Catch::Contains("initial_scale"));
  }
  nst::lbfgs negative_pairs;
  negative_pairs.initial_scale_pairs = -1;
  auto x = rosenbrock_start<double>(2);
  CHECK_THROWS_WITH(nst::minimize(rosenbrock{}, x, negative_pairs, nst::stop_criteria{}),
                    Catch::Contains("value_error.225") && Catch::Contains("initial_scale_pairs"));
}

TEST_CASE("lbfgs: the history keeps the newest pairs and reuses its buffers once full", "[optim][lbfgs]") {
  for (auto search : {nst::line_search::none, nst::line_search::strong_wolfe}) {
    nst::lbfgs policy = make_lbfgs(search, 3);
    policy.tolerance_change = -1;
    policy.tolerance_grad = -1;
    nst::policy_state<nst::lbfgs, double> state;
    auto buffers = [&state] {
      std::set<const double*> in_use{state.direction.data(), state.previous_gradient.data(),
                                     state.workspace.candidate_step.data(),
                                     state.workspace.candidate_gradient_change.data()};
      for (const auto& s : state.steps) in_use.insert(s.data());
      for (const auto& y : state.gradient_changes) in_use.insert(y.data());
      return in_use;
    };
    std::set<const double*> gradients_seen;
    auto objective = [&](const nst::tensor<double>& x, nst::tensor<double>& g) {
      gradients_seen.insert(g.data());
      return rosenbrock{}(x, g);
    };
    std::set<const double*> after_fill;
    bool stable = true;
    std::vector<nst::tensor<double>> path;
    auto x = rosenbrock_start<double>(4);
    auto observer = [&](const nst::iteration_report& r) {
      if (r.iteration == 6) after_fill = buffers();
      if (r.iteration > 6) stable = stable && buffers() == after_fill;
      path.push_back(x);
    };
    nst::stop_criteria stop;
    stop.max_iterations = 20;
    nst::minimize(objective, x, policy, state, stop, observer);
    INFO("strong_wolfe = " << (search == nst::line_search::strong_wolfe));
    CHECK(state.steps.size() == 3);
    CHECK(state.gradient_changes.size() == 3);
    CHECK(state.inverse_curvatures.size() == 3);
    CHECK(state.iterations == 20);
    CHECK(after_fill.size() == 10);  // direction, previous gradient, 3 pairs and the candidate pair
    CHECK(stable);
    CHECK(gradients_seen.size() <= (search == nst::line_search::strong_wolfe ? 4u : 1u));
    // Iteration k remembers the step of iteration k-1, so the newest s is x_19 - x_18 when
    // iteration 20 accepted it, which the curvature condition of the Wolfe search guarantees.
    if (search == nst::line_search::strong_wolfe)
      for (nst::index_t i = 0; i < 4; ++i) CHECK(state.steps.back()[i] == Approx(path[18][i] - path[17][i]));
  }
}

TEST_CASE("lbfgs: a run resumed from its state continues as torch's next step() call does", "[optim][lbfgs]") {
  for (auto search : {nst::line_search::none, nst::line_search::strong_wolfe}) {
    const nst::lbfgs policy = make_lbfgs(search, 4);
    nst::stop_criteria stop;
    stop.max_iterations = 30;
    auto once = rosenbrock_start<double>(6);
    nst::minimize(rosenbrock{}, once, policy, stop);

    auto twice = rosenbrock_start<double>(6);
    nst::policy_state<nst::lbfgs, double> state;
    stop.max_iterations = 12;
    nst::minimize(rosenbrock{}, twice, policy, state, stop);
    stop.max_iterations = 18;
    nst::minimize(rosenbrock{}, twice, policy, state, stop);
    CHECK(state.iterations == 30);
    CHECK(std::equal(once.begin(), once.end(), twice.begin()));
  }
}

TEST_CASE("lbfgs: torch's own convergence tests end the run", "[optim][lbfgs]") {
  nst::stop_criteria stop;
  stop.max_iterations = 1000;
  // Already at the minimum: max|g| <= tolerance_grad before any iteration.
  nst::tensor<double> at_minimum({3}, 1.0);
  auto result = nst::minimize(rosenbrock{}, at_minimum, nst::lbfgs{}, stop);
  CHECK(result.iterations == 0);
  CHECK(result.evaluations == 1);
  CHECK(result.stop_reason == "gradient_tolerance");

  // Default tolerances on Rosenbrock: the loss change (or the slope) drops below 1e-9.
  auto x = rosenbrock_start<double>(2);
  result = nst::minimize(rosenbrock{}, x, make_lbfgs(nst::line_search::strong_wolfe), stop);
  CHECK(result.iterations < 1000);
  CHECK((result.stop_reason == "loss_change_tolerance" || result.stop_reason == "directional_derivative" ||
         result.stop_reason == "gradient_tolerance" || result.stop_reason == "step_tolerance"));
  CHECK(result.loss < 1e-8);

  // A loose tolerance_grad stops at the first point whose gradient falls below it.
  nst::lbfgs loose = make_lbfgs(nst::line_search::none);
  loose.tolerance_grad = 1;
  std::vector<double> largest_gradient;
  auto watched = [&](const nst::tensor<double>& at, nst::tensor<double>& g) {
    const double f = rosenbrock{}(at, g);
    largest_gradient.push_back(g.vector().cwiseAbs().maxCoeff());
    return f;
  };
  auto y = rosenbrock_start<double>(2);
  result = nst::minimize(watched, y, loose, stop);
  CHECK(result.stop_reason == "gradient_tolerance");
  REQUIRE(largest_gradient.size() > 2);
  CHECK(largest_gradient.back() <= 1);
  for (std::size_t k = 0; k + 1 < largest_gradient.size(); ++k) CHECK(largest_gradient[k] > 1);
}

TEST_CASE("lbfgs: works in float", "[optim][lbfgs]") {
  nst::stop_criteria stop;
  stop.max_iterations = 200;
  auto x = rosenbrock_start<float>(2);
  const auto result = nst::minimize(rosenbrock{}, x, make_lbfgs(nst::line_search::strong_wolfe), stop);
  CHECK(result.loss < 1e-6);
  CHECK(x[0] == Approx(1.0f).margin(1e-3f));
}

TEST_CASE("lbfgs: a long float run gives the same bits on one and two threads, and follows double", "[optim][lbfgs]") {
  // 300000 values: the two-loop recursion runs in parallel parts (the tests above use a few values,
  // one part). The parts are fixed by the size, so the thread count must not change a single bit.
  const auto bowl = quadratic::with_condition(300000, 100);
  auto run = [&](auto scalar, int threads) {
    using T = decltype(scalar);
    const int saved = nst::num_threads();
    nst::set_num_threads(threads);
    nst::tensor<T> x({300000});
    nst::stop_criteria stop;
    stop.max_iterations = 30;
    nst::minimize(bowl, x, make_lbfgs(nst::line_search::none, 10), stop);
    nst::set_num_threads(saved);
    return x;
  };
  const auto one = run(float{}, 1), two = run(float{}, 2);
  const auto reference = run(double{}, 2);
  CHECK(std::memcmp(one.data(), two.data(), sizeof(float) * 300000) == 0);
  double largest_difference = 0;
  for (nst::index_t i = 0; i < 300000; ++i)
    largest_difference = std::max(largest_difference, std::abs(static_cast<double>(two[i]) - reference[i]));
  CHECK(largest_difference < 2e-3);  // x is within [-1, 1]; 30 float iterations drift by 3.5e-4
  CHECK(largest_difference > 0);     // float did round: the comparison means something
}

TEST_CASE("lbfgs: bad hyper-parameters and mismatched states are refused", "[optim][lbfgs]") {
  auto x = rosenbrock_start<double>(2);
  const nst::stop_criteria stop;
  CHECK_THROWS_WITH(nst::minimize(rosenbrock{}, x, make_lbfgs(nst::line_search::none, 0), stop),
                    Catch::Contains("value_error.225") && Catch::Contains("history"));
  CHECK_THROWS_AS(nst::minimize(rosenbrock{}, x, make_lbfgs(nst::line_search::none, 5, 0.0), stop), nst::value_error);
  nst::lbfgs nan_tolerance;
  nan_tolerance.tolerance_grad = std::nan("");
  CHECK_THROWS_AS(nst::minimize(rosenbrock{}, x, nan_tolerance, stop), nst::value_error);

  nst::policy_state<nst::lbfgs, double> state;
  auto other = rosenbrock_start<double>(3);
  nst::stop_criteria few;
  few.max_iterations = 4;  // remembers 3 pairs
  nst::minimize(rosenbrock{}, other, nst::lbfgs{}, state, few);
  CHECK_THROWS_WITH(nst::minimize(rosenbrock{}, x, nst::lbfgs{}, state, few), Catch::Contains("value_error.226"));
  CHECK_THROWS_WITH(nst::minimize(rosenbrock{}, other, make_lbfgs(nst::line_search::none, 1), state, few),
                    Catch::Contains("value_error.226"));
}

TEST_CASE("lbfgs: each line search has its own name, the one the nst command takes", "[optim][lbfgs]") {
  CHECK(std::string(nst::to_string(nst::line_search::none)) == "none");
  CHECK(std::string(nst::to_string(nst::line_search::strong_wolfe)) == "strong-wolfe");
  CHECK(std::string(nst::to_string(nst::line_search::backtracking)) == "backtracking");
}

TEST_CASE("lbfgs: backtracking shrinks an overshooting step to the parabola's minimum", "[optim][lbfgs]") {
  // f = x^2 from x = 1 with lr 4: the first trial t = min(1, 1/|g|_1) 4 = 2 lands on x = -3,
  // f = 9 > f0 = 1; the parabola through f0, the slope g·d = -4 and f(2) has its minimum at
  // t = 4 * 4 / (2 (9 - 1 + 8)) = 0.5, which is x = 0 exactly. The fixed step stays at x = -3.
  const quadratic parabola{{2}, {0}};
  for (auto search : {nst::line_search::backtracking, nst::line_search::none}) {
    nst::tensor<double> x({1});
    x[0] = 1;
    auto objective = record(parabola);
    nst::stop_criteria stop;
    stop.max_iterations = 1;
    const auto result = nst::minimize(objective, x, make_lbfgs(search, 10, 4), stop);
    if (search == nst::line_search::backtracking) {
      CHECK(objective.losses == std::vector<double>{1, 9, 0});
      CHECK(x[0] == 0);
      CHECK(result.evaluations == 3);
    } else {
      CHECK(x[0] == -3);
      CHECK(result.loss == 9);
    }
  }
}

TEST_CASE("lbfgs: backtracking costs one evaluation where the step is good, and never raises the loss",
          "[optim][lbfgs]") {
  SECTION("a well-conditioned quadratic: the same iterates as the fixed step") {
    const auto bowl = quadratic::with_condition(10, 10);
    std::vector<std::vector<double>> losses;
    for (auto search : {nst::line_search::backtracking, nst::line_search::none}) {
      nst::tensor<double> x({10});
      auto objective = record(bowl);
      nst::stop_criteria stop;
      stop.max_iterations = 15;
      const auto result = nst::minimize(objective, x, make_lbfgs(search), stop);
      CHECK(result.evaluations == result.iterations + 1);
      losses.push_back(objective.losses);
    }
    CHECK(losses[0] == losses[1]);
    CHECK(losses[0].back() < 1e-10 * losses[0].front());
  }
  SECTION("Rosenbrock with lr 2: the fixed step throws the loss up, backtracking only goes down") {
    for (auto search : {nst::line_search::backtracking, nst::line_search::none}) {
      auto x = rosenbrock_start<double>(6);
      double previous = 0;
      bool monotone = true;
      int iterations = 0;
      const auto result = nst::minimize(rosenbrock{}, x, make_lbfgs(search, 10, 2), nst::stop_criteria{},
                                        [&](const nst::iteration_report& r) {
                                          if (iterations++ > 0) monotone = monotone && r.loss <= previous;
                                          previous = r.loss;
                                          return iterations < 300;
                                        });
      INFO("backtracking = " << (search == nst::line_search::backtracking));
      if (search == nst::line_search::backtracking) {
        CHECK(monotone);
        CHECK(result.loss < 1e-6);  // from 72.6
      } else {
        CHECK(!monotone);
      }
    }
  }
}
