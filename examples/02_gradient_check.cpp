// 02 — checking a gradient against finite differences.
//
// Every backward function in nst is tested with nst::check_gradient, which compares an analytic
// gradient with central differences (f(x + h) - f(x - h)) / 2h, element by element. Use it for
// your own code too. Here the function is the style loss of one layer,
//
//   L(F) = mean((G(F) - A)^2),   G(F) = F Fᵀ / (C*H*W)   (the Gram matrix),
//
// differentiated three ways: by hand with nst's backward functions (right), by hand with a
// classic mistake (wrong: G depends on F twice), and by the autodiff tape.
//
//   build/bin/examples/02_gradient_check
#include <nst/autodiff.hpp>
#include <nst/ops.hpp>

#include <cstdio>
#include <random>

// Uniform values in [-1, 1), reproducible.
nst::tensor<double> random_tensor(const nst::shape& s, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  nst::tensor<double> t(s);
  for (double& v : t) v = uniform(rng);
  return t;
}

// Prints the outcome of a check; true when the gradient is right to 1e-6.
bool report(const char* what, const nst::gradient_check_result& check) {
  std::printf("%-34s max relative error %.2e over %td elements -> %s\n", what, check.max_relative_error,
              check.checked, check.ok(1e-6) ? "ok" : "WRONG");
  return check.ok(1e-6);
}

int main() {
  const nst::tensor<double> features = random_tensor({1, 4, 5, 5}, 1);  // F: 4 channels, 5x5
  const nst::tensor<double> target = nst::gram(random_tensor({1, 4, 5, 5}, 2));  // A: [1,4,4]
  const double chw = 4 * 5 * 5;

  // The function being differentiated, as check_gradient wants it: tensor -> scalar.
  auto loss = [&](const nst::tensor<double>& f) { return nst::mse(nst::gram(f), target); };
  std::printf("L(F) = %.6f\n", loss(features));

  // 1. By hand, with the chain rule: dL/dG from mse, then dL/dF from gram (dF = (dG + dGᵀ) F / CHW).
  const nst::tensor<double> g = nst::gram(features);
  const nst::tensor<double> d_gram = nst::mse_backward(g, target, 1.0);
  const nst::tensor<double> d_features = nst::gram_backward(d_gram, features);
  const bool by_hand = report("chain rule with nst's backwards:", nst::check_gradient(loss, features, d_features));

  // 2. The classic mistake: treating Fᵀ as a constant gives dF = dG F / CHW, half the truth here.
  nst::tensor<double> half(features.shape());
  half.matrix(4, 25) = d_gram.matrix(4, 4) * features.matrix(4, 25) / chw;
  const bool mistake = report("forgetting that G uses F twice:", nst::check_gradient(loss, features, half));

  // 3. The autodiff tape records the ops as they run and applies the chain rule backwards.
  nst::tape<double> tp;
  const nst::var<double> f = tp.variable(features);
  const nst::var<double> l = nst::ad::mse(nst::ad::gram(f), tp.constant(target));
  tp.backward(l);
  const bool by_tape = report("autodiff tape:", nst::check_gradient(loss, features, f.grad()));

  // Finite differences need double: in float the differences themselves carry ~1e-3 of error.
  return by_hand && !mistake && by_tape ? 0 : 1;
}
