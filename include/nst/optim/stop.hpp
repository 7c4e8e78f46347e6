// nst/optim/stop.hpp — when minimize() stops, independently of the search policy.
//
// A policy (adam, lbfgs) decides where to step; `stop_criteria` decides how long to keep going.
// They are separate so any policy can be combined with any budget:
//
//   nst::stop_criteria stop;
//   stop.max_iterations = 500;          // at most 500 iterations (direction updates)
//   stop.max_evaluations = 625;         // and at most 625 objective evaluations (0 = no limit)
//   stop.relative_tolerance = 1e-6;     // or stop once the loss changes by < 1e-6 relative
//
// An L-BFGS policy also has its own convergence tests (tolerance_grad, tolerance_change, as in
// torch.optim.LBFGS); minimize() stops at whichever criterion holds first and names it in
// minimize_result::stop_reason.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "../core/error.hpp"

namespace nst {

// How long minimize() may run, whatever the policy: iteration and evaluation budgets and a
// relative-change tolerance. Checked by validate() (value_error 222).
struct stop_criteria {
  // Iterations of this minimize() call; one iteration is one update of the search direction
  // (torch's max_iter), however many evaluations its line search takes.
  int max_iterations = 1000;
  // Objective evaluations of this call, the first one at the starting point included; checked
  // after each iteration, as torch's max_eval (whose default is max_iter * 5 / 4). 0 = no limit.
  int max_evaluations = 0;
  // Stop when |f_k - f_{k-1}| / max(|f_k|, tiny) < relative_tolerance, where f_k is the loss
  // after iteration k (f_0 at the start). 0 = off.
  double relative_tolerance = 0;
};

// Raises value_error 222 unless every limit is non-negative (and the tolerance is finite).
inline void validate(const stop_criteria& stop) {
  NST_CHECK(stop.max_iterations >= 0, value_error, 222, "minimize: stop_criteria::max_iterations must be >= 0, got ",
            stop.max_iterations);
  NST_CHECK(stop.max_evaluations >= 0, value_error, 222,
            "minimize: stop_criteria::max_evaluations must be >= 0 (0 = no limit), got ", stop.max_evaluations);
  NST_CHECK(stop.relative_tolerance >= 0 && std::isfinite(stop.relative_tolerance), value_error, 222,
            "minimize: stop_criteria::relative_tolerance must be finite and >= 0 (0 = off), got ",
            stop.relative_tolerance);
}

// True when the loss moved from `previous` to `current` by less than `tolerance` relative to
// |current| (floored at the smallest normal double, so a loss that stays at 0 counts as still).
inline bool relative_change_below(double previous, double current, double tolerance) {
  if (tolerance <= 0) return false;
  const double scale = std::max(std::abs(current), std::numeric_limits<double>::min());
  return std::abs(current - previous) / scale < tolerance;
}

}  // namespace nst
