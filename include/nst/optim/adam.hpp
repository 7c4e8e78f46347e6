// nst/optim/adam.hpp — the Adam policy, with torch.optim.Adam's update rule.
//
// Adam moves every element by its own step: a running mean of the gradient (first moment m)
// divided by the root of a running mean of its square (second moment v), both corrected for
// their start at zero. At iteration k, with gradient g at the current x:
//
//   m = beta1 m + (1 - beta1) g              v = beta2 v + (1 - beta2) g*g
//   x = x - lr / (1 - beta1^k) * m / (sqrt(v) / sqrt(1 - beta2^k) + epsilon)
//
// exactly as torch.optim.Adam (no weight decay, no amsgrad). One evaluation per iteration.
//
// Optional iterate averaging (average_decay = d in (0,1)): the state also keeps an exponential
// moving average of the iterates, a = d a + (1 - d) x after every step, and averaged() returns it
// corrected for its start at zero, a / (1 - d^k). Adam's iterates jitter around the minimum at a
// fixed learning rate; their average sits closer to it (and, for images, is less noisy).
//
//   nst::adam policy;                 // learning_rate 10, as neural-style uses on pixel values
//   policy.learning_rate = 1;
//   auto result = nst::minimize(loss, image, policy, nst::stop_criteria{});
#pragma once

#include <cmath>

#include "../core/tensor.hpp"
#include "policy.hpp"

namespace nst {

// Everything Adam changes while it runs; save it to resume a run exactly.
template <class T>
struct adam_state {
  int step = 0;              // updates made so far (the k of the bias corrections)
  tensor<T> first_moment;    // m, shaped like x
  tensor<T> second_moment;   // v, shaped like x
  tensor<T> average;         // a, the moving average of the iterates (empty when averaging is off)
};

// The Adam policy (as torch.optim.Adam, plus optional iterate averaging) for nst::minimize;
// value_error 223 for a learning rate, beta, epsilon or average_decay out of range.
struct adam {
  double learning_rate = 10;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double average_decay = 0;  // d of the iterate average, in [0, 1); 0 = off (value_error 223)

  template <class T>
  using state_type = adam_state<T>;

  template <class T>
  step_result begin(adam_state<T>& state, const tensor<T>& x, const evaluation<T>&) const {
    NST_CHECK(learning_rate > 0 && std::isfinite(learning_rate), value_error, 223,
              "adam: learning_rate must be finite and positive, got ", learning_rate);
    NST_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, value_error, 223,
              "adam: beta1 and beta2 must lie in [0, 1), got ", beta1, " and ", beta2);
    NST_CHECK(epsilon >= 0 && std::isfinite(epsilon), value_error, 223,
              "adam: epsilon must be finite and >= 0, got ", epsilon);
    NST_CHECK(average_decay >= 0 && average_decay < 1, value_error, 223,
              "adam: average_decay must lie in [0, 1), got ", average_decay);
    if (state.step == 0) {
      state.first_moment = tensor<T>(x.shape());
      state.second_moment = tensor<T>(x.shape());
      if (average_decay > 0) state.average = tensor<T>(x.shape());
    }
    NST_CHECK(average_decay == 0 || state.average.shape() == x.shape(), value_error, 224,
              "adam: the state to resume from has an iterate average of shape ", state.average.shape(),
              " but x has shape ", x.shape(), " (was it saved with averaging off?)");
    NST_CHECK(state.first_moment.shape() == x.shape() && state.second_moment.shape() == x.shape(),
              value_error, 224, "adam: the state to resume from has moments of shape ",
              state.first_moment.shape(), " but x has shape ", x.shape());
    return {};
  }

  template <class T, class Evaluate>
  step_result step(adam_state<T>& state, tensor<T>& x, evaluation<T>& at_x, Evaluate& evaluate) const {
    ++state.step;
    const double first_correction = 1 - std::pow(beta1, state.step);
    const double second_correction = 1 - std::pow(beta2, state.step);
    const T step_size = static_cast<T>(learning_rate / first_correction);
    const T second_correction_root = static_cast<T>(std::sqrt(second_correction));

    auto g = at_x.gradient.vector().array();
    auto m = state.first_moment.vector().array();
    auto v = state.second_moment.vector().array();
    m = m * static_cast<T>(beta1) + g * static_cast<T>(1 - beta1);
    v = v * static_cast<T>(beta2) + static_cast<T>(1 - beta2) * g * g;
    x.vector().array() -= step_size * (m / (v.sqrt() / second_correction_root + static_cast<T>(epsilon)));
    if (average_decay > 0)
      state.average.vector() = static_cast<T>(average_decay) * state.average.vector() +
                               static_cast<T>(1 - average_decay) * x.vector();

    at_x.loss = evaluate(x, at_x.gradient);
    return {};
  }

  // The bias-corrected iterate average a / (1 - d^k) of a run with averaging on; `x` itself when
  // averaging is off or no step was made.
  template <class T>
  tensor<T> averaged(const adam_state<T>& state, const tensor<T>& x) const {
    if (average_decay == 0 || state.step == 0 || state.average.shape() != x.shape()) return x;
    tensor<T> a = state.average;
    a.vector() /= static_cast<T>(1 - std::pow(average_decay, state.step));
    return a;
  }
};

}  // namespace nst
