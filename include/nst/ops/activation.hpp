// nst/ops/activation.hpp — the ReLU activation and its gradient.
//
//   auto y  = nst::relu(x);                 // max(x, 0) elementwise, any shape (NaN stays NaN)
//   auto dx = nst::relu_backward(dy, y);    // dy where y > 0, else 0
#pragma once

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "detail/partition.hpp"

namespace nst {

// max(x, 0) elementwise, any shape (NaN stays NaN).
template <class T>
tensor<T> relu(const tensor<T>& x) {
  tensor<T> y(x.shape(), uninitialized);
  parallel_for(
      0, x.size(),
      [&](index_t first, index_t last) {
        for (index_t i = first; i < last; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
      },
      detail::elementwise_chunk);
  return y;
}

// d x = dy where the output is positive (the input was), 0 elsewhere, at 0 included (as PyTorch).
// The input x can stand in for the output: x > 0 exactly where relu(x) > 0.
template <class T>
tensor<T> relu_backward(const tensor<T>& grad_output, const tensor<T>& output) {
  NST_CHECK(grad_output.shape() == output.shape(), shape_error, 130, "relu_backward: grad_output ", grad_output.shape(),
            " and output ", output.shape(), " differ in shape");
  tensor<T> grad_input(output.shape(), uninitialized);
  parallel_for(
      0, output.size(),
      [&](index_t first, index_t last) {
        for (index_t i = first; i < last; ++i) grad_input[i] = output[i] > T(0) ? grad_output[i] : T(0);
      },
      detail::elementwise_chunk);
  return grad_input;
}

}  // namespace nst
