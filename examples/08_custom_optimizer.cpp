// 08 — writing your own optimizer policy.
//
// nst::minimize (nst/optim/minimize.hpp) runs the loop — evaluations, stop criteria, observer —
// and asks a policy where to step (the contract is in nst/optim/policy.hpp). A policy is a const
// struct of hyper-parameters; everything it changes while running lives in a separate state
// struct, so a run can be paused and resumed by keeping the state. This one is gradient descent
// with heavy-ball momentum (Polyak):
//
//   v <- momentum * v - learning_rate * g(x)      x <- x + v
//
// and it is compared with nst's own Adam and L-BFGS on an ill-conditioned quadratic.
//
//   build/bin/examples/08_custom_optimizer
#include <nst/optim.hpp>

#include <cmath>
#include <cstdio>

// What the policy changes while it runs (keep it to resume a run exactly).
template <class T>
struct heavy_ball_state {
  int steps = 0;
  nst::tensor<T> velocity;  // v, shaped like x
};

struct heavy_ball {
  double learning_rate = 0.01;
  double momentum = 0.9;  // 0 = plain gradient descent
  double tolerance_grad = 1e-6;  // stop once max |g| falls to this

  template <class T>
  using state_type = heavy_ball_state<T>;

  // Before the first iteration: check the settings, size the state, stop if x is already good.
  template <class T>
  nst::step_result begin(heavy_ball_state<T>& state, const nst::tensor<T>& x, const nst::evaluation<T>& at_x) const {
    NST_CHECK(learning_rate > 0 && momentum >= 0 && momentum < 1, nst::value_error, 299,
              "heavy_ball: needs learning_rate > 0 and momentum in [0, 1), got ", learning_rate, " and ", momentum);
    if (state.steps == 0) state.velocity = nst::tensor<T>(x.shape());
    if (converged(at_x)) return {false, "gradient_tolerance"};  // moved = false: no iteration made
    return {};
  }

  // One iteration: move x, then leave at_x evaluated at the new x (minimize's invariant).
  template <class T, class Evaluate>
  nst::step_result step(heavy_ball_state<T>& state, nst::tensor<T>& x, nst::evaluation<T>& at_x,
                        Evaluate& evaluate) const {
    ++state.steps;
    state.velocity.vector() = static_cast<T>(momentum) * state.velocity.vector() -
                              static_cast<T>(learning_rate) * at_x.gradient.vector();
    x.vector() += state.velocity.vector();
    at_x.loss = evaluate(x, at_x.gradient);
    if (converged(at_x)) return {true, "gradient_tolerance"};  // moved, then asks to stop
    return {};
  }

 private:
  template <class T>
  bool converged(const nst::evaluation<T>& at_x) const {
    return at_x.gradient.vector().cwiseAbs().maxCoeff() <= tolerance_grad;
  }
};

// f(x) = 1/2 Σ a_i x_i^2 with curvatures a_i from 1 to 100: a long, narrow valley.
double valley(const nst::tensor<double>& x, nst::tensor<double>& gradient) {
  double f = 0;
  for (nst::index_t i = 0; i < x.size(); ++i) {
    const double a = std::pow(100.0, static_cast<double>(i) / static_cast<double>(x.size() - 1));
    gradient[i] = a * x[i];
    f += 0.5 * a * x[i] * x[i];
  }
  return f;
}

// Minimises the valley from x = (1, ..., 1) until the loss is below 1e-10 (the observer ends the
// run by returning false) or 2000 iterations have passed.
template <class Policy>
nst::minimize_result run(const char* name, const Policy& policy) {
  nst::tensor<double> x({50}, 1.0);
  nst::stop_criteria stop;
  stop.max_iterations = 2000;
  const auto below = [](const nst::iteration_report& it) { return it.loss > 1e-10; };  // false = stop
  const auto r = nst::minimize(valley, x, policy, stop, below);
  std::printf("%-30s %5d iterations %5d evaluations  loss %.2e  (%s)\n", name, r.iterations, r.evaluations, r.loss,
              r.stop_reason.c_str());
  return r;
}

int main() {
  heavy_ball plain;
  plain.learning_rate = 0.015;  // gradient descent is stable only below 2 / (largest curvature)
  plain.momentum = 0;
  heavy_ball fast;
  fast.learning_rate = 0.03;
  fast.momentum = 0.7;
  nst::adam adam;
  adam.learning_rate = 0.05;
  nst::lbfgs lbfgs;
  lbfgs.tolerance_grad = lbfgs.tolerance_change = -1;  // only the observer stops it

  const auto r_plain = run("gradient descent", plain);
  const auto r_fast = run("heavy ball, momentum 0.7", fast);
  run("nst::adam, learning rate 0.05", adam);
  run("nst::lbfgs", lbfgs);

  // Pausing and resuming: two runs of 20 iterations on one state are one run of 40.
  nst::stop_criteria twenty;
  twenty.max_iterations = 20;
  nst::tensor<double> x1({50}, 1.0), x2({50}, 1.0);
  nst::policy_state<heavy_ball, double> state;
  nst::minimize(valley, x1, fast, state, twenty);
  const auto resumed = nst::minimize(valley, x1, fast, state, twenty);
  nst::stop_criteria forty;
  forty.max_iterations = 40;
  const auto at_once = nst::minimize(valley, x2, fast, forty);
  std::printf("20 + 20 resumed iterations: loss %.6e; 40 at once: %.6e\n", resumed.loss, at_once.loss);

  return r_fast.iterations < r_plain.iterations && resumed.loss == at_once.loss ? 0 : 1;
}
