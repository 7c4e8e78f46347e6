// nst/ops/pad2d.hpp — padding the border of images and feature maps, and its gradient.
//
// pad2d(x, p, mode) turns [N,C,H,W] into [N,C,H+2p,W+2p]; the new border holds
//   zeros      0
//   reflect    the mirror image without repeating the edge (PyTorch's ReflectionPad2d):
//              row -1 is row 1, row H is row H-2; needs p < H and p < W
//   replicate  the edge itself (PyTorch's ReplicationPad2d): row -1 is row 0
// A convolution after reflect or replicate padding sees image-like values at the border instead
// of black, which removes the dark frame zero padding leaves in style transfer.
//
//   auto padded = nst::pad2d(x, 1, nst::padding_mode::reflect);           // [1,3,H+2,W+2]
//   auto dx = nst::pad2d_backward(d_padded, 1, nst::padding_mode::reflect);  // [1,3,H,W]
#pragma once

#include <algorithm>
#include <string>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"

namespace nst {

// What the border of a padded image holds (see the overview).
enum class padding_mode { zeros, reflect, replicate };

// "zeros", "reflect" or "replicate", the names parse_padding_mode() and --padding accept.
inline const char* to_string(padding_mode m) {
  return m == padding_mode::zeros ? "zeros" : m == padding_mode::reflect ? "reflect" : "replicate";
}

// "zeros" (also "zero"), "reflect" or "replicate"; value_error 260 otherwise.
inline padding_mode parse_padding_mode(const std::string& name) {
  if (name == "zeros" || name == "zero") return padding_mode::zeros;
  if (name == "reflect") return padding_mode::reflect;
  if (name == "replicate") return padding_mode::replicate;
  NST_THROW(value_error, 260, "parse_padding_mode: unknown padding '", name,
            "' (expected zeros, reflect or replicate)");
}

namespace detail {

// The unpadded position whose value padded position `i` (0 .. size+2p-1) holds, or -1 for zeros.
inline index_t pad_source(index_t i, index_t size, index_t padding, padding_mode mode) {
  const index_t j = i - padding;
  if (j >= 0 && j < size) return j;
  switch (mode) {
    case padding_mode::zeros:
      return -1;
    case padding_mode::reflect:
      return j < 0 ? -j : 2 * (size - 1) - j;
    case padding_mode::replicate:
      break;
  }
  return std::clamp<index_t>(j, 0, size - 1);
}

inline void check_pad2d(const shape& unpadded, index_t padding, padding_mode mode, const char* function) {
  NST_CHECK(unpadded.rank() == 4 && unpadded.numel() > 0, shape_error, 160, function,
            ": expected a non-empty [N,C,H,W], got ", unpadded);
  NST_CHECK(padding >= 0, value_error, 261, function, ": padding must not be negative, got ", padding);
  NST_CHECK(mode != padding_mode::reflect || (padding < unpadded[2] && padding < unpadded[3]), value_error, 262,
            function, ": reflect padding ", padding, " needs an image larger than that on both sides, got ", unpadded);
}

}  // namespace detail

// x [N,C,H,W] -> [N,C,H+2p,W+2p] with the border `mode` fills. shape_error 160 for a non-4-D or
// empty x, value_error 261 for p < 0, 262 for reflect with p >= H or W.
template <class T>
tensor<T> pad2d(const tensor<T>& x, index_t padding, padding_mode mode) {
  detail::check_pad2d(x.shape(), padding, mode, "pad2d");
  const index_t height = x.dim(2), width = x.dim(3);
  const index_t out_h = height + 2 * padding, out_w = width + 2 * padding;
  tensor<T> out({x.dim(0), x.dim(1), out_h, out_w});
  parallel_for(
      0, x.dim(0) * x.dim(1),
      [&](index_t first, index_t last) {
        for (index_t plane = first; plane < last; ++plane) {
          const T* in = x.data() + plane * height * width;
          T* dst = out.data() + plane * out_h * out_w;
          for (index_t y = 0; y < out_h; ++y) {
            const index_t sy = detail::pad_source(y, height, padding, mode);
            for (index_t xx = 0; xx < out_w; ++xx) {
              const index_t sx = detail::pad_source(xx, width, padding, mode);
              dst[y * out_w + xx] = sy < 0 || sx < 0 ? T(0) : in[sy * width + sx];
            }
          }
        }
      },
      grain_items(out_h * out_w));
  return out;
}

// d x[n,c,h,w] = Σ of d padded over every padded position that holds x[n,c,h,w] (itself, and
// for reflect/replicate the border copies of it); zero padding's border gradient is dropped.
// grad_padded [N,C,H+2p,W+2p]; errors as pad2d's for the unpadded shape.
template <class T>
tensor<T> pad2d_backward(const tensor<T>& grad_padded, index_t padding, padding_mode mode) {
  NST_CHECK(grad_padded.rank() == 4 && grad_padded.dim(2) > 2 * padding && grad_padded.dim(3) > 2 * padding,
            shape_error, 161, "pad2d_backward: grad_padded ", grad_padded.shape(), " is not a [N,C,H,W] padded by ",
            padding, " on every side");
  const index_t out_h = grad_padded.dim(2), out_w = grad_padded.dim(3);
  const index_t height = out_h - 2 * padding, width = out_w - 2 * padding;
  detail::check_pad2d({grad_padded.dim(0), grad_padded.dim(1), height, width}, padding, mode, "pad2d_backward");
  tensor<T> grad({grad_padded.dim(0), grad_padded.dim(1), height, width});
  parallel_for(
      0, grad.dim(0) * grad.dim(1),
      [&](index_t first, index_t last) {
        for (index_t plane = first; plane < last; ++plane) {
          const T* src = grad_padded.data() + plane * out_h * out_w;
          T* dx = grad.data() + plane * height * width;
          for (index_t y = 0; y < out_h; ++y) {
            const index_t sy = detail::pad_source(y, height, padding, mode);
            if (sy < 0) continue;
            for (index_t xx = 0; xx < out_w; ++xx) {
              const index_t sx = detail::pad_source(xx, width, padding, mode);
              if (sx >= 0) dx[sy * width + sx] += src[y * out_w + xx];
            }
          }
        }
      },
      grain_items(out_h * out_w));
  return grad;
}

}  // namespace nst
