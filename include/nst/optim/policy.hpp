// nst/optim/policy.hpp — what minimize() asks of a search policy (adam, lbfgs, or your own).
//
// A policy is a plain struct of hyper-parameters. Everything it changes while it runs lives in a
// separate state struct with plain members (an int, doubles, tensors), so a run can be saved
// and resumed by saving that struct. minimize() keeps the invariant that the current point x is
// evaluated: `at_x` holds f(x) and df/dx. A policy provides
//
//   template <class T> using state_type = my_state<T>;
//
//   // Before the first iteration of a minimize() call: check the hyper-parameters, size the
//   // state's buffers to x (so the loop allocates nothing), and say whether x is already good
//   // enough (a non-empty stop_reason ends the call with no iteration).
//   template <class T>
//   step_result begin(state_type<T>& state, const tensor<T>& x, const evaluation<T>& at_x) const;
//
//   // One iteration: move x, evaluating `evaluate(point, gradient) -> double` as often as the
//   // strategy needs, and leave at_x evaluated at the new x.
//   template <class T, class Evaluate>
//   step_result step(state_type<T>& state, tensor<T>& x, evaluation<T>& at_x, Evaluate& evaluate) const;
//
// Both are const: the policy itself never changes, so one policy object can drive many runs.
#pragma once

#include <string_view>

#include "../core/tensor.hpp"

namespace nst {

// The loss and its gradient at one point.
template <class T>
struct evaluation {
  double loss = 0;      // f(x)
  tensor<T> gradient;   // df/dx, the shape of x
};

// What an iteration did. `moved` is false when the policy stopped before changing x (such an
// iteration is not counted); a non-empty `stop_reason` (a string literal) asks minimize() to stop.
struct step_result {
  bool moved = true;             // x changed in this iteration
  std::string_view stop_reason;  // empty = go on; else why to stop ("tolerance_grad", ...)
};

// The state type of `Policy` for scalar T: nst::policy_state<nst::lbfgs, double>.
template <class Policy, class T>
using policy_state = typename Policy::template state_type<T>;

}  // namespace nst
