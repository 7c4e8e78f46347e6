// nst/ops/winograd.hpp — 3x3 stride-1 padding-1 convolutions with Winograd's minimal filtering.
//
// F(m x m, 3x3) computes an m x m block of outputs from an (m+2) x (m+2) block of input with
// (m+2)^2 multiplications per channel pair instead of 9 m^2 (Lavin & Gray, 2015):
//
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        g: 3x3 kernel, d: input tile, Y: output tile
//
// Summed over input channels, the ⊙ becomes, for each of the (m+2)^2 positions ξ, one matrix
// product  M_ξ (O x tiles) = U_ξ (O x C) · V_ξ (C x tiles),  with U = G g Gᵀ transformed once
// (`winograd_weights`) and V = Bᵀ d B transformed per call. F(4x4) (the default) needs 36/144 =
// 1/4 of the multiplications of direct convolution, F(2x2) 16/36. The price is accuracy: the
// transforms of F(4x4) mix values of magnitude up to ~100x the result in float, so its float
// error is about 1e-5 of the largest output (F(2x2): ~1e-6); double stays near 1e-14
// (tests/ops/winograd.test.cpp measures both).
//
//   nst::winograd_weights<float> u(weight);                       // weight [O,C,3,3], once
//   auto y  = nst::winograd_conv3x3(x, u, bias);                   // = conv2d(x, weight, bias, {1, 1})
//   nst::winograd_weights<float> ut = nst::winograd_weights<float>::for_input_gradient(weight);
//   auto dx = nst::winograd_conv3x3(dy, ut);                       // = conv2d_backward_input(dy, weight, ...)
//
// The input gradient of a 3x3/s1/p1 convolution is itself one: of dout with the kernel rotated by
// 180° and its channel axes swapped, which for_input_gradient() transforms instead.
//
// How it runs: the tiles of all batch items are cut into blocks (a few hundred tiles, so the
// block's V and M stay within a few MB); blocks run in parallel, each transforming its input
// tiles, doing the (m+2)^2 products with Eigen's GEMM, and transforming back with the bias (and
// optionally a ReLU) applied while the output tile is in registers.
#pragma once

#include <algorithm>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "detail/im2col.hpp"
#include "detail/partition.hpp"

