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
// How it is fast: every function is one matrix product per tile of output pixels. The tile's
// patches are gathered into a cache-sized column buffer (detail/im2col.hpp) and multiplied with
// the weight seen as an O x (C*KH*KW) matrix by Eigen's GEMM; tiles run in parallel and the bias
// is added while the tile is in cache. The input gradient multiplies by the transposed weight and
// adds the columns back onto the input (col2im), or, for wide stride-1 layers, is itself a
// convolution with the flipped kernel. The *_reference functions are the definitions as plain
// loops with double sums: slow, for tests.
#pragma once

#include <algorithm>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "detail/im2col.hpp"
#include "detail/partition.hpp"

namespace nst {

// Stride and zero padding of conv2d and its gradients (the same on both axes).
struct conv2d_params {
  index_t stride = 1;
  index_t padding = 0;  // zeros on every side
};

// The output shape of conv2d(input, weight); raises shape_error / value_error naming both
// shapes when they do not fit together.
inline shape conv2d_output_shape(const shape& input, const shape& weight, const conv2d_params& p) {
  NST_CHECK(p.stride >= 1, value_error, 250, "conv2d: stride must be at least 1, got ", p.stride);
  NST_CHECK(p.padding >= 0, value_error, 251, "conv2d: padding must not be negative, got ", p.padding);
  NST_CHECK(input.rank() == 4, shape_error, 110, "conv2d: input must be [N,C,H,W], got ", input, " (weight ", weight,
            ")");
  NST_CHECK(weight.rank() == 4, shape_error, 111, "conv2d: weight must be [O,C,KH,KW], got ", weight, " (input ", input,
            ")");
  NST_CHECK(input.numel() > 0 && weight.numel() > 0, shape_error, 112, "conv2d: empty tensor (input ", input,
            ", weight ", weight, ")");
  NST_CHECK(input[1] == weight[1], shape_error, 113, "conv2d: input has ", input[1],
            " channels but the weight expects ", weight[1], " (input ", input, ", weight ", weight, ")");
  const index_t padded_h = input[2] + 2 * p.padding, padded_w = input[3] + 2 * p.padding;
  NST_CHECK(weight[2] <= padded_h && weight[3] <= padded_w, shape_error, 114, "conv2d: kernel ", weight[2], "x",
            weight[3], " is larger than the padded input ", padded_h, "x", padded_w, " (input ", input, ", weight ",
            weight, ", padding ", p.padding, ")");
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
  patch_layout patches() const {
    return {in_channels,
            in_height,
            in_width,
            out_width,
            stride,
            tap_runs(kernel_height, in_height, out_height, stride, padding),
            tap_runs(kernel_width, in_width, out_width, stride, padding)};
  }

 private:
  conv_geometry(const shape& input, const shape& weight, const conv2d_params& p, const shape& output)
      : batch(input[0]),
        in_channels(input[1]),
        in_height(input[2]),
        in_width(input[3]),
        out_channels(weight[0]),
        kernel_height(weight[2]),
        kernel_width(weight[3]),
        out_height(output[2]),
        out_width(output[3]),
        stride(p.stride),
        padding(p.padding) {}
};

template <class T>
void check_conv_bias(const tensor<T>& bias, const shape& weight) {
  NST_CHECK(bias.empty() || (bias.rank() == 1 && bias.dim(0) == weight[0]), shape_error, 115, "conv2d: bias must be [",
            weight[0], "] (one value per output channel) or empty, got ", bias.shape(), " (weight ", weight, ")");
}

template <class T>
void check_conv_grad_output(const tensor<T>& grad_output, const conv_geometry& g, const char* function) {
  NST_CHECK(grad_output.shape() == g.output_shape(), shape_error, 116, function, ": grad_output ", grad_output.shape(),
            " does not match the convolution output ", g.output_shape(), " (input ", g.input_shape(), ", weight [",
            g.out_channels, ",", g.in_channels, ",", g.kernel_height, ",", g.kernel_width, "], stride ", g.stride,
            ", padding ", g.padding, ")");
}

// Pixels per im2col tile: the column buffer (patch_rows x tile) holds about 64K values, inside
// L2, and is at least 64 pixels wide so that the matrix product keeps its speed.
inline index_t tile_pixels(index_t patch_rows, index_t pixels) {
  constexpr index_t buffer_values = index_t(1) << 16, min_tile = 64;
  return std::min(pixels, std::max(min_tile, buffer_values / patch_rows));
}

// One column buffer per parallel group, allocated before the parallel region.
template <class T>
std::vector<typename tensor<T>::storage_type> column_buffers(index_t groups, index_t patch_rows, index_t tile) {
  return std::vector<typename tensor<T>::storage_type>(
      static_cast<std::size_t>(groups), typename tensor<T>::storage_type(static_cast<std::size_t>(patch_rows * tile)));
}

// Calls body(group, n, first, last, buffer) for every tile [first, last) of the output pixels of
// every batch item n, the tiles in parallel, `groups` of them (see tiled_groups) each with its
// own column buffer.
template <class T, class Body>
void for_each_output_tile(const conv_geometry& g, index_t groups, Body&& body) {
  const index_t tile = tile_pixels(g.patch_size(), g.out_pixels());
  const index_t tiles_per_item = ceil_div(g.out_pixels(), tile);
  auto buffers = column_buffers<T>(groups, g.patch_size(), tile);
  for_each_group(g.batch * tiles_per_item, groups, [&](index_t group, index_t first_task, index_t last_task) {
    for (index_t t = first_task; t < last_task; ++t) {
      const index_t n = t / tiles_per_item, first = (t % tiles_per_item) * tile;
      body(group, n, first, std::min(g.out_pixels(), first + tile), buffers[static_cast<std::size_t>(group)].data());
    }
  });
}

// The number of groups for_each_output_tile will use (one tile costs tile x patch x O
// multiply-adds: a small convolution runs on one thread).
inline index_t tiled_groups(const conv_geometry& g) {
  const index_t tile = tile_pixels(g.patch_size(), g.out_pixels());
  return group_count(g.batch * ceil_div(g.out_pixels(), tile), grain_items(tile * g.patch_size() * g.out_channels));
}

}  // namespace detail

