// nst/ops/gram.hpp — Gram matrices of feature maps (the "style" statistics of Gatys et al.).
//
// For each batch item, F is the C x (H*W) matrix of its feature maps and
//
//   G = F Fᵀ / (C*H*W)          [N,C,H,W] -> [N,C,C], symmetric
//
// G[i,j] is how strongly channels i and j fire together, wherever in the image.
//
//   auto g  = nst::gram(features);                  // [1,64,128,128] -> [1,64,64]
//   auto df = nst::gram_backward(dg, features);     // [1,64,128,128]
//
// Both are matrix products over ranges of pixels (columns of F), in parallel: Eigen's symmetric
// rank update for G, detail/panel_gemm.hpp for dF.
#pragma once

#include <algorithm>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "detail/panel_gemm.hpp"
#include "detail/partition.hpp"

namespace nst {
namespace detail {

inline void check_gram_features(const shape& features, const char* function) {
  NST_CHECK(features.rank() == 4, shape_error, 131, function, ": features must be [N,C,H,W], got ", features);
  NST_CHECK(features.numel() > 0, shape_error, 132, function, ": features ", features, " are empty");
}

// How many column ranges (of the pixels) the products of an item are cut into: up to
// reproducible_parts, at least 512 pixels each. A number that depends on the sizes alone, not on
// the thread count (Eigen can round a column differently in a product of another width).
inline index_t gram_parts(index_t pixels) {
  return std::max<index_t>(1, std::min<index_t>(reproducible_parts, pixels / 512));
}

// Calls body(n, part, first_pixel, pixel_count) for the gram_parts ranges of every item, in parallel.
template <class Body>
void for_each_pixel_part(index_t batch, index_t pixels, Body&& body) {
  const index_t parts = gram_parts(pixels);
  parallel_for(0, batch * parts, [&](index_t first, index_t last) {
    for (index_t task = first; task < last; ++task) {
      const index_t n = task / parts, part = task % parts;
      const index_t p0 = pixels * part / parts, p1 = pixels * (part + 1) / parts;
      body(n, part, p0, p1 - p0);
    }
  });
}

}  // namespace detail

// G = F Fᵀ / (C*H*W) per batch item: [N,C,H,W] -> [N,C,C]; shape_error 131/132 unless non-empty rank 4.
// As a sum over ranges of pixels, G = Σ_k F_k F_kᵀ / (C*H*W): each range's product reads its
// columns of F once as both operands (a split by rows of G would pack all of F again for every
// block) and is a symmetric rank update (the lower triangle only: half the multiplications); the
// partial sums are added in a fixed order and mirrored, so G is exactly symmetric.
template <class T>
tensor<T> gram(const tensor<T>& features) {
  using const_matrix_map = typename tensor<T>::const_matrix_map;
  using matrix_map = typename tensor<T>::matrix_map;
  detail::check_gram_features(features.shape(), "gram");
  const index_t batch = features.dim(0), channels = features.dim(1), pixels = features.dim(2) * features.dim(3);
  const index_t parts = detail::gram_parts(pixels), square = channels * channels;
  const T scale = static_cast<T>(1.0 / static_cast<double>(channels * pixels));
  tensor<T> partial({batch * parts, channels, channels});  // lower triangles, from zero
  detail::for_each_pixel_part(batch, pixels, [&](index_t n, index_t part, index_t first, index_t count) {
    const const_matrix_map item(features.data() + n * channels * pixels, channels, pixels);
    matrix_map(partial.data() + (n * parts + part) * square, channels, channels)
        .template selfadjointView<Eigen::Lower>()
        .rankUpdate(item.middleCols(first, count));  // G is symmetric: half the products
  });
  tensor<T> g({batch, channels, channels}, uninitialized);
  parallel_for(
      0, batch * square,
      [&](index_t first, index_t last) {
        for (index_t i = first; i < last; ++i) {
          const index_t n = i / square, row = i % square / channels, col = i % channels;
          const index_t k = std::max(row, col) * channels + std::min(row, col);  // in the lower triangle
          T sum = partial[n * parts * square + k];
          for (index_t part = 1; part < parts; ++part) sum += partial[(n * parts + part) * square + k];
          g[i] = scale * sum;
        }
      },
      grain_items(parts));
  return g;
}

// Columns of F that gram_backward copies at a time (see there).
constexpr index_t gram_backward_chunk = 256;

// d F = (dG + dGᵀ) F / (C*H*W) per batch item (G depends on F twice, once through Fᵀ), by ranges
// of pixel columns.
template <class T>
tensor<T> gram_backward(const tensor<T>& grad_gram, const tensor<T>& features) {
  using const_matrix_map = typename tensor<T>::const_matrix_map;
  using matrix_map = typename tensor<T>::matrix_map;
  detail::check_gram_features(features.shape(), "gram_backward");
  const index_t batch = features.dim(0), channels = features.dim(1), pixels = features.dim(2) * features.dim(3);
  NST_CHECK((grad_gram.shape() == shape{batch, channels, channels}), shape_error, 133, "gram_backward: grad_gram ",
            grad_gram.shape(), " does not match the Gram shape [", batch, ",", channels, ",", channels,
            "] of features ", features.shape());
  const T scale = static_cast<T>(1.0 / static_cast<double>(channels * pixels));
  tensor<T> symmetric(grad_gram.shape(), uninitialized);  // (dG + dGᵀ) / (C*H*W) per item
  for (index_t n = 0; n < batch; ++n) {
    const const_matrix_map dg(grad_gram.data() + n * channels * channels, channels, channels);
    matrix_map(symmetric.data() + n * channels * channels, channels, channels) = scale * (dg + dg.transpose());
  }
  // F's rows lie `pixels` values apart, at 512x384 px 768 KB, 192 KB and 48 KB for relu1_1, relu2_1
  // and relu3_1: multiples of 4 KB, which put every row of a panel of F into the same set of the L1
  // and L2 caches, where they evict each other before the next block of rows of dF reads them
  // again (the product ran at half the speed of panel_gemm's). So each range copies its columns,
  // chunk by chunk, into a buffer of its own with contiguous rows, and multiplies from there.
  const index_t parts = detail::gram_parts(pixels);
  const index_t chunk =
      std::min<index_t>(gram_backward_chunk, pixels / parts / detail::panel_columns<T> * detail::panel_columns<T>);
  tensor<T> copies({batch * parts, channels, std::max<index_t>(chunk, 1)}, uninitialized);
  tensor<T> grad_features(features.shape(), uninitialized);
  detail::for_each_pixel_part(batch, pixels, [&](index_t n, index_t part, index_t first, index_t count) {
    const index_t panels = count / detail::panel_columns<T> * detail::panel_columns<T>;
    const T* s = symmetric.data() + n * channels * channels;
    const T* f = features.data() + n * channels * pixels;
    T* df = grad_features.data() + n * channels * pixels;
    T* copy = copies.data() + (n * parts + part) * channels * chunk;
    for (index_t column = first; column < first + panels; column += chunk) {
      const index_t width = std::min(chunk, first + panels - column);  // a whole number of panels
      for (index_t c = 0; c < channels; ++c) std::copy_n(f + c * pixels + column, width, copy + c * width);
      detail::panel_gemm<false>(s, channels, channels, copy, width, width, df + column, pixels);
    }
    if (panels == count) return;  // the columns left over (fewer than a panel) through Eigen
    matrix_map(df, channels, pixels).middleCols(first + panels, count - panels).noalias() =
        const_matrix_map(s, channels, channels) *
        const_matrix_map(f, channels, pixels).middleCols(first + panels, count - panels);
  });
  return grad_features;
}

}  // namespace nst
