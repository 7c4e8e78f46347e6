// nst/autodiff/check_gradient.hpp — compare an analytic gradient with central finite differences.
//
// Every backward pass in nst is tested with this, and it ships in the library so users can test
// their own loss functors and layers the same way:
//
//   auto loss = [&](const nst::tensor<double>& x) { return my_loss(x); };   // x -> scalar
//   nst::tensor<double> grad = my_loss_gradient(x);                         // what you derived
//   auto check = nst::check_gradient(loss, x, grad);
//   assert(check.ok(1e-6));
//
// For each checked element i the numeric derivative is (f(x + h e_i) - f(x - h e_i)) / 2h.
// The error of element i is |analytic - numeric| / max(|analytic|, |numeric|, scale), where
// `scale` is 1e-3 times the largest analytic magnitude (so elements whose true derivative is ~0
// are judged against the gradient's size, not against round-off). Use double: in float the
// finite differences themselves are only good to ~1e-3.
#pragma once

#include <algorithm>
#include <cmath>

#include "../core/tensor.hpp"

namespace nst {

// What check_gradient found. A NaN anywhere (loss, gradient) counts as an infinite error.
struct gradient_check_result {
  double max_relative_error = 0;  // worst error over the checked elements (see above)
  double max_absolute_error = 0;  // worst |analytic - numeric|
  index_t worst_index = -1;       // flat index of the element with the worst relative error
  index_t checked = 0;            // how many elements were checked
  // True when something was checked and the worst relative error is within `tolerance`.
  bool ok(double tolerance) const { return checked > 0 && max_relative_error <= tolerance; }
};

// `loss_of_x(const tensor<T>&) -> T`. Checks every element, or `max_checks` evenly spaced ones
// when max_checks > 0 (for large inputs, each check costs two evaluations of the loss), with
// central differences of half-width `step`. Throws shape_error 105 (x and the gradient differ in
// shape), value_error 203 (step not positive).
template <class T, class LossOfX>
gradient_check_result check_gradient(LossOfX&& loss_of_x, const tensor<T>& x, const tensor<T>& analytic_gradient,
                                     T step = T(1e-6), index_t max_checks = 0) {
  expect_same_shape(x, analytic_gradient, "check_gradient (x vs analytic gradient)");
  NST_CHECK(step > T(0), value_error, 203, "check_gradient: step must be positive, got ", step);
  gradient_check_result result;
  double largest = 0;
  for (T g : analytic_gradient) largest = std::max(largest, std::abs(static_cast<double>(g)));
  const double scale = std::max(1e-3 * largest, 1e-300);

  const index_t n = x.size();
  const index_t stride = (max_checks > 0 && max_checks < n) ? n / max_checks : 1;
  tensor<T> probe = x;
  for (index_t i = 0; i < n; i += stride) {
    const T original = probe[i];
    probe[i] = original + step;
    const double up = static_cast<double>(loss_of_x(static_cast<const tensor<T>&>(probe)));
    probe[i] = original - step;
    const double down = static_cast<double>(loss_of_x(static_cast<const tensor<T>&>(probe)));
    probe[i] = original;

    const double numeric = (up - down) / (2 * static_cast<double>(step));
    const double analytic = static_cast<double>(analytic_gradient[i]);
    // A NaN (a loss or gradient that is not finite) must fail the check, not slip past max().
    const double difference = std::abs(analytic - numeric);
    const double absolute = std::isnan(difference) ? HUGE_VAL : difference;
    const double ratio = absolute / std::max({std::abs(analytic), std::abs(numeric), scale});
    const double relative = std::isnan(ratio) ? HUGE_VAL : ratio;
    result.max_absolute_error = std::max(result.max_absolute_error, absolute);
    if (relative > result.max_relative_error || result.worst_index < 0) {
      result.max_relative_error = std::max(result.max_relative_error, relative);
      result.worst_index = i;
    }
    ++result.checked;
  }
  return result;
}

}  // namespace nst
