// Helpers shared by the loss tests: evaluate a term with one tensor standing for both the
// image and the features at one layer.
#pragma once

#include <nst/loss.hpp>

#include "../support/support.hpp"

namespace loss_test {
using tensor_d = nst::tensor<double>;

// Evaluates `term` on a tape where the features at `layer` (and the image) are the variable `x`.
template <class Term>
double evaluate(const Term& term, const tensor_d& x, const std::string& layer, tensor_d* gradient = nullptr) {
  nst::tape<double> tp;
  auto v = tp.variable(x);
  nst::feature_vars<double> features{{layer, v}};
  auto loss = term(nst::loss_inputs<double>{v, features});
  if (gradient) {
    tp.backward(loss);
    *gradient = v.grad();
  }
  return loss.value()[0];
}

inline double mean_squared_difference(const tensor_d& a, const tensor_d& b) {
  return (a.vector() - b.vector()).squaredNorm() / static_cast<double>(a.size());
}
}  // namespace loss_test
