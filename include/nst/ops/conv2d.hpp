// nst/ops/conv2d.hpp — 2-D convolution (cross-correlation, as PyTorch) and its three gradients.
//
// input [N,C,H,W], weight [O,C,KH,KW], bias [O] (or an empty tensor: no bias), zero padding:
//
//   out[n,o,y,x] = bias[o] + Σ_{c,i,j} weight[o,c,i,j] * in[n, c, y*stride + i - padding, x*stride + j - padding]
//
// giving [N,O,OH,OW] with OH = (H + 2*padding - KH) / stride + 1 (rounded down), OW alike.
//
//   auto y  = nst::conv2d(x, w, b, {1, 1});                      // 3x3, stride 1, padding 1: same H,W
//   auto dx = nst::conv2d_backward_input(dy, w, x.shape(), {1, 1});
//   auto dw = nst::conv2d_backward_weight(dy, x, w.shape(), {1, 1});
//   auto db = nst::conv2d_backward_bias(dy);
//
// How it is fast: every function is one matrix product per tile of pixels. The tile's patches
// are gathered into a cache-sized column buffer (detail/im2col.hpp) and multiplied by the weight
// seen as an O x (C*KH*KW) matrix with Eigen's GEMM; tiles run in parallel and the bias is added
// while the tile is in cache. The input gradient is the transposed convolution, gathered the same
// way from the output gradient (no scatter, so tiles never collide). The *_reference functions
// are the definitions as plain loops with double sums, slow, for tests.
#pragma once

#include <algorithm>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "detail/im2col.hpp"
#include "detail/partition.hpp"

namespace nst {

struct conv2d_params {
  index_t stride = 1;
  index_t padding = 0;  // zeros on every side
};

// The output shape of conv2d(input, weight); raises shape_error / value_error naming both
// shapes when they do not fit together.
inline shape conv2d_output_shape(const shape& input, const shape& weight, const conv2d_params& p) {
  NST_CHECK(p.stride >= 1, value_error, 250, "conv2d: stride must be at least 1, got ", p.stride);
  NST_CHECK(p.padding >= 0, value_error, 251, "conv2d: padding must not be negative, got ", p.padding);
  NST_CHECK(input.rank() == 4, shape_error, 110, "conv2d: input must be [N,C,H,W], got ", input, " (weight ",
            weight, ")");
  NST_CHECK(weight.rank() == 4, shape_error, 111, "conv2d: weight must be [O,C,KH,KW], got ", weight, " (input ",
            input, ")");
  NST_CHECK(input.numel() > 0 && weight.numel() > 0, shape_error, 112, "conv2d: empty tensor (input ", input,
            ", weight ", weight, ")");
  NST_CHECK(input[1] == weight[1], shape_error, 113, "conv2d: input has ", input[1],
            " channels but the weight expects ", weight[1], " (input ", input, ", weight ", weight, ")");
  const index_t padded_h = input[2] + 2 * p.padding, padded_w = input[3] + 2 * p.padding;
  NST_CHECK(weight[2] <= padded_h && weight[3] <= padded_w, shape_error, 114, "conv2d: kernel ", weight[2], "x",
            weight[3], " is larger than the padded input ", padded_h, "x", padded_w, " (input ", input,
            ", weight ", weight, ", padding ", p.padding, ")");
  return shape{input[0], weight[0], (padded_h - weight[2]) / p.stride + 1, (padded_w - weight[3]) / p.stride + 1};
}

namespace detail {

// The sizes of one convolution, validated.
struct conv_geometry {
  index_t batch, in_channels, in_height, in_width;
  index_t out_channels, kernel_height, kernel_width;
  index_t out_height, out_width, stride, padding;

  conv_geometry(const shape& input, const shape& weight, const conv2d_params& p)
      : conv_geometry(input, weight, p, conv2d_output_shape(input, weight, p)) {}
  shape input_shape() const { return {batch, in_channels, in_height, in_width}; }
  shape output_shape() const { return {batch, out_channels, out_height, out_width}; }
  index_t in_pixels() const { return in_height * in_width; }
  index_t out_pixels() const { return out_height * out_width; }
  index_t kernel_taps() const { return kernel_height * kernel_width; }
  index_t patch_size() const { return in_channels * kernel_taps(); }  // one column of im2col

