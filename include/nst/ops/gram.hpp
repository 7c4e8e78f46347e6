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
// Both are matrix products (Eigen GEMM) over blocks of rows of G (or of dF), blocks in parallel.
#pragma once

#include <algorithm>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "detail/partition.hpp"

namespace nst {
namespace detail {

inline void check_gram_features(const shape& features, const char* function) {
  NST_CHECK(features.rank() == 4, shape_error, 131, function, ": features must be [N,C,H,W], got ", features);
  NST_CHECK(features.numel() > 0, shape_error, 132, function, ": features ", features, " are empty");
}

// Calls body(n, first_row, row_count) over blocks of the `rows` rows of each of `batch` items,
// the blocks in parallel (at least 16 rows and parallel_grain of work, each row costing
// `row_work`, in a block; blocks never span two items). The blocks depend on the sizes alone, not
// on the thread count (Eigen rounds a row differently in a block of another height: 1 and 3
// threads gave different bits).
template <class Body>
void for_each_row_block(index_t batch, index_t rows, index_t row_work, Body&& body) {
  const index_t min_rows = std::max<index_t>(16, grain_items(row_work));
  const index_t blocks_per_item = std::max<index_t>(1, std::min<index_t>(detail::reproducible_parts, rows / min_rows));
  parallel_for(0, batch * blocks_per_item, [&](index_t first, index_t last) {
    for (index_t b = first; b < last; ++b) {
      const index_t n = b / blocks_per_item, block = b % blocks_per_item;
      const index_t row0 = rows * block / blocks_per_item, row1 = rows * (block + 1) / blocks_per_item;
      body(n, row0, row1 - row0);
    }
  });
}

}  // namespace detail

// G = F Fᵀ / (C*H*W) per batch item: [N,C,H,W] -> [N,C,C]; shape_error 131/132 unless non-empty rank 4.
template <class T>
tensor<T> gram(const tensor<T>& features) {
  using const_matrix_map = typename tensor<T>::const_matrix_map;
  using matrix_map = typename tensor<T>::matrix_map;
  detail::check_gram_features(features.shape(), "gram");
  const index_t batch = features.dim(0), channels = features.dim(1), pixels = features.dim(2) * features.dim(3);
  const T scale = static_cast<T>(1.0 / static_cast<double>(channels * pixels));
  tensor<T> g({batch, channels, channels}, uninitialized);
  detail::for_each_row_block(batch, channels, channels * pixels, [&](index_t n, index_t row0, index_t rows) {
    const const_matrix_map f(features.data() + n * channels * pixels, channels, pixels);
    matrix_map(g.data() + n * channels * channels, channels, channels).middleRows(row0, rows).noalias() =
        (scale * f.middleRows(row0, rows)) * f.transpose();
  });
  return g;
}

// d F = (dG + dGᵀ) F / (C*H*W) per batch item (G depends on F twice, once through Fᵀ).
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
  tensor<T> grad_features(features.shape(), uninitialized);
  detail::for_each_row_block(batch, channels, channels * pixels, [&](index_t n, index_t row0, index_t rows) {
    const const_matrix_map s(symmetric.data() + n * channels * channels, channels, channels);
    const const_matrix_map f(features.data() + n * channels * pixels, channels, pixels);
    matrix_map(grad_features.data() + n * channels * pixels, channels, pixels).middleRows(row0, rows).noalias() =
        s.middleRows(row0, rows) * f;
  });
  return grad_features;
}

}  // namespace nst
