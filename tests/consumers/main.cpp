// A program outside nst that uses it like a user would: include the umbrella header, run a
// convolution and a gradient, print a check value. Shared by the find_package, add_subdirectory,
// FetchContent and pkg-config consumers. NST_EXPECTED_VERSION, the CMake project version of the
// nst build that runs the consumer tests, must equal the version macros of the headers found.
#include <nst/config.hpp>
#include <nst/nst.hpp>

#include <cstdio>
#include <cstring>

int main() {
  std::printf("%s\n", nst::build_summary().c_str());
#if defined(NST_EXPECTED_VERSION)
  if (std::strcmp(NST_EXPECTED_VERSION, NST_VERSION_STRING) != 0) {
    std::printf("version mismatch: CMake says %s, <nst/version.hpp> says %s\n", NST_EXPECTED_VERSION,
                NST_VERSION_STRING);
    return 1;
  }
#endif
  nst::tape<double> tp;
  auto x = tp.variable(nst::tensor<double>({1, 1, 4, 4}, 1.0));
  auto w = tp.constant(nst::tensor<double>({2, 1, 3, 3}, 0.5));
  auto b = tp.constant(nst::tensor<double>({2}, 0.0));
  auto y = nst::ad::sum(nst::ad::relu(nst::ad::conv2d(x, w, b, {1, 1})));
  tp.backward(y);
  // Σ over a 4x4 'same' convolution of ones with a 3x3 kernel of 0.5, two channels:
  // each output is 0.5 * (number of in-bounds taps): 4 corners see 4 taps, 8 edge pixels 6, the
  // 4 inner pixels 9, so Σ taps = 16 + 48 + 36 = 100 -> 2 channels * 0.5 * 100 = 100.
  // d/dx[0] = 2 channels * 0.5 * (4 outputs whose window covers the corner) = 4.
  std::printf("nst %s: loss %.1f, grad[0] %.1f\n", NST_VERSION_STRING, y.value()[0], x.grad()[0]);
  return (y.value()[0] == 100.0 && x.grad()[0] == 4.0) ? 0 : 1;
}
