// nst/optim/minimize.hpp — minimise an objective with a search policy and stop criteria.
//
// The objective is any callable `T objective(const nst::tensor<T>& x, nst::tensor<T>& gradient)`
// returning the loss at x and writing every element of dloss/dx into `gradient` (shaped like x).
// The policy (nst::adam, nst::lbfgs) chooses the steps; nst::stop_criteria bounds the run; an
// optional observer sees every iteration and may end the run by returning false:
//
//   auto loss = [](const nst::tensor<double>& x, nst::tensor<double>& g) {
//     g.vector() = 2 * x.vector();
//     return x.vector().squaredNorm();
//   };
//   nst::tensor<double> x({2}, 3.0);
//   nst::stop_criteria stop;
//   stop.max_iterations = 100;
//   auto result = nst::minimize(loss, x, nst::lbfgs{}, stop,
//                               [](const nst::iteration_report& r) { std::cout << r.loss << '\n'; });
//
// x is evaluated once before the first iteration and, after every iteration, at its new value,
// so result.loss is always the loss at the returned x. A loss that is NaN or infinite raises
// value_error 220. To resume a run later, pass a state (nst::policy_state<Policy, T>) of your
// own: it carries the policy's memory (Adam's moments, L-BFGS's history) across calls, as a
// torch optimizer does across step() calls.
#pragma once

#include <chrono>
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>

#include "../core/tensor.hpp"
#include "policy.hpp"
#include "stop.hpp"

namespace nst {

// What the observer is told after every iteration.
struct iteration_report {
  int iteration;    // 1 for the first iteration of this minimize() call
  int evaluations;  // objective evaluations so far in this call, the initial one included
  double loss;      // the loss at x after this iteration
  double seconds;   // wall time of this iteration
};

// What a minimize() call did and why it stopped.
struct minimize_result {
  int iterations;           // iterations made (those that moved x)
  int evaluations;          // objective evaluations, the initial one included
  double loss;              // the loss at the returned x
  std::string stop_reason;  // "max_iterations", "max_evaluations", "relative_tolerance",
                            // "observer", or the policy's own ("gradient_tolerance", ...)
};

// The default observer: watches nothing.
struct no_observer {
  void operator()(const iteration_report&) const noexcept {}
};

namespace detail {

// The objective as policies call it: counts evaluations and refuses non-finite losses and
// gradients of the wrong shape.
template <class T, class Objective>
class counted_objective {
 public:
  explicit counted_objective(Objective& objective) : objective_(objective) {}

  double operator()(const tensor<T>& x, tensor<T>& gradient) {
    const double loss = static_cast<double>(objective_(x, gradient));
    ++count_;
    NST_CHECK(std::isfinite(loss), value_error, 220, "minimize: the objective returned a loss of ", loss,
              " at evaluation ", count_);
    expect_same_shape(gradient, x, "minimize (the gradient the objective left vs x)");
    return loss;
  }
  int count() const noexcept { return count_; }

 private:
  Objective& objective_;
  int count_ = 0;
};

// Calls the observer; true unless it returned false.
template <class Observer>
bool notify(Observer& observer, const iteration_report& report) {
  using returned = std::invoke_result_t<Observer&, const iteration_report&>;
  static_assert(std::is_void_v<returned> || std::is_same_v<returned, bool>,
                "minimize: the observer must return void or bool (false stops the run)");
  if constexpr (std::is_void_v<returned>) {
    observer(report);
    return true;
  } else {
    return observer(report);
  }
}

}  // namespace detail

// Minimises `objective` from x (updated in place) with `policy`, continuing from `state`.
// Throws value_error 220 (a non-finite loss), 221 (x empty), 222 (bad stop criteria), the
// policy's own value_errors from begin(), and shape_error 105 (a gradient not shaped like x).
template <class T, class Objective, class Policy, class Observer = no_observer>
minimize_result minimize(Objective&& objective, tensor<T>& x, const Policy& policy, policy_state<Policy, T>& state,
                         const stop_criteria& stop, Observer&& observer = {}) {
  using clock = std::chrono::steady_clock;
  validate(stop);
  NST_CHECK(!x.empty(), value_error, 221, "minimize: x is empty (shape ", x.shape(), ")");

  detail::counted_objective<T, std::remove_reference_t<Objective>> evaluate(objective);
  evaluation<T> at_x;
  at_x.gradient = tensor<T>(x.shape());
  at_x.loss = evaluate(x, at_x.gradient);
  minimize_result result{0, evaluate.count(), at_x.loss, ""};

  const step_result ready = policy.begin(state, x, at_x);
  if (!ready.stop_reason.empty()) {
    result.stop_reason = ready.stop_reason;
    return result;
  }
  if (stop.max_iterations == 0) {
    result.stop_reason = "max_iterations";
    return result;
  }
  for (;;) {
    const auto started = clock::now();
    const double previous_loss = at_x.loss;
    const step_result step = policy.step(state, x, at_x, evaluate);
    result.evaluations = evaluate.count();
    result.loss = at_x.loss;
    if (!step.moved) {
      result.stop_reason = step.stop_reason;
      return result;
    }
    ++result.iterations;
    const double seconds = std::chrono::duration<double>(clock::now() - started).count();
    const bool go_on = detail::notify(observer, iteration_report{result.iterations, result.evaluations, at_x.loss, seconds});

    if (!go_on) result.stop_reason = "observer";
    else if (!step.stop_reason.empty()) result.stop_reason = step.stop_reason;
    else if (result.iterations >= stop.max_iterations) result.stop_reason = "max_iterations";
    else if (stop.max_evaluations > 0 && result.evaluations >= stop.max_evaluations) result.stop_reason = "max_evaluations";
    else if (relative_change_below(previous_loss, at_x.loss, stop.relative_tolerance)) result.stop_reason = "relative_tolerance";
    else continue;
    return result;
  }
}

// Minimises `objective` from x (updated in place) with `policy` and a fresh state. Throws as above.
template <class T, class Objective, class Policy, class Observer = no_observer>
minimize_result minimize(Objective&& objective, tensor<T>& x, const Policy& policy, const stop_criteria& stop,
                         Observer&& observer = {}) {
  policy_state<Policy, T> state;
  return minimize(std::forward<Objective>(objective), x, policy, state, stop, std::forward<Observer>(observer));
}

}  // namespace nst
