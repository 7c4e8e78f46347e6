// nst/ops/reduce.hpp — the scalar reductions the losses are made of, and their gradients.
//
//   T mse(a, b)              mean((a - b)²), shapes must match
//   T total_variation(x)     Σ of squared differences of horizontal and vertical neighbours, [N,C,H,W]
//   T sum(x)                 Σ x (0 for an empty tensor)
//
// Sums run in double whatever T is (a float sum over a 512x512 image would lose digits), in
// parallel chunks added in a fixed order. Each *_backward takes the scalar gradient `grad` of
// the loss with respect to the reduction's value and returns the gradient for the input.
//
//   float loss = nst::mse(features, target);
//   auto dfeatures = nst::mse_backward(features, target, 1.0f);
#pragma once

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "detail/partition.hpp"

namespace nst {
namespace detail {

template <class T>
void check_mse_operands(const tensor<T>& a, const tensor<T>& b, const char* function) {
  NST_CHECK(a.shape() == b.shape(), shape_error, 140, function, ": shapes differ, ", a.shape(), " vs ", b.shape());
  NST_CHECK(!a.empty(), shape_error, 141, function, ": the mean of empty tensors ", a.shape(), " is undefined");
}

template <class T>
void check_total_variation_input(const tensor<T>& x, const char* function) {
  NST_CHECK(x.rank() == 4, shape_error, 142, function, ": x must be [N,C,H,W], got ", x.shape());
  NST_CHECK(!x.empty(), shape_error, 143, function, ": x ", x.shape(), " is empty");
}

}  // namespace detail

// Σ x, summed in double in a fixed order (0 for an empty tensor).
template <class T>
T sum(const tensor<T>& x) {
  return static_cast<T>(detail::parallel_sum(x.size(), [&](index_t first, index_t last) {
    double s = 0;
    for (index_t i = first; i < last; ++i) s += static_cast<double>(x[i]);
    return s;
  }));
}

// mean((a - b)²); shape_error unless the shapes are equal.
template <class T>
T mse(const tensor<T>& a, const tensor<T>& b) {
  detail::check_mse_operands(a, b, "mse");
  const double total = detail::parallel_sum(a.size(), [&](index_t first, index_t last) {
    double s = 0;
    for (index_t i = first; i < last; ++i) {
      const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
      s += d * d;
    }
    return s;
  });
  return static_cast<T>(total / static_cast<double>(a.size()));
}

// d/da mean((a - b)²) = 2 (a - b) / numel, times grad. (d/db is the same with a and b swapped.)
template <class T>
tensor<T> mse_backward(const tensor<T>& a, const tensor<T>& b, T grad) {
  detail::check_mse_operands(a, b, "mse_backward");
  const T factor = static_cast<T>(2.0 * static_cast<double>(grad) / static_cast<double>(a.size()));
  tensor<T> grad_a(a.shape(), uninitialized);
  parallel_for(
      0, a.size(),
      [&](index_t first, index_t last) {
        for (index_t i = first; i < last; ++i) grad_a[i] = factor * (a[i] - b[i]);
      },
      detail::elementwise_chunk);
  return grad_a;
}

// Σ of squared differences between horizontal and vertical neighbours of [N,C,H,W].
template <class T>
T total_variation(const tensor<T>& x) {
  detail::check_total_variation_input(x, "total_variation");
  const index_t height = x.dim(2), width = x.dim(3);
  const double total = detail::parallel_sum(
      x.dim(0) * x.dim(1),
      [&](index_t first, index_t last) {
        double s = 0;
        for (index_t plane = first; plane < last; ++plane) {
          const T* p = x.data() + plane * height * width;
          for (index_t h = 0; h < height; ++h)
            for (index_t w = 0; w < width; ++w) {
              const double v = static_cast<double>(p[h * width + w]);
              if (w + 1 < width) {
                const double right = static_cast<double>(p[h * width + w + 1]) - v;
                s += right * right;
              }
              if (h + 1 < height) {
                const double down = static_cast<double>(p[(h + 1) * width + w]) - v;
                s += down * down;
              }
            }
        }
        return s;
      },
      grain_items(4 * height * width));
  return static_cast<T>(total);
}

// d/dx[h,w] = 2 (x[h,w] - x[h,w-1]) - 2 (x[h,w+1] - x[h,w]) + 2 (x[h,w] - x[h-1,w]) - 2 (x[h+1,w] - x[h,w]),
// each term present only when its neighbour exists, times grad.
template <class T>
tensor<T> total_variation_backward(const tensor<T>& x, T grad) {
  detail::check_total_variation_input(x, "total_variation_backward");
  const index_t height = x.dim(2), width = x.dim(3);
  const T twice_grad = T(2) * grad;
  tensor<T> grad_x(x.shape(), uninitialized);
  parallel_for(0, x.dim(0) * x.dim(1), [&](index_t first, index_t last) {
    for (index_t plane = first; plane < last; ++plane) {
      const T* p = x.data() + plane * height * width;
      T* g = grad_x.data() + plane * height * width;
      for (index_t h = 0; h < height; ++h)
        for (index_t w = 0; w < width; ++w) {
          const T v = p[h * width + w];
          T d = 0;
          if (w > 0) d += v - p[h * width + w - 1];
          if (w + 1 < width) d -= p[h * width + w + 1] - v;
          if (h > 0) d += v - p[(h - 1) * width + w];
          if (h + 1 < height) d -= p[(h + 1) * width + w] - v;
          g[h * width + w] = twice_grad * d;
        }
    }
  }, grain_items(4 * height * width));
  return grad_x;
}

}  // namespace nst
