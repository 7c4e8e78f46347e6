// nst/autodiff/ops.hpp — the differentiable ops: nst's tensor ops recorded on a tape.
//
// Each function in nst::ad takes vars, computes its value with the matching op from nst/ops,
// and records a backward step that calls the op's backward function for each input that
// requires a gradient. The derivative of every op is stated in nst/ops beside its backward
// function; here is only the bookkeeping (which input gets which gradient).
//
//   nst::tape<float> tp;
//   auto x = tp.variable(image);                          // [1,3,H,W]
//   auto w = tp.reference(weight), b = tp.reference(bias);  // frozen: no gradient computed
//   auto f = nst::ad::relu(nst::ad::conv2d(x, w, b, {1, 1}));
//   auto loss = nst::ad::mse(nst::ad::gram(f), tp.reference(target_gram));
//   tp.backward(loss);                                    // x.grad() now holds d loss / d x
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "../ops.hpp"
#include "../ops/conv3x3.hpp"
#include "../ops/pad2d.hpp"
#include "../ops/relu_mask.hpp"
#include "tape.hpp"

namespace nst {
namespace ad {

// y = conv2d(x, w) + b. Gradients: conv2d_backward_input / _weight / _bias.
template <class T>
var<T> conv2d(const var<T>& input, const var<T>& weight, const var<T>& bias, const conv2d_params& p = {}) {
  tape<T>& t = input.owner();
  return t.record(nst::conv2d(input.value(), weight.value(), bias.value(), p), {input, weight, bias},
                  [input, weight, bias, p](const tensor<T>& g, tape<T>& tp) {
                    if (input.requires_grad())
                      tp.accumulate(input, conv2d_backward_input(g, weight.value(), input.shape(), p));
                    if (weight.requires_grad())
                      tp.accumulate(weight, conv2d_backward_weight(g, input.value(), weight.shape(), p));
                    if (bias.requires_grad()) tp.accumulate(bias, conv2d_backward_bias(g));
                  });
}

// y = layer(x), with the ReLU fused when `relu`: one node. Gradient: layer.backward_input,
// masked by y > 0 when relu, added in place onto x's gradient when one has arrived already; the mask is kept as bits
// (relu_mask) in the backward step, so y itself is needed by nothing here and may be released (tape::release) once no
// later op or loss reads it. No weight or bias gradient (frozen weights, which must outlive the backward pass).
template <class T>
var<T> conv3x3(const var<T>& x, const conv3x3_same<T>& layer, bool relu) {
  auto built = std::make_shared<relu_mask>();  // empty without the ReLU
  tensor<T> y = layer.forward(x.value(), relu, relu ? built.get() : nullptr);
  std::shared_ptr<const relu_mask> mask = std::move(built);
  return x.owner().record(std::move(y), {x}, [x, layer, mask](const tensor<T>& g, tape<T>& tp) {
    if (tensor<T>* sum = tp.gradient_so_far(x))
      layer.backward_input_add(g, *mask, *sum);  // in place (the Gram loss of x came first)
    else
      tp.accumulate(x, layer.backward_input(g, *mask));
  });
}

// Border padding (pad2d). Gradient: pad2d_backward, each border copy's gradient added to its source.
template <class T>
var<T> pad2d(const var<T>& x, index_t padding, padding_mode mode) {
  return x.owner().record(nst::pad2d(x.value(), padding, mode), {x}, [x, padding, mode](const tensor<T>& g, tape<T>& tp) {
    tp.accumulate(x, pad2d_backward(g, padding, mode));
  });
}

// y = max(x, 0). Gradient passes where the output is positive, i.e. where the input is.
template <class T>
var<T> relu(const var<T>& x) {
  return x.owner().record(nst::relu(x.value()), {x}, [x](const tensor<T>& g, tape<T>& tp) {
    tp.accumulate(x, relu_backward(g, x.value()));
  });
}

// Max pooling. The gradient goes to the element that was the maximum of each window. The
// winners are kept as their place inside the window, one byte each (max_pool2d_windows, windows
// up to 16x16), not as 4-byte plane indices: a quarter of the memory on long tapes.
template <class T>
var<T> max_pool2d(const var<T>& x, const pool2d_params& p = {}) {
  if (p.kernel > 16) {
    auto pooled = nst::max_pool2d(x.value(), p);
    auto argmax = std::make_shared<std::vector<std::int32_t>>(std::move(pooled.argmax));
    return x.owner().record(std::move(pooled.output), {x}, [x, argmax](const tensor<T>& g, tape<T>& tp) {
      tp.accumulate(x, max_pool2d_backward(g, *argmax, x.shape()));
    });
  }
  auto pooled = nst::max_pool2d_windows(x.value(), p);
  auto winner = std::make_shared<std::vector<std::uint8_t>>(std::move(pooled.winner));
  return x.owner().record(std::move(pooled.output), {x}, [x, winner, p](const tensor<T>& g, tape<T>& tp) {
    tp.accumulate(x, max_pool2d_windows_backward(g, *winner, x.shape(), p));
  });
}

// Average pooling. The gradient of each output is shared equally by its window.
template <class T>
var<T> avg_pool2d(const var<T>& x, const pool2d_params& p = {}) {
  return x.owner().record(nst::avg_pool2d(x.value(), p), {x}, [x, p](const tensor<T>& g, tape<T>& tp) {
    tp.accumulate(x, avg_pool2d_backward(g, x.shape(), p));
  });
}

// Gram matrix G = F Fᵀ / (C*H*W) per batch item.
template <class T>
var<T> gram(const var<T>& features) {
  return features.owner().record(nst::gram(features.value()), {features},
                                 [features](const tensor<T>& g, tape<T>& tp) {
                                   tp.accumulate(features, gram_backward(g, features.value()));
                                 });
}

// mean((a - b)^2), a scalar. d/da = 2(a - b)/n, d/db = -2(a - b)/n.
template <class T>
var<T> mse(const var<T>& a, const var<T>& b) {
  tensor<T> value(shape{});
  value[0] = nst::mse(a.value(), b.value());
  return a.owner().record(std::move(value), {a, b}, [a, b](const tensor<T>& g, tape<T>& tp) {
    if (a.requires_grad()) tp.accumulate(a, mse_backward(a.value(), b.value(), g[0]));
    if (b.requires_grad()) tp.accumulate(b, mse_backward(b.value(), a.value(), g[0]));
  });
}

// Total variation Σ (horizontal and vertical squared neighbour differences), a scalar.
template <class T>
var<T> total_variation(const var<T>& x) {
  tensor<T> value(shape{});
  value[0] = nst::total_variation(x.value());
  return x.owner().record(std::move(value), {x}, [x](const tensor<T>& g, tape<T>& tp) {
    tp.accumulate(x, total_variation_backward(x.value(), g[0]));
  });
}

// Σ x, a scalar. d/dx = 1 everywhere.
template <class T>
var<T> sum(const var<T>& x) {
  tensor<T> value(shape{});
  value[0] = nst::sum(x.value());
  return x.owner().record(std::move(value), {x}, [x](const tensor<T>& g, tape<T>& tp) {
    tp.accumulate(x, tensor<T>(x.shape(), g[0]));
  });
}

}  // namespace ad

// The arithmetic operators live in namespace nst, beside var, so that `a + b` finds them.

// a + b (same shapes). The gradient flows unchanged to both.
template <class T>
var<T> operator+(const var<T>& a, const var<T>& b) {
  expect_same_shape(a.value(), b.value(), "ad::operator+");
  tensor<T> value = a.value();
  value.vector() += b.value().vector();
  return a.owner().record(std::move(value), {a, b}, [a, b](const tensor<T>& g, tape<T>& tp) {
    if (a.requires_grad()) tp.accumulate(a, tensor<T>(g));
    if (b.requires_grad()) tp.accumulate(b, tensor<T>(g));
  });
}

// s * x for a constant scalar s. d/dx = s.
template <class T>
var<T> operator*(T s, const var<T>& x) {
  tensor<T> value = x.value();
  value.vector() *= s;
  return x.owner().record(std::move(value), {x}, [x, s](const tensor<T>& g, tape<T>& tp) {
    tensor<T> scaled = g;
    scaled.vector() *= s;
    tp.accumulate(x, std::move(scaled));
  });
}

}  // namespace nst