namespace nst {

namespace detail {

// The transform matrices of F(M x M, 3x3), interpolation points 0, ±1, ±2 and ∞ (Lavin & Gray).
template <int M>
struct winograd_matrices;

template <>
struct winograd_matrices<2> {
  static constexpr int alpha = 4;
  static constexpr double BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static constexpr double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
};

template <>
struct winograd_matrices<4> {
  static constexpr int alpha = 6;
  static constexpr double BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                      {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr double G[6][3] = {{1.0 / 4, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};
  static constexpr double AT[4][6] = {
      {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};

// out = L · in · Rᵀ for small fixed-size matrices (L: R1 x C1, in: C1 x C2, R: R2 x C2); the
// sizes are compile-time constants, so the loops unroll and the zeros of L and R fold away.
template <int R1, int C1, int R2, int C2, class T>
inline void sandwich(const double (&L)[R1][C1], const T (&in)[C1][C2], const double (&R)[R2][C2], T (&out)[R1][R2]) {
  T left[R1][C2];
  for (int i = 0; i < R1; ++i)
    for (int j = 0; j < C2; ++j) {
      T s = T(0);
      for (int k = 0; k < C1; ++k) s += static_cast<T>(L[i][k]) * in[k][j];
      left[i][j] = s;
    }
  for (int i = 0; i < R1; ++i)
    for (int j = 0; j < R2; ++j) {
      T s = T(0);
      for (int k = 0; k < C2; ++k) s += left[i][k] * static_cast<T>(R[j][k]);
      out[i][j] = s;
    }
}

}  // namespace detail

// The kernel of a 3x3 convolution transformed for F(M x M, 3x3): for each of the (M+2)^2
// positions ξ, the O x C matrix U_ξ[o][c] = (G g_oc Gᵀ)[ξ]. Built once, used by every call.
template <class T, int M = 4>
class winograd_weights {
  static_assert(M == 2 || M == 4, "nst::winograd_weights: F(2x2,3x3) and F(4x4,3x3) are provided");

 public:
  using transform = detail::winograd_matrices<M>;
  static constexpr int tile = M;                              // outputs per tile side
  static constexpr int alpha = transform::alpha;              // inputs per tile side
  static constexpr int positions = alpha * alpha;

  winograd_weights() = default;
  // For y = conv2d(x, weight, bias, {1, 1}); weight [O,C,3,3].
  explicit winograd_weights(const tensor<T>& weight) : winograd_weights(weight, false) {}
  // For dx = conv2d_backward_input(dy, weight, x.shape(), {1, 1}): the kernel rotated by 180°
  // with its channel axes swapped, g'[c][o][i][j] = weight[o][c][2-i][2-j].
  static winograd_weights for_input_gradient(const tensor<T>& weight) { return winograd_weights(weight, true); }

  index_t out_channels() const { return out_; }
  index_t in_channels() const { return in_; }
  bool empty() const { return data_.empty(); }
  // U_ξ, row-major O x C.
  const T* position(int xi) const { return data_.data() + static_cast<index_t>(xi) * out_ * in_; }

 private:
  winograd_weights(const tensor<T>& weight, bool rotated) {
    NST_CHECK(weight.rank() == 4 && weight.dim(2) == 3 && weight.dim(3) == 3 && weight.size() > 0, shape_error, 180,
              "winograd_weights: expected a non-empty 3x3 kernel [O,C,3,3], got ", weight.shape());
    const index_t kernel_out = weight.dim(0), kernel_in = weight.dim(1);
    out_ = rotated ? kernel_in : kernel_out;
    in_ = rotated ? kernel_out : kernel_in;
    data_.resize(static_cast<std::size_t>(positions * out_ * in_));
    parallel_for(0, out_, [&](index_t first, index_t last) {
      for (index_t o = first; o < last; ++o)
        for (index_t c = 0; c < in_; ++c) {
          T g[3][3], u[alpha][alpha];
          for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j)
              g[i][j] = rotated ? weight.at(c, o, 2 - i, 2 - j) : weight.at(o, c, i, j);
          detail::sandwich(transform::G, g, transform::G, u);
          for (int xi = 0; xi < positions; ++xi) data_[static_cast<std::size_t>((xi * out_ + o) * in_ + c)] = u[xi / alpha][xi % alpha];
        }
    });
  }

  index_t out_ = 0, in_ = 0;
  typename tensor<T>::storage_type data_;  // positions x O x C
};

namespace detail {

// Tiles per parallel block: V and M of a block hold about 4M values (positions x (C + O) x
// tiles), at least 16 tiles, and there are at least as many blocks as threads.
inline index_t winograd_block_tiles(index_t tiles, index_t positions, index_t in_channels, index_t out_channels) {
  constexpr index_t block_values = index_t(1) << 22, min_tiles = 16;
  const index_t by_memory = std::max(min_tiles, block_values / (positions * (in_channels + out_channels)));
  const index_t per_thread = ceil_div(tiles, static_cast<index_t>(num_threads()));
  return std::max<index_t>(1, std::min(by_memory, per_thread));
}

}  // namespace detail

// y = conv2d(input, weight, bias, {1, 1}) for the weight `u` was built from (for_input_gradient:
// the input gradient, see the overview), then y = max(y, 0) when `relu`. input [N,C,H,W] with
// C = u.in_channels(); bias [O] or empty. Output [N,O,H,W].
template <class T, int M>
tensor<T> winograd_conv3x3(const tensor<T>& input, const winograd_weights<T, M>& u, const tensor<T>& bias = {},
                           bool relu = false) {
  using const_matrix_map = typename tensor<T>::const_matrix_map;
  using matrix_map = typename tensor<T>::matrix_map;
  using transform = typename winograd_weights<T, M>::transform;
  constexpr int alpha = winograd_weights<T, M>::alpha, positions = winograd_weights<T, M>::positions;
  NST_CHECK(!u.empty(), value_error, 300, "winograd_conv3x3: the winograd_weights are empty (default-constructed)");
  NST_CHECK(input.rank() == 4 && input.size() > 0 && input.dim(1) == u.in_channels(), shape_error, 181,
            "winograd_conv3x3: expected a non-empty input [N,", u.in_channels(), ",H,W] for weights [",
            u.out_channels(), ",", u.in_channels(), ",3,3], got ", input.shape());
  NST_CHECK(bias.empty() || (bias.rank() == 1 && bias.dim(0) == u.out_channels()), shape_error, 182,
            "winograd_conv3x3: bias must be [", u.out_channels(), "] or empty, got ", bias.shape());
  const index_t batch = input.dim(0), channels = input.dim(1), height = input.dim(2), width = input.dim(3);
  const index_t outs = u.out_channels();
  const index_t tiles_y = detail::ceil_div(height, M), tiles_x = detail::ceil_div(width, M);
  const index_t tiles_per_item = tiles_y * tiles_x, tiles = batch * tiles_per_item;
  const index_t block = detail::winograd_block_tiles(tiles, positions, channels, outs);
  const index_t blocks = detail::ceil_div(tiles, block);
  const index_t groups = detail::group_count(blocks);
  using buffer = typename tensor<T>::storage_type;
  std::vector<buffer> transformed_in(static_cast<std::size_t>(groups), buffer(static_cast<std::size_t>(positions * channels * block)));
  std::vector<buffer> transformed_out(static_cast<std::size_t>(groups), buffer(static_cast<std::size_t>(positions * outs * block)));
  tensor<T> output({batch, outs, height, width});

  detail::for_each_group(blocks, groups, [&](index_t group, index_t first_block, index_t last_block) {
    T* v = transformed_in[static_cast<std::size_t>(group)].data();
    T* m = transformed_out[static_cast<std::size_t>(group)].data();
    for (index_t b = first_block; b < last_block; ++b) {
      const index_t first_tile = b * block, count = std::min(tiles, first_tile + block) - first_tile;
      // V_ξ[c][t] = (Bᵀ d B)[ξ] for the input tile d of tile t, channel c (zeros outside the image).
      for (index_t t = 0; t < count; ++t) {
        const index_t tile = first_tile + t, n = tile / tiles_per_item;
        const index_t y0 = (tile % tiles_per_item) / tiles_x * M - 1, x0 = (tile % tiles_x) * M - 1;
        for (index_t c = 0; c < channels; ++c) {
          const T* plane = input.data() + (n * channels + c) * height * width;
          T d[alpha][alpha], transformed[alpha][alpha];
          for (int i = 0; i < alpha; ++i)
            for (int j = 0; j < alpha; ++j) {
              const index_t y = y0 + i, x = x0 + j;
              d[i][j] = (y >= 0 && y < height && x >= 0 && x < width) ? plane[y * width + x] : T(0);
            }
          detail::sandwich(transform::BT, d, transform::BT, transformed);
          for (int xi = 0; xi < positions; ++xi) v[(xi * channels + c) * count + t] = transformed[xi / alpha][xi % alpha];
        }
      }
      // M_ξ = U_ξ V_ξ: O x count.
      for (int xi = 0; xi < positions; ++xi)
        matrix_map(m + xi * outs * count, outs, count).noalias() =
            const_matrix_map(u.position(xi), outs, channels) * const_matrix_map(v + xi * channels * count, channels, count);
      // Y = Aᵀ M A (+ bias, ReLU), written where it lies inside the image.
      for (index_t t = 0; t < count; ++t) {
        const index_t tile = first_tile + t, n = tile / tiles_per_item;
        const index_t y0 = (tile % tiles_per_item) / tiles_x * M, x0 = (tile % tiles_x) * M;
        const index_t rows = std::min<index_t>(M, height - y0), cols = std::min<index_t>(M, width - x0);
        for (index_t o = 0; o < outs; ++o) {
          T mt[alpha][alpha], y[M][M];
          for (int xi = 0; xi < positions; ++xi) mt[xi / alpha][xi % alpha] = m[(xi * outs + o) * count + t];
          detail::sandwich(transform::AT, mt, transform::AT, y);
          const T offset = bias.empty() ? T(0) : bias[o];
          T* plane = output.data() + (n * outs + o) * height * width;
          for (index_t i = 0; i < rows; ++i)
            for (index_t j = 0; j < cols; ++j) {
              const T value = y[i][j] + offset;
              plane[(y0 + i) * width + x0 + j] = relu ? std::max(value, T(0)) : value;
            }
        }
      }
    }
  });
  return output;
}

}  // namespace nst
