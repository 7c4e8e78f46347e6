// nst/ops/conv3x3.hpp — the 3x3 "same" convolution of VGG-style networks, algorithm chosen once.
//
// A `conv3x3_same<T>` is one layer y = conv(x, weight) + bias with stride 1 and one pixel of
// padding on every side (zeros, or reflect/replicate: see pad2d.hpp), optionally followed by a
// fused ReLU, and its input gradient (no weight gradients: the weights are frozen). It computes
// with one of two kernels:
//   im2col    conv2d / conv2d_backward_input (conv2d.hpp): exact to float rounding, any shape
//   winograd  F(6x6,3x3) for images of 96 px a side or more, F(4x4,3x3) below (winograd.hpp):
//             0.20 or 0.25 of the multiplications, float error ~1e-5 of the layer's largest
//             output; zero padding only
// `automatic` picks Winograd for zero padding and at least 16 input and output channels (where
// its transforms pay for themselves), im2col otherwise. The tile size is chosen per call from
// the image (winograd_tile): F(6x6)'s larger tiles need fewer products per output but waste more
// on partial tiles at the edges and cost 64/36 as much to transform the kernel; measured on VGG19
// layers (bench/nst_bench --cases layers), it is the faster one from 128 px a side on, F(4x4) at
// 32 and, with the kernel transformed per call, at 64.
//
//   auto u = nst::conv3x3_same<float>::transformed(weight, nst::conv_algorithm::automatic);  // once
//   nst::conv3x3_same<float> layer(weight, bias, nst::padding_mode::zeros, u);
//   auto y  = layer.forward(x, true);                  // relu(conv(x) + bias)
//   auto dx = layer.backward_input(dy, nst::relu_mask(y));   // d/dx of <dy, relu(conv(x) + bias)>
//
// The layer refers to weight and bias (no copies): they must outlive it. The transformed Winograd
// weights are shared (std::shared_ptr), so copies of a layer are cheap. A transient layer
// (conv3x3_same::transient) holds none: it transforms the kernel inside each forward and
// backward call (winograd_conv3x3_transient: a few ms for 512x512 channels, in cache-sized chunks
// for small images) and frees it after, trading that time for 4x the kernel's memory while a
// network's tape waits for its backward pass.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "activation.hpp"
#include "conv2d.hpp"
#include "pad2d.hpp"
#include "relu_mask.hpp"
#include "winograd.hpp"

namespace nst {

// The Winograd transforms of one 3x3 kernel [O,C,3,3], F(4x4) and F(6x6), each made on its first
// use and then kept (thread-safe), so that a layer can compute images of any size with the tile
// size that suits it. Refers to the kernel: it must outlive this object.
template <class T>
class winograd_kernel {
 public:
  explicit winograd_kernel(const tensor<T>& weight) : weight_(&weight) {
    NST_CHECK(weight.rank() == 4 && weight.dim(2) == 3 && weight.dim(3) == 3 && weight.size() > 0, shape_error, 164,
              "winograd_kernel: expected a non-empty 3x3 kernel [O,C,3,3], got ", weight.shape());
  }

  // The kernel transformed for F(M x M, 3x3), M = 4 or 6.
  template <int M>
  const winograd_weights<T, M>& get() const {
    static_assert(M == 4 || M == 6, "nst::winograd_kernel: tiles of 4x4 or 6x6 outputs");
    if constexpr (M == 4) {
      std::call_once(tiles4_once_, [this] { tiles4_ = winograd_weights<T, 4>(*weight_); });
      return tiles4_;
    } else {
      std::call_once(tiles6_once_, [this] { tiles6_ = winograd_weights<T, 6>(*weight_); });
      return tiles6_;
    }
  }
  index_t out_channels() const { return weight_->dim(0); }
  index_t in_channels() const { return weight_->dim(1); }

