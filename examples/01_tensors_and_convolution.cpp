// 01 — tensors and convolution.
//
// nst::tensor<T> is the one container of nst: a row-major block of values with a shape. Images
// and feature maps are NCHW: [batch, channels, height, width]. Here we draw a small image, find
// its edges with two hand-made 3x3 convolution kernels (Sobel filters), and look at the result
// through Eigen without copying it.
//
//   build/bin/examples/01_tensors_and_convolution
#include <nst/core.hpp>
#include <nst/ops/conv2d.hpp>

#include <cstdio>
#include <vector>

// Prints channel c of batch item 0 as a grid of numbers.
void print_channel(const char* title, const nst::tensor<float>& t, nst::index_t c) {
  std::printf("%s\n", title);
  for (nst::index_t y = 0; y < t.dim(2); ++y) {
    for (nst::index_t x = 0; x < t.dim(3); ++x) std::printf("%5.1f", t.at(0, c, y, x));
    std::printf("\n");
  }
}

int main() {
  // A 6x6 grey image (one channel), zero-filled, with a bright 2x4 bar in the middle.
  nst::tensor<float> image({1, 1, 6, 6});
  for (nst::index_t y = 2; y < 4; ++y)
    for (nst::index_t x = 1; x < 5; ++x) image.at(0, 0, y, x) = 1.0f;
  std::printf("image %s, %td values\n", image.shape().str().c_str(), image.size());
  print_channel("the image:", image, 0);

  // Two kernels in one weight tensor [out_channels, in_channels, 3, 3]: horizontal and vertical
  // Sobel. Values are listed in row-major order, the order of every nst tensor.
  const nst::tensor<float> sobel({2, 1, 3, 3}, std::vector<float>{-1, 0, 1, -2, 0, 2, -1, 0, 1,    // d/dx
                                                                  -1, -2, -1, 0, 0, 0, 1, 2, 1});  // d/dy
  const nst::tensor<float> no_bias({2});  // one bias per output channel, zeros

  // stride 1 and padding 1 keep the 6x6 size; the output has one channel per kernel.
  const nst::tensor<float> edges = nst::conv2d(image, sobel, no_bias, {/*stride*/ 1, /*padding*/ 1});
  std::printf("\nedges %s\n", edges.shape().str().c_str());
  print_channel("channel 0, d/dx (left and right ends of the bar):", edges, 0);
  print_channel("channel 1, d/dy (top and bottom of the bar):", edges, 1);

  // The same memory seen as an Eigen matrix: one row per channel, 36 pixels per row, no copy.
  const auto per_channel = edges.matrix(2, 36);
  std::printf("\nsum of |response| per channel: %.1f %.1f\n", per_channel.row(0).cwiseAbs().sum(),
              per_channel.row(1).cwiseAbs().sum());

  // Stride 2 samples every other position: the output is 3x3.
  const auto strided = nst::conv2d(image, sobel, no_bias, {2, 1});
  std::printf("with stride 2: %s\n", strided.shape().str().c_str());
  return 0;
}