// The convolution of the overview: input [N,C,H,W], weight [O,C,KH,KW], bias [O] or empty ->
// [N,O,OH,OW]; shape_error / value_error naming the shapes when they do not fit.
template <class T>
tensor<T> conv2d(const tensor<T>& input, const tensor<T>& weight, const tensor<T>& bias, const conv2d_params& p = {}) {
  using matrix_map = typename tensor<T>::matrix_map;
  using const_matrix_map = typename tensor<T>::const_matrix_map;
  const detail::conv_geometry g(input.shape(), weight.shape(), p);
  detail::check_conv_bias(bias, weight.shape());
  const detail::patch_layout patches = g.patches();
  const const_matrix_map w(weight.data(), g.out_channels, g.patch_size());
  tensor<T> output(g.output_shape(), uninitialized);  // every tile written
  detail::for_each_output_tile<T>(
      g, detail::tiled_groups(g), [&](index_t, index_t n, index_t first, index_t last, T* buffer) {
        detail::im2col_tile(patches, input.data() + n * g.in_channels * g.in_pixels(), first, last, buffer);
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

namespace detail {

// With stride 1 and a square kernel the input gradient is itself a convolution: of dout with the
// kernel flipped in both axes and its two channel axes swapped, padding KH - 1 - padding. It then
// runs at the speed of the forward pass, but its matrix product has only C rows, so it pays only
// for inputs with many channels (not for an RGB image).
inline bool input_gradient_is_convolution(const conv_geometry& g) {
  return g.stride == 1 && g.kernel_height == g.kernel_width && g.padding < g.kernel_height && g.in_channels >= 32;
}

// flipped[c,o,i,j] = weight[o,c,KH-1-i,KW-1-j]
template <class T>
tensor<T> flipped_transposed_kernel(const tensor<T>& weight) {
  const index_t out_channels = weight.dim(0), in_channels = weight.dim(1), kh = weight.dim(2), kw = weight.dim(3);
  tensor<T> flipped({in_channels, out_channels, kh, kw});
  for (index_t o = 0; o < out_channels; ++o)
    for (index_t c = 0; c < in_channels; ++c)
      for (index_t i = 0; i < kh; ++i)
        for (index_t j = 0; j < kw; ++j) flipped.at(c, o, i, j) = weight.at(o, c, kh - 1 - i, kw - 1 - j);
  return flipped;
}

}  // namespace detail

// d in[n,c,h,w] = Σ_{o,i,j} weight[o,c,i,j] * dout[n,o,y,x] over the (y,x) with h = y*stride + i - padding,
// w = x*stride + j - padding. Wide stride-1 layers compute it as a convolution (see
// input_gradient_is_convolution). Otherwise, per tile: columns = weightᵀ dout (C*KH*KW x pixels),
// then col2im adds each column entry onto its input element. Tiles of neighbouring output rows add
// onto shared input rows, so the output rows are cut into bands at least KH rows high: bands two
// apart never share an input row, and the even bands run in parallel, then the odd ones. The
// bands depend on the height alone (up to 2 x reproducible_parts of them), not on the thread
// count, so every input element receives its additions in the same order on any machine.
template <class T>
tensor<T> conv2d_backward_input(const tensor<T>& grad_output, const tensor<T>& weight, const shape& input_shape,
                                const conv2d_params& p = {}) {
  using matrix_map = typename tensor<T>::matrix_map;
  using const_matrix_map = typename tensor<T>::const_matrix_map;
  const detail::conv_geometry g(input_shape, weight.shape(), p);
  detail::check_conv_grad_output(grad_output, g, "conv2d_backward_input");
  if (detail::input_gradient_is_convolution(g))
    return conv2d(grad_output, detail::flipped_transposed_kernel(weight), tensor<T>(),
                  {1, g.kernel_height - 1 - g.padding});
  const detail::patch_layout patches = g.patches();
  const const_matrix_map w(weight.data(), g.out_channels, g.patch_size());
  const index_t band_rows = std::max(g.kernel_height, detail::ceil_div(g.out_height, detail::reproducible_parts));
  const index_t bands = detail::ceil_div(g.out_height, band_rows);
  const index_t tile = detail::tile_pixels(g.patch_size(), band_rows * g.out_width);
  const index_t groups = detail::group_count(g.batch * detail::ceil_div(bands, 2),
                                             grain_items(band_rows * g.out_width * g.patch_size() * g.out_channels));
  auto buffers = detail::column_buffers<T>(groups, g.patch_size(), tile);
  tensor<T> grad_input(input_shape);
  for (index_t parity = 0; parity < 2; ++parity) {
    const index_t bands_of_parity = (bands + 1 - parity) / 2;  // bands parity, parity + 2, ...
    detail::for_each_group(
        g.batch * bands_of_parity, groups, [&](index_t group, index_t first_task, index_t last_task) {
          T* buffer = buffers[static_cast<std::size_t>(group)].data();
          for (index_t t = first_task; t < last_task; ++t) {
            const index_t n = t / bands_of_parity, band = parity + 2 * (t % bands_of_parity);
            const index_t band_end = std::min(g.out_height, (band + 1) * band_rows) * g.out_width;
            const auto dout = const_matrix_map(grad_output.data() + n * g.out_channels * g.out_pixels(), g.out_channels,
                                               g.out_pixels());
            for (index_t first = band * band_rows * g.out_width; first < band_end; first += tile) {
              const index_t last = std::min(band_end, first + tile);
              matrix_map(buffer, g.patch_size(), last - first).noalias() =
                  w.transpose() * dout.middleCols(first, last - first);
              detail::col2im_tile_add(patches, static_cast<const T*>(buffer), first, last,
                                      grad_input.data() + n * g.in_channels * g.in_pixels());
            }
          }
        });
  }
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
  const detail::patch_layout patches = g.patches();
  const index_t groups = detail::tiled_groups(g);
  std::vector<row_matrix> partial(static_cast<std::size_t>(groups), row_matrix::Zero(g.out_channels, g.patch_size()));
  detail::for_each_output_tile<T>(g, groups, [&](index_t group, index_t n, index_t first, index_t last, T* buffer) {
    detail::im2col_tile(patches, input.data() + n * g.in_channels * g.in_pixels(), first, last, buffer);
    const const_matrix_map col(buffer, g.patch_size(), last - first);
    const auto dout =
        const_matrix_map(grad_output.data() + n * g.out_channels * g.out_pixels(), g.out_channels, g.out_pixels())
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
  }, grain_items(batch * pixels));
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