 private:
  const tensor<T>* weight_;
  mutable std::once_flag tiles4_once_, tiles6_once_;
  mutable winograd_weights<T, 4> tiles4_;
  mutable winograd_weights<T, 6> tiles6_;
};

// The outputs per Winograd tile side for images [N,C,H,W]: 6 (F(6x6,3x3)) when H and W are both
// at least 96, else 4 (see the overview; other ranks get 4, whose functions report the shape).
inline int winograd_tile(const shape& image) { return image.rank() == 4 && image[2] >= 96 && image[3] >= 96 ? 6 : 4; }

// How conv3x3_same computes (see the overview).
enum class conv_algorithm { automatic, im2col, winograd };

// "auto", "im2col" or "winograd", the names parse_conv_algorithm() accepts.
inline const char* to_string(conv_algorithm a) {
  return a == conv_algorithm::automatic ? "auto" : a == conv_algorithm::im2col ? "im2col" : "winograd";
}

// "auto" (also "automatic"), "im2col" or "winograd"; value_error 263 otherwise.
inline conv_algorithm parse_conv_algorithm(const std::string& name) {
  if (name == "auto" || name == "automatic") return conv_algorithm::automatic;
  if (name == "im2col") return conv_algorithm::im2col;
  if (name == "winograd") return conv_algorithm::winograd;
  NST_THROW(value_error, 263, "parse_conv_algorithm: unknown algorithm '", name,
            "' (expected auto, im2col or winograd)");
}

// One 3x3, stride-1, padding-1 convolution layer with its weights prepared once (Winograd
// transforms when the algorithm says so): forward with optional fused ReLU, and the input gradient.
template <class T>
class conv3x3_same {
 public:
  using winograd_type = winograd_kernel<T>;

  // Whether `algorithm` computes a kernel of shape [O,C,3,3] with `padding` by Winograd.
  static bool picks_winograd(const shape& weight, conv_algorithm algorithm, padding_mode padding) {
    if (padding != padding_mode::zeros || algorithm == conv_algorithm::im2col) return false;
    return algorithm == conv_algorithm::winograd || (weight[0] >= 16 && weight[1] >= 16);
  }

  // The Winograd weights `algorithm` needs for `weight` with zero padding (null when it picks
  // im2col): make once, pass to every layer made from this weight (each tile size is transformed
  // on first use). Refers to `weight`, which must outlive it.
  static std::shared_ptr<const winograd_type> transformed(const tensor<T>& weight, conv_algorithm algorithm) {
    if (weight.rank() != 4 || !picks_winograd(weight.shape(), algorithm, padding_mode::zeros)) return nullptr;
    return std::make_shared<const winograd_type>(weight);
  }

  conv3x3_same() = default;
  // weight [O,C,3,3] and bias [O] (or empty), both referenced; `winograd` from transformed()
  // (null: im2col; ignored for reflect/replicate padding). shape_error 162 for another kernel.
  conv3x3_same(const tensor<T>& weight, const tensor<T>& bias, padding_mode padding = padding_mode::zeros,
               std::shared_ptr<const winograd_type> winograd = nullptr)
      : weight_(&weight),
        bias_(&bias),
        padding_(padding),
        winograd_(padding == padding_mode::zeros ? std::move(winograd) : nullptr) {
    NST_CHECK(weight.rank() == 4 && weight.dim(2) == 3 && weight.dim(3) == 3 && weight.size() > 0, shape_error, 162,
              "conv3x3_same: expected a non-empty 3x3 kernel [O,C,3,3], got ", weight.shape());
    NST_CHECK(!winograd_ || (winograd_->out_channels() == weight.dim(0) && winograd_->in_channels() == weight.dim(1)),
              shape_error, 163, "conv3x3_same: Winograd weights [", winograd_->out_channels(), ",",
              winograd_->in_channels(), "] were not built from the kernel ", weight.shape());
  }

  // A layer computing by Winograd (when `algorithm` picks it) with the kernel transformed inside
  // every call instead of kept.
  static conv3x3_same transient(const tensor<T>& weight, const tensor<T>& bias, conv_algorithm algorithm) {
    conv3x3_same layer(weight, bias);
    layer.transient_ = picks_winograd(weight.shape(), algorithm, padding_mode::zeros);
    return layer;
  }

  bool uses_winograd() const { return winograd_ != nullptr || transient_; }
  padding_mode padding() const { return padding_; }