 private:
  conv_geometry(const shape& input, const shape& weight, const conv2d_params& p, const shape& output)
      : batch(input[0]), in_channels(input[1]), in_height(input[2]), in_width(input[3]),
        out_channels(weight[0]), kernel_height(weight[2]), kernel_width(weight[3]),
        out_height(output[2]), out_width(output[3]), stride(p.stride), padding(p.padding) {}
};

template <class T>
void check_conv_bias(const tensor<T>& bias, const shape& weight) {
  NST_CHECK(bias.empty() || (bias.rank() == 1 && bias.dim(0) == weight[0]), shape_error, 115,
            "conv2d: bias must be [", weight[0], "] (one value per output channel) or empty, got ", bias.shape(),
            " (weight ", weight, ")");
}

template <class T>
void check_conv_grad_output(const tensor<T>& grad_output, const conv_geometry& g, const char* function) {
  NST_CHECK(grad_output.shape() == g.output_shape(), shape_error, 116, function, ": grad_output ",
            grad_output.shape(), " does not match the convolution output ", g.output_shape(), " (input ",
            g.input_shape(), ", weight [", g.out_channels, ",", g.in_channels, ",", g.kernel_height, ",",
            g.kernel_width, "], stride ", g.stride, ", padding ", g.padding, ")");
}

// How the `pixels` target pixels of each of `batch` items are cut into tiles whose im2col buffer
// (patch_rows x tile) holds about 64K values: inside L2, and at least 64 pixels wide so the matrix
// product keeps its speed. Tiles of all items are the parallel tasks.
struct pixel_tiling {
  index_t pixels, tile, tiles_per_item, tasks, groups, patch_rows;

  pixel_tiling(index_t batch, index_t target_pixels, index_t rows) : pixels(target_pixels), patch_rows(rows) {
    constexpr index_t buffer_values = index_t(1) << 16, min_tile = 64;
    tile = std::min(pixels, std::max(min_tile, buffer_values / patch_rows));
    tiles_per_item = (pixels + tile - 1) / tile;
    tasks = batch * tiles_per_item;
    groups = group_count(tasks);
  }

