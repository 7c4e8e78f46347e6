// nst/ops/pool2d.hpp — 2-D max and average pooling and their gradients, as PyTorch computes them.
//
// Square windows of `kernel` pixels moved by `stride`, `padding` on every side, output size
// (H + 2*padding - kernel) / stride + 1 rounded down (PyTorch's floor mode). Padding never wins a
// max (it is -infinity) and counts as zeros in an average (count_include_pad = true, so every
// average divides by kernel*kernel). As in PyTorch, padding may be at most kernel / 2.
//
//   auto pooled = nst::max_pool2d(x, {2, 2});               // [N,C,H/2,W/2] and, per output, the
//   auto dx = nst::max_pool2d_backward(dy, pooled.argmax, x.shape());   // winner's index h*W + w
//   auto compact = nst::max_pool2d_windows(x, {2, 2});      // winners as bytes: their place in
//   auto dx2 = nst::max_pool2d_windows_backward(dy, compact.winner, x.shape(), {2, 2});  // the window
//   auto avg = nst::avg_pool2d(x, {3, 1, 1});               // 3x3 box filter, same size
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"

namespace nst {

// Window size, stride and padding of max/average pooling (the same on both axes).
struct pool2d_params {
  index_t kernel = 2;
  index_t stride = 2;
  index_t padding = 0;
};

// Max pooling's output [N,C,OH,OW] and, per output element, where its maximum was (for backward).
template <class T>
struct max_pool2d_result {
  tensor<T> output;
  std::vector<std::int32_t> argmax;  // per output element: h*W + w of its maximum inside the input plane
};

namespace detail {

inline shape pool2d_output_shape(const shape& input, const pool2d_params& p, const char* function) {
  NST_CHECK(p.kernel >= 1, value_error, 252, function, ": kernel must be at least 1, got ", p.kernel);
  NST_CHECK(p.stride >= 1, value_error, 253, function, ": stride must be at least 1, got ", p.stride);
  NST_CHECK(p.padding >= 0 && 2 * p.padding <= p.kernel, value_error, 254, function, ": padding ", p.padding,
            " must be between 0 and half the kernel (", p.kernel, ")");
  NST_CHECK(input.rank() == 4, shape_error, 120, function, ": input must be [N,C,H,W], got ", input);
  NST_CHECK(input.numel() > 0, shape_error, 121, function, ": input ", input, " is empty");
  const index_t padded_h = input[2] + 2 * p.padding, padded_w = input[3] + 2 * p.padding;
  NST_CHECK(p.kernel <= padded_h && p.kernel <= padded_w, shape_error, 122, function, ": kernel ", p.kernel,
            " is larger than the padded input ", padded_h, "x", padded_w, " (input ", input, ", padding ", p.padding,
            ")");
  return {input[0], input[1], (padded_h - p.kernel) / p.stride + 1, (padded_w - p.kernel) / p.stride + 1};
}

// The rows (or columns) [first, last) of the input that window `i` covers, padding left out.
struct window_span {
  index_t first, last;
};
inline window_span pool_window(index_t i, index_t size, const pool2d_params& p) {
  const index_t start = i * p.stride - p.padding;
  return {std::max<index_t>(start, 0), std::min(start + p.kernel, size)};
}

}  // namespace detail

// The output shape of pooling `input` with `p`; raises shape_error / value_error when they do not fit.
inline shape pool2d_output_shape(const shape& input, const pool2d_params& p) {
  return detail::pool2d_output_shape(input, p, "pool2d");
}

namespace detail {

// Max pooling of [N,C,H,W] into `output`, calling winner(k, h, w, place) with each output's flat
// index k, the input row and column of its maximum and their place in the window, (h - top) *
// kernel + (w - left) (PyTorch's rule: the first strictly larger value wins, a NaN always wins;
// padding never wins).
template <class T, class Winner>
void max_pool2d_into(const tensor<T>& input, const pool2d_params& p, tensor<T>& output, Winner&& winner) {
  const index_t height = input.dim(2), width = input.dim(3), out_h = output.dim(2), out_w = output.dim(3);
  const index_t plane_work = out_h * out_w * p.kernel * p.kernel;
  parallel_for(0, output.dim(0) * output.dim(1), [&](index_t first, index_t last) {
    for (index_t plane = first; plane < last; ++plane) {
      const T* in = input.data() + plane * height * width;
      T* out = output.data() + plane * out_h * out_w;
      for (index_t y = 0; y < out_h; ++y) {
        const window_span rows = pool_window(y, height, p);
        const index_t top = y * p.stride - p.padding;
        if (p.kernel == 2 && p.stride == 2 && p.padding == 0) {  // VGG's pooling: the same rule without branches
          // Up to 256 outputs at a time: first the maxima and their places (a loop that
          // vectorises: 4x faster than with the winner stored inside it), then the winners.
          const T* row = in + top * width;
          for (index_t x0 = 0; x0 < out_w; x0 += 256) {
            const index_t count = std::min<index_t>(256, out_w - x0);
            std::uint8_t places[256];
            for (index_t i = 0; i < count; ++i) {
              const index_t x = x0 + i;
              const T a = row[2 * x], b = row[2 * x + 1], c = row[width + 2 * x], d = row[width + 2 * x + 1];
              const bool b_wins = b > a || b != b;  // larger, or NaN
              T best = b_wins ? b : a;
              std::uint8_t place = b_wins ? 1 : 0;
              const bool c_wins = c > best || c != c;
              best = c_wins ? c : best;
              place = c_wins ? 2 : place;
              const bool d_wins = d > best || d != d;
              out[y * out_w + x] = d_wins ? d : best;
              places[i] = d_wins ? 3 : place;
            }
            // A local copy of `winner` and the first index outside the loop: a byte store may
            // alias anything reached through a reference, which would be reloaded after each.
            auto record = winner;
            const index_t first = plane * out_h * out_w + y * out_w + x0;
            for (index_t i = 0; i < count; ++i) {
              const index_t place = places[i];
              record(first + i, top + place / 2, 2 * (x0 + i) + place % 2, place);
            }
          }
          continue;
        }
        for (index_t x = 0; x < out_w; ++x) {
          const window_span cols = pool_window(x, width, p);
          const index_t left = x * p.stride - p.padding;
          T best = -std::numeric_limits<T>::infinity();
          index_t best_h = rows.first, best_w = cols.first;
          for (index_t h = rows.first; h < rows.last; ++h)
            for (index_t w = cols.first; w < cols.last; ++w) {
              const T v = in[h * width + w];
              if (v > best || std::isnan(v)) {
                best = v;
                best_h = h;
                best_w = w;
              }
            }
          out[y * out_w + x] = best;
          winner(plane * out_h * out_w + y * out_w + x, best_h, best_w, (best_h - top) * p.kernel + best_w - left);
        }
      }
    }
  }, grain_items(plane_work));
}

}  // namespace detail

// Max pooling of [N,C,H,W] (padding never wins); shape_error / value_error for bad sizes.
template <class T>
max_pool2d_result<T> max_pool2d(const tensor<T>& input, const pool2d_params& p = {}) {
  const shape out_shape = detail::pool2d_output_shape(input.shape(), p, "max_pool2d");
  const index_t width = input.dim(3);
  NST_CHECK(input.dim(2) * width <= std::numeric_limits<std::int32_t>::max(), shape_error, 125,
            "max_pool2d: input planes of ", input.dim(2), "x", width, " are too large for 32-bit argmax indices");
  max_pool2d_result<T> result{tensor<T>(out_shape, uninitialized),
                              std::vector<std::int32_t>(static_cast<std::size_t>(out_shape.numel()))};
  detail::max_pool2d_into(input, p, result.output, [&](index_t k, index_t h, index_t w, index_t) {
    result.argmax[static_cast<std::size_t>(k)] = static_cast<std::int32_t>(h * width + w);
  });
  return result;
}

// Max pooling with each maximum kept as its place inside its window, one byte: (h - top) * kernel
// + (w - left) for the window whose top-left (padding included) is (top, left). A quarter of
// argmax's memory, for windows up to 16x16 (value_error 207 for larger kernels): what an autodiff
// tape keeps for the backward pass.
template <class T>
struct max_pool2d_windows_result {
  tensor<T> output;
  std::vector<std::uint8_t> winner;  // per output element, the maximum's place in its window
};

template <class T>
max_pool2d_windows_result<T> max_pool2d_windows(const tensor<T>& input, const pool2d_params& p = {}) {
  const shape out_shape = detail::pool2d_output_shape(input.shape(), p, "max_pool2d_windows");
  NST_CHECK(p.kernel <= 16, value_error, 207, "max_pool2d_windows: kernel ", p.kernel,
            " is larger than 16 (window places are kept as bytes)");
  max_pool2d_windows_result<T> result{tensor<T>(out_shape, uninitialized),
                                      std::vector<std::uint8_t>(static_cast<std::size_t>(out_shape.numel()))};
  // The bytes' address by value: a byte store may alias anything, so through `result` the vector's
  // data pointer would be reloaded after every store (and the loop not vectorised).
  std::uint8_t* winners = result.winner.data();
  detail::max_pool2d_into(input, p, result.output, [winners](index_t k, index_t, index_t, index_t place) {
    winners[k] = static_cast<std::uint8_t>(place);
  });
  return result;
}

// The gradient of max_pool2d_windows: d in at each window's winner += dout (as max_pool2d_backward).
// shape_error 123/124 when grad_output or winner do not pool input_shape with p; value_error 255
// for a winner outside its window or, with padding, on the padding (as an argmax outside the plane).
template <class T>
tensor<T> max_pool2d_windows_backward(const tensor<T>& grad_output, const std::vector<std::uint8_t>& winner,
                                      const shape& input_shape, const pool2d_params& p = {}) {
  const shape out_shape = detail::pool2d_output_shape(input_shape, p, "max_pool2d_windows_backward");
  NST_CHECK(grad_output.shape() == out_shape, shape_error, 123, "max_pool2d_windows_backward: grad_output ",
            grad_output.shape(), " does not match the pooled shape ", out_shape, " of input ", input_shape);
  NST_CHECK(static_cast<index_t>(winner.size()) == grad_output.size(), shape_error, 124,
            "max_pool2d_windows_backward: ", winner.size(), " winners for grad_output ", grad_output.shape());
  const index_t height = input_shape[2], width = input_shape[3], out_h = out_shape[2], out_w = out_shape[3];
  const index_t places = p.kernel * p.kernel;
  for (std::uint8_t place : winner)
    NST_CHECK(place < places, value_error, 255, "max_pool2d_windows_backward: winner place ", int(place),
              " lies outside the ", p.kernel, "x", p.kernel, " window");
  if (p.padding > 0) {  // without padding every window lies inside the input plane
    for (index_t k = 0; k < grad_output.size(); ++k) {
      const index_t place = winner[static_cast<std::size_t>(k)];
      const index_t h = k % (out_h * out_w) / out_w * p.stride - p.padding + place / p.kernel;
      const index_t w = k % out_w * p.stride - p.padding + place % p.kernel;
      NST_CHECK(h >= 0 && h < height && w >= 0 && w < width, value_error, 255, "max_pool2d_windows_backward: the winner of output ",
                k, " lies on the padding, outside the ", height, "x", width, " input plane");
    }
  }
  // A winner's offset from its window's top-left in the plane, by place (no division per element).
  std::vector<index_t> offset(static_cast<std::size_t>(places));
  for (index_t i = 0; i < places; ++i) offset[static_cast<std::size_t>(i)] = i / p.kernel * width + i % p.kernel;
  tensor<T> grad_input(input_shape, uninitialized);  // zeroed plane by plane, in parallel
  parallel_for(0, out_shape[0] * out_shape[1], [&](index_t first, index_t last) {
    for (index_t plane = first; plane < last; ++plane) {
      T* dx = grad_input.data() + plane * height * width;
      std::fill(dx, dx + height * width, T(0));
      const T* dy = grad_output.data() + plane * out_h * out_w;
      const std::uint8_t* place = winner.data() + plane * out_h * out_w;
      for (index_t y = 0; y < out_h; ++y) {
        const index_t top = y * p.stride - p.padding;
        for (index_t x = 0; x < out_w; ++x) {
          const index_t left = x * p.stride - p.padding;
          dx[top * width + left + offset[place[y * out_w + x]]] += dy[y * out_w + x];
        }
      }
    }
  }, grain_items(height * width));
  return grad_input;
}

// d in[n,c,k] = Σ of dout[n,c,y,x] over the outputs whose argmax is k (max is piecewise the identity
// on the winning element; overlapping windows that share a winner add up).
template <class T>
tensor<T> max_pool2d_backward(const tensor<T>& grad_output, const std::vector<std::int32_t>& argmax,
                              const shape& input_shape) {
  NST_CHECK(input_shape.rank() == 4 && input_shape.numel() > 0, shape_error, 120,
            "max_pool2d_backward: input shape must be a non-empty [N,C,H,W], got ", input_shape);
  NST_CHECK(grad_output.rank() == 4 && grad_output.dim(0) == input_shape[0] && grad_output.dim(1) == input_shape[1],
            shape_error, 123, "max_pool2d_backward: grad_output ", grad_output.shape(), " does not pool the input ",
            input_shape, " (N and C must match)");
  NST_CHECK(static_cast<index_t>(argmax.size()) == grad_output.size(), shape_error, 124,
            "max_pool2d_backward: ", argmax.size(), " argmax indices for grad_output ", grad_output.shape(), " (",
            grad_output.size(), " elements)");
  const index_t plane_size = input_shape[2] * input_shape[3];
  for (std::int32_t a : argmax)
    NST_CHECK(a >= 0 && a < plane_size, value_error, 255, "max_pool2d_backward: argmax index ", a, " lies outside the ",
              input_shape[2], "x", input_shape[3], " input plane");
  const index_t out_plane = grad_output.dim(2) * grad_output.dim(3);
  tensor<T> grad_input(input_shape);
  parallel_for(0, input_shape[0] * input_shape[1], [&](index_t first, index_t last) {
    for (index_t plane = first; plane < last; ++plane) {
      T* dx = grad_input.data() + plane * plane_size;
      for (index_t i = plane * out_plane; i < (plane + 1) * out_plane; ++i)
        dx[argmax[static_cast<std::size_t>(i)]] += grad_output[i];
    }
  }, grain_items(plane_size));
  return grad_input;
}

// Average pooling of [N,C,H,W]; each window divides by kernel² (padding counts as zeros).
template <class T>
tensor<T> avg_pool2d(const tensor<T>& input, const pool2d_params& p = {}) {
  const shape out_shape = detail::pool2d_output_shape(input.shape(), p, "avg_pool2d");
  const index_t height = input.dim(2), width = input.dim(3), out_h = out_shape[2], out_w = out_shape[3];
  // Floor mode keeps every window inside the padded input, so each divides by kernel².
  const double inv_area = 1.0 / static_cast<double>(p.kernel * p.kernel);
  tensor<T> output(out_shape, uninitialized);
  parallel_for(0, out_shape[0] * out_shape[1], [&](index_t first, index_t last) {
    for (index_t plane = first; plane < last; ++plane) {
      const T* in = input.data() + plane * height * width;
      T* out = output.data() + plane * out_h * out_w;
      for (index_t y = 0; y < out_h; ++y) {
        const detail::window_span rows = detail::pool_window(y, height, p);
        for (index_t x = 0; x < out_w; ++x) {
          const detail::window_span cols = detail::pool_window(x, width, p);
          double sum = 0;
          for (index_t h = rows.first; h < rows.last; ++h)
            for (index_t w = cols.first; w < cols.last; ++w) sum += static_cast<double>(in[h * width + w]);
          out[y * out_w + x] = static_cast<T>(sum * inv_area);
        }
      }
    }
  }, grain_items(out_h * out_w * p.kernel * p.kernel));
  return output;
}

// d in[n,c,h,w] = Σ over the windows containing (h,w) of dout[n,c,y,x] / kernel².
template <class T>
tensor<T> avg_pool2d_backward(const tensor<T>& grad_output, const shape& input_shape, const pool2d_params& p = {}) {
  const shape out_shape = detail::pool2d_output_shape(input_shape, p, "avg_pool2d_backward");
  NST_CHECK(grad_output.shape() == out_shape, shape_error, 123, "avg_pool2d_backward: grad_output ",
            grad_output.shape(), " does not match the pooled shape ", out_shape, " of input ", input_shape);
  const index_t height = input_shape[2], width = input_shape[3], out_h = out_shape[2], out_w = out_shape[3];
  const T inv_area = static_cast<T>(1.0 / static_cast<double>(p.kernel * p.kernel));
  tensor<T> grad_input(input_shape);
  parallel_for(0, out_shape[0] * out_shape[1], [&](index_t first, index_t last) {
    for (index_t plane = first; plane < last; ++plane) {
      const T* dy = grad_output.data() + plane * out_h * out_w;
      T* dx = grad_input.data() + plane * height * width;
      for (index_t y = 0; y < out_h; ++y) {
        const detail::window_span rows = detail::pool_window(y, height, p);
        for (index_t x = 0; x < out_w; ++x) {
          const detail::window_span cols = detail::pool_window(x, width, p);
          const T share = dy[y * out_w + x] * inv_area;
          for (index_t h = rows.first; h < rows.last; ++h)
            for (index_t w = cols.first; w < cols.last; ++w) dx[h * width + w] += share;
        }
      }
    }
  }, grain_items(out_h * out_w * p.kernel * p.kernel));
  return grad_input;
}

}  // namespace nst
