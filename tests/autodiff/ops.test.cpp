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