  // Calls body(group, n, first, last, buffer) for each tile [first, last) of item n, the groups
  // in parallel; `buffer` (patch_rows x tile values) belongs to the group.
  template <class T, class Body>
  void for_each_tile(Body&& body) const {
    std::vector<typename tensor<T>::storage_type> buffers(static_cast<std::size_t>(groups),
                                                          typename tensor<T>::storage_type(
                                                              static_cast<std::size_t>(patch_rows * tile)));
    for_each_group(tasks, groups, [&](index_t g, index_t first_task, index_t last_task) {
      for (index_t t = first_task; t < last_task; ++t) {
        const index_t n = t / tiles_per_item, first = (t % tiles_per_item) * tile;
        body(g, n, first, std::min(pixels, first + tile), buffers[static_cast<std::size_t>(g)].data());
      }
    });
  }
};

}  // namespace detail

template <class T>
tensor<T> conv2d(const tensor<T>& input, const tensor<T>& weight, const tensor<T>& bias, const conv2d_params& p = {}) {
  using matrix_map = typename tensor<T>::matrix_map;
  using const_matrix_map = typename tensor<T>::const_matrix_map;
  const detail::conv_geometry g(input.shape(), weight.shape(), p);
  detail::check_conv_bias(bias, weight.shape());
  const auto row_runs = detail::forward_runs(g.kernel_height, g.in_height, g.out_height, g.stride, g.padding);
  const auto col_runs = detail::forward_runs(g.kernel_width, g.in_width, g.out_width, g.stride, g.padding);
  const const_matrix_map w(weight.data(), g.out_channels, g.patch_size());
  tensor<T> output(g.output_shape());
  const detail::pixel_tiling tiling(g.batch, g.out_pixels(), g.patch_size());
  tiling.for_each_tile<T>([&](index_t, index_t n, index_t first, index_t last, T* buffer) {
    detail::im2col_tile(input.data() + n * g.in_channels * g.in_pixels(), g.in_channels, g.in_height, g.in_width,
                        g.out_width, row_runs, col_runs, first, last, buffer);
    const const_matrix_map col(buffer, g.patch_size(), last - first);
    auto out = matrix_map(output.data() + n * g.out_channels * g.out_pixels(), g.out_channels, g.out_pixels())
                   .middleCols(first, last - first);
    if (bias.empty()) {
      out.noalias() = w * col;
    } else {
      out.colwise() = bias.vector();
      out.noalias() += w * col;
    }
  });
  return output;
}

// d in[n,c,h,w] = Σ_{o,i,j} weight[o,c,i,j] * dout[n,o,y,x] over (y,x) with h = y*stride + i - padding,
// w = x*stride + j - padding: the transposed convolution of dout. Computed as weightᵀ (C x O*KH*KW)
// times the columns gathered from dout for each input pixel (with stride > 1 most of them are 0).
template <class T>
tensor<T> conv2d_backward_input(const tensor<T>& grad_output, const tensor<T>& weight, const shape& input_shape,
                                const conv2d_params& p = {}) {
  using matrix_map = typename tensor<T>::matrix_map;
  using const_matrix_map = typename tensor<T>::const_matrix_map;
  const detail::conv_geometry g(input_shape, weight.shape(), p);
  detail::check_conv_grad_output(grad_output, g, "conv2d_backward_input");
  const index_t taps = g.kernel_taps(), rows = g.out_channels * taps;
  typename tensor<T>::row_matrix weight_t(g.in_channels, rows);  // weight_t[c, o*taps + k] = weight[o, c, k]
  for (index_t o = 0; o < g.out_channels; ++o)
    for (index_t c = 0; c < g.in_channels; ++c)
      for (index_t k = 0; k < taps; ++k) weight_t(c, o * taps + k) = weight[(o * g.in_channels + c) * taps + k];
  const auto row_runs = detail::transposed_runs(g.kernel_height, g.in_height, g.out_height, g.stride, g.padding);
  const auto col_runs = detail::transposed_runs(g.kernel_width, g.in_width, g.out_width, g.stride, g.padding);
  tensor<T> grad_input(input_shape);
  const detail::pixel_tiling tiling(g.batch, g.in_pixels(), rows);
  tiling.for_each_tile<T>([&](index_t, index_t n, index_t first, index_t last, T* buffer) {
    detail::im2col_tile(grad_output.data() + n * g.out_channels * g.out_pixels(), g.out_channels, g.out_height,
                        g.out_width, g.in_width, row_runs, col_runs, first, last, buffer);
    const const_matrix_map col(buffer, rows, last - first);
    matrix_map(grad_input.data() + n * g.in_channels * g.in_pixels(), g.in_channels, g.in_pixels())
        .middleCols(first, last - first)
        .noalias() = weight_t * col;
  });
  return grad_input;
}

// d weight[o,c,i,j] = Σ_{n,y,x} dout[n,o,y,x] * in[n, c, y*stride + i - padding, x*stride + j - padding]:
// per tile, dout (O x pixels) times the tile's im2col columnsᵀ, summed over tiles (one partial
// sum per thread, added in a fixed order).
template <class T>
tensor<T> conv2d_backward_weight(const tensor<T>& grad_output, const tensor<T>& input, const shape& weight_shape,
                                 const conv2d_params& p = {}) {
  using row_matrix = typename tensor<T>::row_matrix;
  using const_matrix_map = typename tensor<T>::const_matrix_map;
  const detail::conv_geometry g(input.shape(), weight_shape, p);
  detail::check_conv_grad_output(grad_output, g, "conv2d_backward_weight");
  const auto row_runs = detail::forward_runs(g.kernel_height, g.in_height, g.out_height, g.stride, g.padding);
  const auto col_runs = detail::forward_runs(g.kernel_width, g.in_width, g.out_width, g.stride, g.padding);
  const detail::pixel_tiling tiling(g.batch, g.out_pixels(), g.patch_size());
  std::vector<row_matrix> partial(static_cast<std::size_t>(tiling.groups),
                                  row_matrix::Zero(g.out_channels, g.patch_size()));
  tiling.for_each_tile<T>([&](index_t group, index_t n, index_t first, index_t last, T* buffer) {
    detail::im2col_tile(input.data() + n * g.in_channels * g.in_pixels(), g.in_channels, g.in_height, g.in_width,
                        g.out_width, row_runs, col_runs, first, last, buffer);
    const const_matrix_map col(buffer, g.patch_size(), last - first);
    const auto dout = const_matrix_map(grad_output.data() + n * g.out_channels * g.out_pixels(), g.out_channels,
                                       g.out_pixels())
                          .middleCols(first, last - first);
    partial[static_cast<std::size_t>(group)].noalias() += dout * col.transpose();
  });
  tensor<T> grad_weight(weight_shape);
  auto total = grad_weight.matrix(g.out_channels, g.patch_size());
  for (const row_matrix& part : partial) total += part;
  return grad_weight;
}

// d bias[o] = Σ_{n,y,x} dout[n,o,y,x], summed in double.
template <class T>
tensor<T> conv2d_backward_bias(const tensor<T>& grad_output) {
  NST_CHECK(grad_output.rank() == 4 && !grad_output.empty(), shape_error, 117,
            "conv2d_backward_bias: grad_output must be a non-empty [N,O,OH,OW], got ", grad_output.shape());
  const index_t batch = grad_output.dim(0), channels = grad_output.dim(1);
  const index_t pixels = grad_output.dim(2) * grad_output.dim(3);
  tensor<T> grad_bias({channels});
  parallel_for(0, channels, [&](index_t first, index_t last) {
    for (index_t o = first; o < last; ++o) {
      double sum = 0;
      for (index_t n = 0; n < batch; ++n) {
        const T* plane = grad_output.data() + (n * channels + o) * pixels;
        for (index_t i = 0; i < pixels; ++i) sum += static_cast<double>(plane[i]);
      }
      grad_bias[o] = static_cast<T>(sum);
    }
  });
  return grad_bias;
}

// ---- the definitions as plain loops (double sums), to test the fast versions against ----

template <class T>
tensor<T> conv2d_reference(const tensor<T>& input, const tensor<T>& weight, const tensor<T>& bias,
                           const conv2d_params& p = {}) {
  const detail::conv_geometry g(input.shape(), weight.shape(), p);
  detail::check_conv_bias(bias, weight.shape());
  tensor<T> output(g.output_shape());
  for (index_t n = 0; n < g.batch; ++n)
    for (index_t o = 0; o < g.out_channels; ++o)
      for (index_t y = 0; y < g.out_height; ++y)
        for (index_t x = 0; x < g.out_width; ++x) {
          double sum = bias.empty() ? 0.0 : static_cast<double>(bias[o]);
          for (index_t c = 0; c < g.in_channels; ++c)
            for (index_t i = 0; i < g.kernel_height; ++i)
              for (index_t j = 0; j < g.kernel_width; ++j) {
                const index_t h = y * g.stride + i - g.padding, w = x * g.stride + j - g.padding;
                if (h >= 0 && h < g.in_height && w >= 0 && w < g.in_width)
                  sum += static_cast<double>(weight.at(o, c, i, j)) * static_cast<double>(input.at(n, c, h, w));
              }
          output.at(n, o, y, x) = static_cast<T>(sum);
        }
  return output;
}

template <class T>
tensor<T> conv2d_backward_input_reference(const tensor<T>& grad_output, const tensor<T>& weight,
                                          const shape& input_shape, const conv2d_params& p = {}) {
  const detail::conv_geometry g(input_shape, weight.shape(), p);
  detail::check_conv_grad_output(grad_output, g, "conv2d_backward_input_reference");
  tensor<double> grad_input(input_shape);
  for (index_t n = 0; n < g.batch; ++n)
    for (index_t o = 0; o < g.out_channels; ++o)
      for (index_t y = 0; y < g.out_height; ++y)
        for (index_t x = 0; x < g.out_width; ++x)
          for (index_t c = 0; c < g.in_channels; ++c)
            for (index_t i = 0; i < g.kernel_height; ++i)
              for (index_t j = 0; j < g.kernel_width; ++j) {
                const index_t h = y * g.stride + i - g.padding, w = x * g.stride + j - g.padding;
                if (h >= 0 && h < g.in_height && w >= 0 && w < g.in_width)
                  grad_input.at(n, c, h, w) +=
                      static_cast<double>(weight.at(o, c, i, j)) * static_cast<double>(grad_output.at(n, o, y, x));
              }
  return grad_input.cast<T>();
}

template <class T>
tensor<T> conv2d_backward_weight_reference(const tensor<T>& grad_output, const tensor<T>& input,
                                           const shape& weight_shape, const conv2d_params& p = {}) {
  const detail::conv_geometry g(input.shape(), weight_shape, p);
  detail::check_conv_grad_output(grad_output, g, "conv2d_backward_weight_reference");
  tensor<T> grad_weight(weight_shape);
  for (index_t o = 0; o < g.out_channels; ++o)
    for (index_t c = 0; c < g.in_channels; ++c)
      for (index_t i = 0; i < g.kernel_height; ++i)
        for (index_t j = 0; j < g.kernel_width; ++j) {
          double sum = 0;
          for (index_t n = 0; n < g.batch; ++n)
            for (index_t y = 0; y < g.out_height; ++y)
              for (index_t x = 0; x < g.out_width; ++x) {
                const index_t h = y * g.stride + i - g.padding, w = x * g.stride + j - g.padding;
                if (h >= 0 && h < g.in_height && w >= 0 && w < g.in_width)
                  sum += static_cast<double>(grad_output.at(n, o, y, x)) * static_cast<double>(input.at(n, c, h, w));
              }
          grad_weight.at(o, c, i, j) = static_cast<T>(sum);
        }
  return grad_weight;
}

}  // namespace nst