  // conv(x) + bias, then max(., 0) when `relu`: x [N,C,H,W] -> [N,O,H,W] (conv2d's errors). With
  // `mask`, *mask becomes relu_mask of the result (Winograd builds it as it writes the output).
  tensor<T> forward(const tensor<T>& x, bool relu, relu_mask* mask = nullptr) const {
    if (uses_winograd())
      return winograd_tile(x.shape()) == 6 ? winograd_forward<6>(x, relu, mask) : winograd_forward<4>(x, relu, mask);
    tensor<T> y = padding_ == padding_mode::zeros
                      ? conv2d(x, *weight_, *bias_, {1, 1})
                      : conv2d(pad2d(x, 1, padding_), *weight_, *bias_, {1, 0});
    if (relu)
      for (T& v : y) v = v < T(0) ? T(0) : v;  // in place: NaN stays, as relu()
    if (mask != nullptr) *mask = relu_mask(y);
    return y;
  }

  // d x for d y = grad_output, or, with the fused ReLU's `mask` (non-empty, relu_mask of the
  // forward output), for d y = grad_output where the mask is set. grad_output [N,O,H,W].
  tensor<T> backward_input(const tensor<T>& grad_output, const relu_mask& mask = {}) const {
    if (uses_winograd())
      return winograd_tile(grad_output.shape()) == 6 ? winograd_backward_input<6>(grad_output, mask)
                                                     : winograd_backward_input<4>(grad_output, mask);
    tensor<T> masked;
    if (!mask.empty()) masked = relu_backward(grad_output, mask);
    const tensor<T>& dy = mask.empty() ? grad_output : masked;
    NST_CHECK(dy.rank() == 4, shape_error, 116, "conv3x3_same::backward_input: grad_output must be [N,O,H,W], got ",
              dy.shape());
    const shape input{dy.dim(0), weight_->dim(1), dy.dim(2), dy.dim(3)};
    if (padding_ == padding_mode::zeros) return conv2d_backward_input(dy, *weight_, input, {1, 1});
    const shape padded{input[0], input[1], input[2] + 2, input[3] + 2};
    return pad2d_backward(conv2d_backward_input(dy, *weight_, padded, {1, 0}), 1, padding_);
  }

  // grad_input += backward_input(grad_output, mask), grad_input of the input's shape
  // (shape_error 166 otherwise): the Winograd kernels add in place; im2col adds its result on.
  void backward_input_add(const tensor<T>& grad_output, const relu_mask& mask, tensor<T>& grad_input) const {
    if (!uses_winograd()) {
      const tensor<T> dx = backward_input(grad_output, mask);  // grad_output checked there
      detail::check_gradient_sum(grad_output, weight_->dim(1), grad_input, "conv3x3_same::backward_input_add");
      grad_input.vector() += dx.vector();
    } else if (winograd_tile(grad_output.shape()) == 6) {
      winograd_backward_input_add<6>(grad_output, mask, grad_input);
    } else {
      winograd_backward_input_add<4>(grad_output, mask, grad_input);
    }
  }

 private:
  template <int M>
  tensor<T> winograd_forward(const tensor<T>& x, bool relu, relu_mask* mask) const {
    if (transient_) return winograd_conv3x3_transient<T, M>(x, *weight_, *bias_, relu, mask);
    return winograd_conv3x3(x, winograd_->template get<M>(), *bias_, relu, mask);
  }
  template <int M>
  tensor<T> winograd_backward_input(const tensor<T>& grad_output, const relu_mask& mask) const {
    if (transient_) return winograd_conv3x3_backward_input_transient<T, M>(grad_output, *weight_, mask);
    return winograd_conv3x3_backward_input(grad_output, winograd_->template get<M>(), mask);
  }
  template <int M>
  void winograd_backward_input_add(const tensor<T>& grad_output, const relu_mask& mask, tensor<T>& grad_input) const {
    if (transient_) return winograd_conv3x3_backward_input_transient_add<T, M>(grad_output, *weight_, mask, grad_input);
    winograd_conv3x3_backward_input_add(grad_output, winograd_->template get<M>(), mask, grad_input);
  }

  const tensor<T>* weight_ = nullptr;
  const tensor<T>* bias_ = nullptr;
  padding_mode padding_ = padding_mode::zeros;
  std::shared_ptr<const winograd_type> winograd_;
  bool transient_ = false;  // Winograd with the kernel transformed per call
};

}  // namespace nst
