#include <nst/autodiff/check_gradient.hpp>
#include <nst/autodiff/ops.hpp>

#include "../support/support.hpp"

TEST_CASE("ad::max_pool2d: compact winner offsets give the gradient of the full indices", "[autodiff][ops]") {
  // Windows with padding, overlap (stride < kernel), odd sizes, and a 17x17 window (full indices).
  const nst::pool2d_params cases[] = {{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {4, 3, 2}, {17, 1, 0}};
  const auto input = nst_test::random_tensor<double>({2, 3, 19, 18}, 71);
  for (const nst::pool2d_params& p : cases) {
    INFO("kernel " << p.kernel << ", stride " << p.stride << ", padding " << p.padding);
    const auto full = nst::max_pool2d(input, p);
    const auto dy = nst_test::random_tensor<double>(full.output.shape(), 72);
    nst::tape<double> tp;
    const auto x = tp.variable(input);
    const auto y = nst::ad::max_pool2d(x, p);
    CHECK(nst_test::max_relative_error(y.value(), full.output) == 0.0);
    // loss = (n/2) mean((y - (y0 - dy))^2) with y0 = y's value: d loss / d y = dy.
    nst::tensor<double> target = full.output;
    target.vector() -= dy.vector();
    tp.backward((static_cast<double>(dy.size()) / 2.0) * nst::ad::mse(y, tp.constant(target)));
    CHECK(nst_test::max_relative_error(x.grad(), nst::max_pool2d_backward(dy, full.argmax, input.shape())) < 1e-12);
  }
}

TEST_CASE("ad ops in a memory plan: the same gradients, every tensor from the arena after the first evaluation",
          "[autodiff][ops][allocator]") {
  // A small network's loss (conv, ReLU, pooling, Gram matrix, MSE, total variation) evaluated as
  // stylize evaluates it: each evaluation in a scope of one plan, the tape cleared at its end.
  const auto input = nst_test::random_tensor<float>({1, 3, 24, 20}, 81);
  const auto weight = nst_test::random_tensor<float>({8, 3, 3, 3}, 82);
  const auto bias = nst_test::random_tensor<float>({8}, 83);
  const auto target = nst_test::random_tensor<float>({1, 8, 8}, 84);
  nst::tape<float> tp;
  const auto evaluate = [&] {
    const auto x = tp.variable(input);
    const auto features = nst::ad::relu(nst::ad::conv2d(x, tp.reference(weight), tp.reference(bias), {1, 1}));
    const auto pooled = nst::ad::max_pool2d(features, {2, 2, 0});
    const auto loss = nst::ad::mse(nst::ad::gram(pooled), tp.constant(target)) + 0.1f * nst::ad::total_variation(x);
    tp.backward(loss);
    nst::tensor<float> gradient = x.grad();
    tp.clear();
    return gradient;
  };
  const nst::tensor<float> unplanned = evaluate();
  nst::memory_plan plan;
  for (int evaluation = 1; evaluation <= 3; ++evaluation) {
    nst::tensor<float> gradient;
    {
      const nst::planned_memory scope(plan);
      gradient = evaluate();
    }
    INFO("evaluation " << evaluation);
    CHECK(nst_test::max_relative_error(gradient, unplanned) == 0.0);
    if (evaluation > 1) CHECK(plan.last_scope_misses() == 0);
  }
  CHECK(plan.planned_tensors() >= 10);
  CHECK(plan.planned_tensors() + 1 == plan.last_scope_tensors());  // all but the returned gradient
}

TEST_CASE("ad::conv3x3 adds its input gradient in place onto one that reached x first", "[autodiff][ops]") {
  // x feeds a convolution with a fused ReLU and, recorded after it, a Gram loss (as relu1_1 feeds
  // conv1_2 and its style loss): the loss's step runs first and conv3x3's step adds onto that
  // gradient; x's gradient is the sum of the two, whichever algorithm the layer uses.
  const auto input = nst_test::random_tensor<float>({1, 16, 20, 18}, 91);
  const auto weight = nst_test::random_tensor<float>({16, 16, 3, 3}, 92, -0.2f, 0.2f);
  const auto bias = nst_test::random_tensor<float>({16}, 93);
  const auto target = nst_test::random_tensor<float>({1, 16, 16}, 94);
  const auto dy = nst_test::random_tensor<float>({1, 16, 20, 18}, 95);
  using layer_type = nst::conv3x3_same<float>;
  const layer_type layers[] = {layer_type(weight, bias),
                               layer_type(weight, bias, nst::padding_mode::zeros,
                                          layer_type::transformed(weight, nst::conv_algorithm::winograd)),
                               layer_type::transient(weight, bias, nst::conv_algorithm::winograd)};
  for (const layer_type& layer : layers) {
    INFO("Winograd: " << layer.uses_winograd());
    nst::tape<float> tp;
    const auto x = tp.variable(input);
    const auto y = nst::ad::conv3x3(x, layer, true);
    const auto gram = nst::ad::gram(x);
    // (n/2) mse(y, y0 - dy) + mse(G, target), y0 = y's value: d/dy = dy, d/dG = 2 (G - target) / n.
    nst::tensor<float> shifted = y.value(), grad_gram = gram.value();
    shifted.vector() -= dy.vector();
    grad_gram.vector() = (grad_gram.vector() - target.vector()) * (2.0f / static_cast<float>(target.size()));
    tp.backward((static_cast<float>(dy.size()) / 2.0f) * nst::ad::mse(y, tp.constant(shifted)) +
                nst::ad::mse(gram, tp.constant(target)));
    nst::tensor<float> want = nst::gram_backward(grad_gram, input);
    want.vector() += layer.backward_input(dy, nst::relu_mask(y.value())).vector();
    CHECK(nst_test::error_of_largest(x.grad(), want) < 1e-5);  // dy passes the loss's float scaling
  }
}
