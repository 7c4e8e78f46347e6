// nst/ops/resize.hpp — image resampling without any image library.
//
// `resize(image, height, width)` resamples [N,C,H,W] tensors with a separable triangle (linear)
// filter. Upsampling is plain bilinear interpolation between pixel centres; downsampling widens
// the filter by the scale factor so every input pixel contributes (antialiasing, as PIL's
// BILINEAR does) instead of skipping pixels. `resize_to_longer_side` keeps the aspect ratio and
// returns an exact copy when the image already has the requested size.
//
//   auto small = nst::resize_to_longer_side(photo, 512);   // [1,3,384,512] from [1,3,768,1024]
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/limits.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"

namespace nst {
namespace detail {

// For each output position along one axis, the input positions it reads and their weights.
struct resample_taps {
  std::vector<index_t> first;      // first input index read by output i
  std::vector<index_t> count;      // how many consecutive inputs output i reads
  std::vector<double> weights;     // count[i] weights per output, packed at offset[i]
  std::vector<index_t> offset;
};

inline resample_taps linear_taps(index_t in_size, index_t out_size) {
  resample_taps taps;
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double support = std::max(1.0, scale);  // filter half-width in input pixels
  for (index_t i = 0; i < out_size; ++i) {
    const double centre = (static_cast<double>(i) + 0.5) * scale - 0.5;
    const index_t lo = std::max<index_t>(0, static_cast<index_t>(std::floor(centre - support)) + 1);
    const index_t hi = std::min<index_t>(in_size - 1, static_cast<index_t>(std::ceil(centre + support)) - 1);
    taps.first.push_back(lo);
    taps.offset.push_back(static_cast<index_t>(taps.weights.size()));
    double total = 0;
    for (index_t j = lo; j <= hi; ++j) {
      const double w = std::max(0.0, 1.0 - std::abs(static_cast<double>(j) - centre) / support);
      taps.weights.push_back(w);
      total += w;
    }
    if (total <= 0) {  // centre exactly between far-away pixels cannot happen, but stay safe
      taps.weights.resize(static_cast<std::size_t>(taps.offset.back()));
      taps.weights.push_back(1.0);
      total = 1.0;
      taps.count.push_back(1);
    } else {
      taps.count.push_back(hi - lo + 1);
    }
    for (index_t k = 0; k < taps.count.back(); ++k) taps.weights[static_cast<std::size_t>(taps.offset.back() + k)] /= total;
  }
  return taps;
}

}  // namespace detail

// [N,C,H,W] -> [N,C,height,width] with the antialiased linear filter of the overview;
// value_error for sizes outside the image limits.
template <class T>
tensor<T> resize(const tensor<T>& image, index_t height, index_t width) {
  expect_rank(image, 4, "resize (image)");
  NST_CHECK(image_size_allowed(height, width), value_error, 205, "resize: cannot resize to ", height, "x", width,
            " (1 to ", max_image_side, " per side, at most ", max_image_pixels, " pixels; see core/limits.hpp)");
  NST_CHECK(image.dim(2) > 0 && image.dim(3) > 0, shape_error, 107, "resize: the image ", image.shape(), " is empty");
  const index_t planes = image.dim(0) * image.dim(1), in_h = image.dim(2), in_w = image.dim(3);
  const auto rows = detail::linear_taps(in_h, height);
  const auto cols = detail::linear_taps(in_w, width);
  tensor<T> out({image.dim(0), image.dim(1), height, width});
  parallel_for(0, planes, [&](index_t first, index_t last) {
    std::vector<double> horizontal(static_cast<std::size_t>(in_h * width));
    for (index_t p = first; p < last; ++p) {
      const T* in = image.data() + p * in_h * in_w;
      for (index_t y = 0; y < in_h; ++y)
        for (index_t x = 0; x < width; ++x) {
          double acc = 0;
          const double* w = cols.weights.data() + cols.offset[static_cast<std::size_t>(x)];
          const T* src = in + y * in_w + cols.first[static_cast<std::size_t>(x)];
          for (index_t k = 0; k < cols.count[static_cast<std::size_t>(x)]; ++k) acc += w[k] * static_cast<double>(src[k]);
          horizontal[static_cast<std::size_t>(y * width + x)] = acc;
        }
      T* dst = out.data() + p * height * width;
      for (index_t y = 0; y < height; ++y) {
        const double* w = rows.weights.data() + rows.offset[static_cast<std::size_t>(y)];
        const index_t y0 = rows.first[static_cast<std::size_t>(y)];
        for (index_t x = 0; x < width; ++x) {
          double acc = 0;
          for (index_t k = 0; k < rows.count[static_cast<std::size_t>(y)]; ++k)
            acc += w[k] * horizontal[static_cast<std::size_t>((y0 + k) * width + x)];
          dst[y * width + x] = static_cast<T>(acc);
        }
      }
    }
  }, grain_items(8 * (in_h * width + height * width)));
  return out;
}

// The height and width that give the longer side `size` with the aspect ratio of [.., h, w].
inline std::pair<index_t, index_t> fit_longer_side(index_t h, index_t w, index_t size) {
  NST_CHECK(size > 0, value_error, 206, "resize: the longer side must be positive, got ", size);
  if (h >= w) return {size, std::max<index_t>(1, static_cast<index_t>(std::lround(static_cast<double>(w) * size / h)))};
  return {std::max<index_t>(1, static_cast<index_t>(std::lround(static_cast<double>(h) * size / w))), size};
}

// Resizes so the longer side is `size`, keeping the aspect ratio (an exact copy when it already is).
template <class T>
tensor<T> resize_to_longer_side(const tensor<T>& image, index_t size) {
  expect_rank(image, 4, "resize_to_longer_side (image)");
  const auto [h, w] = fit_longer_side(image.dim(2), image.dim(3), size);
  if (h == image.dim(2) && w == image.dim(3)) return image;
  return resize(image, h, w);
}

}  // namespace nst
