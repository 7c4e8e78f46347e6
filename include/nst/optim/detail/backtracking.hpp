// nst/optim/detail/backtracking.hpp — a backtracking line search: try the step, shrink it until
// the loss decreases enough.
//
// From x along a descent direction d, with the loss f0 and slope gtd0 = g0·d < 0 at t = 0, it
// evaluates x + t d for the first trial t and accepts it when
//
//   sufficient decrease   f(t) <= f0 + c1 t gtd0        (c1 = 1e-4, as the strong-Wolfe search)
//
// Otherwise it shrinks t to the minimiser of the parabola through f0, the slope gtd0 at 0 and f(t),
//
//   t_next = -gtd0 t^2 / (2 (f(t) - f0 - gtd0 t)),
//
// kept within [0.1 t, 0.5 t], and tries again, at most 25 evaluations in all. (A rejected f(t)
// exceeds f0 + c1 t gtd0, so the denominator is positive and t_next < t / (2 (1 - c1)).)
// Unlike the strong-Wolfe search it never grows t and asks nothing of the slope at the new
// point: where the first trial is good, as for most L-BFGS iterations once the history has a
// few pairs, it costs one evaluation, like no line search at all; where a step would throw the
// loss up (the unit steps of the first iterations of a style transfer), it backs off.
#pragma once

#include <algorithm>

#include "../../core/tensor.hpp"
#include "../policy.hpp"
#include "strong_wolfe.hpp"

namespace nst {
namespace detail {

constexpr int backtracking_max_evaluations = 25;

// Searches along `direction` from x, where `at_x` holds f0 (its gradient is overwritten) and
// `slope` = g0·d < 0, from the first trial step `step`; `trial` is a buffer the shape of x.
// Leaves x unchanged and at_x holding f and g at x + t d for the t returned: the first trial with
// sufficient decrease, or the last one tried.
template <class T, class Evaluate>
line_search_result backtracking(Evaluate& evaluate, const tensor<T>& x, const tensor<T>& direction, double step,
                                evaluation<T>& at_x, double slope, tensor<T>& trial) {
  const double f0 = at_x.loss;
  const auto d = direction.vector();
  double t = step;
  for (int evaluations = 1;; ++evaluations) {
    trial.vector() = x.vector() + static_cast<T>(t) * d;
    const double f = evaluate(trial, at_x.gradient);
    at_x.loss = f;
    if (f <= f0 + wolfe_sufficient_decrease * t * slope || evaluations == backtracking_max_evaluations)
      return {t, evaluations};
    t = std::clamp(-slope * t * t / (2 * (f - f0 - slope * t)), 0.1 * t, 0.5 * t);
  }
}

}  // namespace detail
}  // namespace nst
