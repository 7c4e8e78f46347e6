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
// 1/4 of the multiplications of direct convolution, F(6x6) 64/324 = 0.20, F(2x2) 16/36. The
// price is accuracy: the transforms mix values of magnitude up to ~100x the result, so the float
// error is about 1e-5 of the largest output for F(4x4), ~1.6x that for F(6x6) (interpolation
// points 0, ±1, ±2, ±1/2, ∞), ~1e-6 for F(2x2); double stays near 1e-14
// (tests/ops/winograd.test.cpp measures them). Larger tiles also waste more on partial tiles at
// the image's edges: conv3x3.hpp picks the tile size per image.
//
//   nst::winograd_weights<float> u(weight);                       // weight [O,C,3,3], once
//   auto y  = nst::winograd_conv3x3(x, u, bias, true);             // = relu(conv2d(x, weight, bias, {1, 1}))
//   auto dx = nst::winograd_conv3x3_backward_input(dy, u, nst::relu_mask(y));  // = conv2d_backward_input(dy ⊙ [y > 0], ...)
//
// The input gradient is the adjoint of the forward pass and uses the same U, transposed in its
// channel axes inside the transformed domain: dx = Σ B [U_ξᵀ (A dy Aᵀ)_ξ] Bᵀ (no second, rotated
// copy of the kernel).
//
// How it runs: tiles are cut into about an even number of blocks (whose transformed input and
// output stay near 2 MB up to 128 channels; winograd_block_tiles), in scratch memory kept per
// calling thread and reused across calls; blocks run in parallel, each transforming its
// tiles (channel by channel, tiles innermost, so every transformed stream is written
// contiguously), doing the (m+2)^2 products (detail/panel_gemm.hpp, over whole panels of tiles),
// and transforming back with the bias and optionally a ReLU applied while the output tile is in
// registers. The block sizes depend on the shapes only, never on the thread count, so every
// thread count gives the same bits.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "detail/im2col.hpp"
#include "detail/panel_gemm.hpp"
#include "detail/partition.hpp"
#include "relu_mask.hpp"

// Full unrolling of the transform loops, so that the zero test on each constant folds away
// (GCC; other compilers unroll what they judge worth it).
#if defined(__GNUC__) && !defined(__clang__)
#define NST_WINOGRAD_UNROLL _Pragma("GCC unroll 8")
#else
#define NST_WINOGRAD_UNROLL
#endif

namespace nst {

namespace detail {

// The transform matrices of F(M x M, 3x3), interpolation points 0, ±1, ±2 (F(6x6): and ±1/2) and
// ∞ (Lavin & Gray).
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

template <>
struct winograd_matrices<6> {
  static constexpr int alpha = 8;
  static constexpr double BT[8][8] = {{1, 0, -21.0 / 4, 0, 21.0 / 4, 0, -1, 0},
                                      {0, 1, 1, -17.0 / 4, -17.0 / 4, 1, 1, 0},
                                      {0, -1, 1, 17.0 / 4, -17.0 / 4, -1, 1, 0},
                                      {0, 0.5, 0.25, -2.5, -1.25, 2, 1, 0},
                                      {0, -0.5, 0.25, 2.5, -1.25, -2, 1, 0},
                                      {0, 2, 4, -2.5, -5, 0.5, 1, 0},
                                      {0, -2, 4, 2.5, -5, -0.5, 1, 0},
                                      {0, -1, 0, 21.0 / 4, 0, -21.0 / 4, 0, 1}};
  static constexpr double G[8][3] = {{1, 0, 0},
                                     {-2.0 / 9, -2.0 / 9, -2.0 / 9},
                                     {-2.0 / 9, 2.0 / 9, -2.0 / 9},
                                     {1.0 / 90, 1.0 / 45, 2.0 / 45},
                                     {1.0 / 90, -1.0 / 45, 2.0 / 45},
                                     {32.0 / 45, 16.0 / 45, 8.0 / 45},
                                     {32.0 / 45, -16.0 / 45, 8.0 / 45},
                                     {0, 0, 1}};
  static constexpr double AT[6][8] = {{1, 1, 1, 1, 1, 1, 1, 0},       {0, 1, -1, 2, -2, 0.5, -0.5, 0},
                                      {0, 1, 1, 4, 4, 0.25, 0.25, 0},  {0, 1, -1, 8, -8, 0.125, -0.125, 0},
                                      {0, 1, 1, 16, 16, 1.0 / 16, 1.0 / 16, 0},
                                      {0, 1, -1, 32, -32, 1.0 / 32, -1.0 / 32, 1}};
};

// Tiles transformed together: one SIMD register of floats wide, so the transforms below, written
// as loops over lanes innermost, vectorise.
template <class T>
constexpr int winograd_lanes = 64 / static_cast<int>(sizeof(T));

// out = L · in · Rᵀ, or with Transposed out = Lᵀ · in · R (the adjoint, used by the input
// gradient with the same matrices), for `Lanes` independent small matrices at once:
// in[k][m][lane]. Sizes are compile-time constants, so the loops unroll; zero entries of the
// transform matrices are skipped (IEEE rules forbid the compiler to drop `+ 0 * x` itself).
template <bool Transposed, int Lanes, int LR, int LC, int RR, int RC, class T>
inline void sandwich(const double (&L)[LR][LC], const T (&in)[Transposed ? LR : LC][Transposed ? RR : RC][Lanes],
                     const double (&R)[RR][RC], T (&out)[Transposed ? LC : LR][Transposed ? RC : RR][Lanes]) {
  constexpr int rows = Transposed ? LC : LR, inner_rows = Transposed ? LR : LC;
  constexpr int cols = Transposed ? RC : RR, inner_cols = Transposed ? RR : RC;
  T left[rows][inner_cols][Lanes];
  NST_WINOGRAD_UNROLL
  for (int i = 0; i < rows; ++i) {
    NST_WINOGRAD_UNROLL
    for (int j = 0; j < inner_cols; ++j) {
      T s[Lanes] = {};
      NST_WINOGRAD_UNROLL
      for (int k = 0; k < inner_rows; ++k) {
        const double f = Transposed ? L[k][i] : L[i][k];
        if (f != 0)
          for (int l = 0; l < Lanes; ++l) s[l] += static_cast<T>(f) * in[k][j][l];
      }
      for (int l = 0; l < Lanes; ++l) left[i][j][l] = s[l];
    }
  }
  NST_WINOGRAD_UNROLL
  for (int i = 0; i < rows; ++i) {
    NST_WINOGRAD_UNROLL
    for (int j = 0; j < cols; ++j) {
      T s[Lanes] = {};
      NST_WINOGRAD_UNROLL
      for (int k = 0; k < inner_cols; ++k) {
        const double f = Transposed ? R[k][j] : R[j][k];
        if (f != 0)
          for (int l = 0; l < Lanes; ++l) s[l] += left[i][k][l] * static_cast<T>(f);
      }
      for (int l = 0; l < Lanes; ++l) out[i][j][l] = s[l];
    }
  }
}

// The `Lanes` values of each of the (M+2)^2 positions of a transformed tile group, from or to the
// streams s[ξ * stride + l] (l < used; lanes past `used` read as 0). With every lane used (the
// common case) the copies have a fixed length and compile to whole-vector moves, not to a loop
// of `used` iterations (which GCC turned into `rep movs`, a third of the transform's time).
template <int Lanes, int Alpha, class T>
inline void load_positions(const T* s, index_t stride, int used, T (&out)[Alpha][Alpha][Lanes]) {
  for (int xi = 0; xi < Alpha * Alpha; ++xi) {
    const T* src = s + xi * stride;
    T(&dst)[Lanes] = out[xi / Alpha][xi % Alpha];
    if (used == Lanes) {
      for (int l = 0; l < Lanes; ++l) dst[l] = src[l];
    } else {
      for (int l = 0; l < Lanes; ++l) dst[l] = l < used ? src[l] : T(0);
    }
  }
}

template <int Lanes, int Alpha, class T>
inline void store_positions(const T (&in)[Alpha][Alpha][Lanes], int used, index_t stride, T* s) {
  for (int xi = 0; xi < Alpha * Alpha; ++xi) {
    T* dst = s + xi * stride;
    const T(&src)[Lanes] = in[xi / Alpha][xi % Alpha];
    if (used == Lanes) {
      for (int l = 0; l < Lanes; ++l) dst[l] = src[l];
    } else {
      for (int l = 0; l < used; ++l) dst[l] = src[l];
    }
  }
}

}  // namespace detail

// The kernel of a 3x3 convolution transformed for F(M x M, 3x3): for each of the (M+2)^2
// positions ξ, the O x C matrix U_ξ[o][c] = (G g_oc Gᵀ)[ξ]. Built once ((M+2)^2/9 times the
// kernel's memory: 4x for F(4x4), 7.1x for F(6x6)), used by every forward call and, transposed, by every input-gradient call.
template <class T, int M = 4>
class winograd_weights {
  static_assert(M == 2 || M == 4 || M == 6, "nst::winograd_weights: F(2x2,3x3), F(4x4,3x3) and F(6x6,3x3) are provided");

 public:
  using transform = detail::winograd_matrices<M>;
  static constexpr int tile = M;                              // outputs per tile side
  static constexpr int alpha = transform::alpha;              // inputs per tile side
  static constexpr int positions = alpha * alpha;

  winograd_weights() = default;
  // For y = conv2d(x, weight, bias, {1, 1}) and its input gradient; weight [O,C,3,3], any
  // finite values (shape_error 192 otherwise).
  explicit winograd_weights(const tensor<T>& weight) {
    NST_CHECK(weight.rank() == 4 && weight.dim(2) == 3 && weight.dim(3) == 3 && weight.size() > 0, shape_error, 192,
              "winograd_weights: expected a non-empty 3x3 kernel [O,C,3,3], got ", weight.shape());
    out_ = weight.dim(0);
    in_ = weight.dim(1);
    data_.resize(static_cast<std::size_t>(positions * out_ * in_));
    // A register's width of input channels at a time, so the transform vectorises (cheap enough
    // to redo per call: see conv3x3_same's transient mode).
    constexpr int lanes = detail::winograd_lanes<T>;
    parallel_for(
        0, out_,
        [&](index_t first, index_t last) {
          for (index_t o = first; o < last; ++o)
            for (index_t c0 = 0; c0 < in_; c0 += lanes) {
              const int used = static_cast<int>(std::min<index_t>(lanes, in_ - c0));
              const T* kernels = weight.data() + (o * in_ + c0) * 9;  // `used` 3x3 kernels in a row
              T g[3][3][lanes], u[alpha][alpha][lanes];
              for (int l = 0; l < lanes; ++l)
                for (int i = 0; i < 3; ++i)
                  for (int j = 0; j < 3; ++j) g[i][j][l] = l < used ? kernels[l * 9 + i * 3 + j] : T(0);
              detail::sandwich<false, lanes>(transform::G, g, transform::G, u);
              detail::store_positions(u, used, out_ * in_, data_.data() + o * in_ + c0);  // U_ξ[o][c0..]
            }
        },
        grain_items(in_ * 40));
  }

  index_t out_channels() const { return out_; }
  index_t in_channels() const { return in_; }
  bool empty() const { return data_.empty(); }
  // U_ξ, row-major O x C.
  const T* position(int xi) const { return data_.data() + static_cast<index_t>(xi) * out_ * in_; }

 private:
  index_t out_ = 0, in_ = 0;
  typename tensor<T>::storage_type data_;  // positions x O x C
};

namespace detail {

// Scratch buffers that outlive a call, one set per calling thread: a network run reuses them from
// layer to layer and iteration to iteration instead of allocating (and page-faulting) megabytes
// per convolution. Each is reallocated to the size asked for when it is too small or more than
// twice too large, so the 38 MB a 512-channel layer needs are not held while the 64-channel
// layers' large activations and gradients are alive.
template <class T>
typename tensor<T>::storage_type* winograd_scratch(index_t groups, index_t values) {
  thread_local std::vector<typename tensor<T>::storage_type> buffers;
  if (static_cast<index_t>(buffers.size()) < groups) buffers.resize(static_cast<std::size_t>(groups));
  for (index_t g = 0; g < groups; ++g) {
    auto& b = buffers[static_cast<std::size_t>(g)];
    const index_t size = static_cast<index_t>(b.size());
    if (size < values || size > 2 * values) {
      b = typename tensor<T>::storage_type();  // freed first: old and new are never held together
      b.resize(static_cast<std::size_t>(values));
    }
  }
  return buffers.data();
}

// The tiles of an [N,·,H,W] image for F(M x M, 3x3), numbered (n, tile row, tile column) in that
// order; tile t covers the outputs from (y0, x0) and reads the inputs from (y0 - 1, x0 - 1).
template <int M>
struct winograd_tiling {
  index_t batch, height, width, tiles_y, tiles_x;

  winograd_tiling(index_t n, index_t h, index_t w)
      : batch(n), height(h), width(w), tiles_y(ceil_div(h, M)), tiles_x(ceil_div(w, M)) {}
  index_t per_item() const { return tiles_y * tiles_x; }
  index_t count() const { return batch * per_item(); }
  index_t item(index_t t) const { return t / per_item(); }
  index_t y0(index_t t) const { return (t % per_item()) / tiles_x * M; }
  index_t x0(index_t t) const { return (t % tiles_x) * M; }
};

// Up to `Lanes` consecutive tiles, transformed together: where each lies, worked out once and
// used for every channel. Lanes past `used` are padding (zeros in, nothing out).
template <int M, int Lanes>
struct winograd_lane_tiles {
  int used;
  index_t item[Lanes], y0[Lanes], x0[Lanes], rows[Lanes], cols[Lanes];  // outputs inside the image
  bool interior[Lanes];  // the whole (M+2)^2 input window lies inside the image
  // All lanes used, interior, and side by side in one tile row: lane l's window starts M*l
  // values after lane 0's, so loads and stores become strided vector operations.
  bool row_run;

  winograd_lane_tiles(const winograd_tiling<M>& tiling, index_t first, index_t count)
      : used(static_cast<int>(std::min<index_t>(Lanes, count))) {
    for (int l = 0; l < Lanes; ++l) {
      const index_t tile = first + std::min(l, used - 1);
      item[l] = tiling.item(tile);
      y0[l] = tiling.y0(tile);
      x0[l] = tiling.x0(tile);
      rows[l] = std::min<index_t>(M, tiling.height - y0[l]);
      cols[l] = std::min<index_t>(M, tiling.width - x0[l]);
      interior[l] = y0[l] >= 1 && x0[l] >= 1 && y0[l] + M + 1 <= tiling.height && x0[l] + M + 1 <= tiling.width;
    }
    row_run = used == Lanes;
    for (int l = 0; l < Lanes; ++l)
      row_run = row_run && interior[l] && item[l] == item[0] && y0[l] == y0[0] && x0[l] == x0[0] + M * l;
  }
};

// How many tiles from `tile` on (at most `remaining`) to transform together. In images at least
// Lanes + 2 tiles wide, a group never crosses a tile row and the first tile of a row goes alone,
// so that the row's interior tiles form whole row runs (vector loads and stores); in narrower
// ones no row run is possible and groups take `Lanes` consecutive tiles.
template <int Lanes, int M>
index_t lane_group_size(const winograd_tiling<M>& tiling, index_t tile, index_t remaining) {
  if (tiling.tiles_x < Lanes + 2) return std::min<index_t>(Lanes, remaining);
  const index_t x = tile % tiling.tiles_x;
  return x == 0 ? 1 : std::min<index_t>(std::min<index_t>(Lanes, tiling.tiles_x - x), remaining);
}

// Row runs (winograd_lane_tiles::row_run): lane l's column j of a window row lies at
// row[M*l + j]. The loops run over lanes outside and a tile's columns inside, so that GCC sees
// groups of interleaved accesses and vectorises them with permutes (columns outside gave one
// scalar move per value). Columns M.. of a window are the next lane's first ones, done apart.
template <int M, int Lanes, int Cols, class T>
inline void load_row_run(const T* row, T (&out)[Cols][Lanes]) {
  for (int l = 0; l < Lanes; ++l) {
    NST_WINOGRAD_UNROLL
    for (int j = 0; j < M; ++j) out[j][l] = row[M * l + j];
  }
  for (int l = 0; l < Lanes; ++l) {
    NST_WINOGRAD_UNROLL
    for (int j = M; j < Cols; ++j) out[j][l] = row[M * l + j];
  }
}

// row[M*l + j] += in[j][l] for each lane's window columns: first the columns M.. (which overlap
// the next lane's first ones), then columns 0..M-1, so no vector adds a position twice.
template <int M, int Lanes, int Cols, class T>
inline void add_row_run(const T (&in)[Cols][Lanes], T* row) {
  for (int l = 0; l < Lanes; ++l) {
    NST_WINOGRAD_UNROLL
    for (int j = M; j < Cols; ++j) row[M * l + j] += in[j][l];
  }
  for (int l = 0; l < Lanes; ++l) {
    NST_WINOGRAD_UNROLL
    for (int j = 0; j < M; ++j) row[M * l + j] += in[j][l];
  }
}

// Columns count..stride-1 of rows [first_row, last_row) of each position's rows x stride matrix in
// s: zeros, so that the products' last panel computes on finite values (its results there are
// never read).
template <int Positions, class T>
void zero_panel_padding(T* s, index_t first_row, index_t last_row, index_t rows, index_t count, index_t stride) {
  for (int xi = 0; xi < Positions && count < stride; ++xi)
    for (index_t r = first_row; r < last_row; ++r) {
      T* row = s + (xi * rows + r) * stride;
      std::fill(row + count, row + stride, T(0));
    }
}

// Tiles per block: the block's transformed input and output hold about 512K values, 2 MB of
// float (positions x (C + O) x tiles: one core's L2 cache here), and at least a panel's 32 tiles,
// or C·O / (2 (C + O)) when more, so that the products read each U_ξ (C·O values) for at least a
// quarter as many values of v and m (the 512-channel layers, whose U_ξ is 1 MB, get 128 tiles).
// Measured at 512 px (nst_bench, 2 threads): against 2M values and 128 tiles, 2-4% less time per
// iteration and 33 MB less peak memory (430 MB).
inline index_t winograd_block_tiles(index_t positions, index_t in_channels, index_t out_channels) {
  constexpr index_t block_values = index_t(1) << 19;
  const index_t min_tiles = std::max<index_t>(32, in_channels * out_channels / (2 * (in_channels + out_channels)));
  return std::max(min_tiles, block_values / (positions * (in_channels + out_channels)));
}

// v[(ξ*C + c)*stride + t] = (Bᵀ d B)[ξ] for the (M+2)^2 input tile d of tiles first..first+count-1
// (t < count <= stride), channels c in [first_channel, last_channel) of `channels`, zeros outside
// the image. Channel by
// channel, a register's width of tiles at a time: the transform vectorises across tiles and each
// of the (M+2)^2 streams is written contiguously.
template <int M, class T>
void winograd_input_transform(const winograd_tiling<M>& tiling, const T* input, index_t channels,
                              index_t first_channel, index_t last_channel, index_t first, index_t count,
                              index_t stride, T* v) {
  using transform = winograd_matrices<M>;
  constexpr int alpha = transform::alpha, lanes = winograd_lanes<T>;
  const index_t height = tiling.height, width = tiling.width;
  for (index_t t0 = 0; t0 < count; t0 += lanes) {
    const winograd_lane_tiles<M, lanes> at(tiling, first + t0, count - t0);
    for (index_t c = first_channel; c < last_channel; ++c) {
      T d[alpha][alpha][lanes], transformed[alpha][alpha][lanes];
      if (at.row_run) {
        const T* window = input + (at.item[0] * channels + c) * height * width + (at.y0[0] - 1) * width + at.x0[0] - 1;
        for (int i = 0; i < alpha; ++i) load_row_run<M>(window + i * width, d[i]);
      }
      for (int l = 0; l < lanes && !at.row_run; ++l) {
        const T* plane = input + (at.item[l] * channels + c) * height * width;
        const index_t y0 = at.y0[l] - 1, x0 = at.x0[l] - 1;
        if (l < at.used && at.interior[l]) {
          const T* window = plane + y0 * width + x0;
          for (int i = 0; i < alpha; ++i)
            for (int j = 0; j < alpha; ++j) d[i][j][l] = window[i * width + j];
          continue;
        }
        for (int i = 0; i < alpha; ++i)
          for (int j = 0; j < alpha; ++j) {
            const index_t y = y0 + i, x = x0 + j;
            d[i][j][l] = l < at.used && y >= 0 && y < height && x >= 0 && x < width ? plane[y * width + x] : T(0);
          }
      }
      sandwich<false, lanes>(transform::BT, d, transform::BT, transformed);
      store_positions(transformed, at.used, channels * stride, v + c * stride + t0);
    }
  }
  zero_panel_padding<alpha * alpha>(v, first_channel, last_channel, channels, count, stride);
}

// The products of a block for positions ξ in [first_xi, last_xi), over `stride` columns (a
// whole number of panel_gemm's panels): forward m_ξ (O x stride) = U_ξ (O x C) · v_ξ (C x stride);
// Adjoint: the input gradient's z_ξ (C x stride) = U_ξᵀ (C x O) · w_ξ (O x stride).
template <bool Adjoint, class T, int M>
void winograd_products(const winograd_weights<T, M>& u, index_t first_xi, index_t last_xi, index_t stride,
                       const T* from, T* to) {
  const index_t outs = u.out_channels(), ins = u.in_channels();
  const index_t rows = Adjoint ? ins : outs, inner = Adjoint ? outs : ins;
  for (index_t xi = first_xi; xi < last_xi; ++xi)
    panel_gemm<Adjoint>(u.position(static_cast<int>(xi)), rows, inner, from + xi * inner * stride, stride,
                        to + xi * rows * stride);
}

// Y = Aᵀ M A (+ bias, ReLU when `relu`) for output channels [first_out, last_out) of the block of
// tiles first..first+count-1, a register's width of tiles at a time, written where each lies
// inside the image: m[(ξ*O + o)*stride + t] from winograd_products.
template <int M, class T>
void winograd_output_transform(const winograd_tiling<M>& tiling, const T* m, index_t outs, index_t first_out,
                               index_t last_out, index_t first, index_t count, index_t stride,
                               const tensor<T>& bias, bool relu, T* output) {
  using transform = winograd_matrices<M>;
  constexpr int alpha = transform::alpha, lanes = winograd_lanes<T>;
  const index_t height = tiling.height, width = tiling.width;
  for (index_t t0 = 0; t0 < count; t0 += lanes) {
    const winograd_lane_tiles<M, lanes> at(tiling, first + t0, count - t0);
    for (index_t o = first_out; o < last_out; ++o) {
      const T offset = bias.empty() ? T(0) : bias[o];
      T mt[alpha][alpha][lanes], y[M][M][lanes];
      load_positions(m + o * stride + t0, outs * stride, at.used, mt);
      sandwich<false, lanes>(transform::AT, mt, transform::AT, y);
      if (at.row_run) {
        T* origin = output + (at.item[0] * outs + o) * height * width + at.y0[0] * width + at.x0[0];
        for (int i = 0; i < M; ++i)
          for (int l = 0; l < lanes; ++l) {  // lanes outside: see load_row_run
            NST_WINOGRAD_UNROLL
            for (int j = 0; j < M; ++j) {
              const T value = y[i][j][l] + offset;
              origin[i * width + M * l + j] = relu && value < T(0) ? T(0) : value;
            }
          }
        continue;
      }
      for (int l = 0; l < at.used; ++l) {
        T* origin = output + (at.item[l] * outs + o) * height * width + at.y0[l] * width + at.x0[l];
        for (index_t i = 0; i < at.rows[l]; ++i)
          for (index_t j = 0; j < at.cols[l]; ++j) {
            const T value = y[i][j][l] + offset;
            origin[i * width + j] = relu && value < T(0) ? T(0) : value;  // NaN stays, as relu()
          }
      }
    }
  }
}

// The input gradient's first step for output channels [first_out, last_out) of the tiles
// first..first+count-1: w[(ξ*O + o)*stride + t] = (A dy Aᵀ)[ξ], dy = grad_output gated by the
// ReLU's mask when one is given (zeros outside the image).
template <int M, class T>
void winograd_gradient_transform(const winograd_tiling<M>& tiling, const tensor<T>& grad_output,
                                 const relu_mask& mask, index_t first_out, index_t last_out, index_t first,
                                 index_t count, index_t stride, T* w) {
  using transform = winograd_matrices<M>;
  constexpr int alpha = transform::alpha, lanes = winograd_lanes<T>;
  const index_t height = tiling.height, width = tiling.width, outs = grad_output.dim(1);
  const bool gated = !mask.empty();
  for (index_t t0 = 0, size = 0; t0 < count; t0 += size) {
    size = lane_group_size<lanes>(tiling, first + t0, count - t0);
    const winograd_lane_tiles<M, lanes> at(tiling, first + t0, size);
    for (index_t o = first_out; o < last_out; ++o) {
      T dy[M][M][lanes], transformed[alpha][alpha][lanes];
      if (at.row_run) {
        const index_t origin = (at.item[0] * outs + o) * height * width + at.y0[0] * width + at.x0[0];
        for (int i = 0; i < M; ++i) {
          const T* row = grad_output.data() + origin + i * width;
          if (gated) {  // the ReLU's gate first, on the contiguous row, 64 mask bits at a time
            T passed[M * lanes];
            for (int x0 = 0; x0 < M * lanes; x0 += 64) {
              const std::uint64_t gate = mask.bits(origin + i * width + x0);
              for (int x = x0; x < std::min(x0 + 64, M * lanes); ++x)
                passed[x] = (gate >> (x - x0)) & 1u ? row[x] : T(0);
            }
            load_row_run<M>(passed, dy[i]);
          } else {
            load_row_run<M>(row, dy[i]);
          }
        }
      }
      for (int l = 0; l < lanes && !at.row_run; ++l) {
        const index_t origin = (at.item[l] * outs + o) * height * width + at.y0[l] * width + at.x0[l];
        for (index_t i = 0; i < M; ++i)
          for (index_t j = 0; j < M; ++j) {
            const index_t k = origin + i * width + j;
            const bool inside = l < at.used && i < at.rows[l] && j < at.cols[l];
            dy[i][j][l] = !inside || (gated && !mask[k]) ? T(0) : grad_output[k];
          }
      }
      sandwich<true, lanes>(transform::AT, dy, transform::AT, transformed);
      store_positions(transformed, at.used, outs * stride, w + o * stride + t0);
    }
  }
  zero_panel_padding<alpha * alpha>(w, first_out, last_out, outs, count, stride);
}

// The input gradient's last step for input channels [first_channel, last_channel) of the tiles
// first..first+count-1 (whole tile rows, starting at one): dx += B z Bᵀ on each tile's input
// window, z[(ξ*C + c)*stride + t]. With `halo` ([C,2,W] values), window rows 0 and 1 of the first
// tile row go there instead of onto dx (grad_input, [N,C,H,W]).
template <int M, class T>
void winograd_gradient_scatter(const winograd_tiling<M>& tiling, const T* z, index_t channels,
                               index_t first_channel, index_t last_channel, index_t first, index_t count,
                               index_t stride, T* halo, T* grad_input) {
  using transform = winograd_matrices<M>;
  constexpr int alpha = transform::alpha, lanes = winograd_lanes<T>;
  const index_t height = tiling.height, width = tiling.width, tiles_x = tiling.tiles_x;
  for (index_t t0 = 0, size = 0; t0 < count; t0 += size) {
    size = lane_group_size<lanes>(tiling, first + t0, count - t0);
    const winograd_lane_tiles<M, lanes> at(tiling, first + t0, size);
    for (index_t c = first_channel; c < last_channel; ++c) {
      T zt[alpha][alpha][lanes], d[alpha][alpha][lanes];
      load_positions(z + c * stride + t0, channels * stride, at.used, zt);
      sandwich<true, lanes>(transform::BT, zt, transform::BT, d);
      T* halo_rows = halo != nullptr ? halo + c * 2 * width : nullptr;
      // The image row (column 0) that window row i of lane l adds onto: image row y0 - 1 + i, or
      // the halo's row i.
      auto window_row = [&](int l, int i) {
        if (halo_rows != nullptr && i < 2 && t0 + l < tiles_x) return halo_rows + i * width;
        return grad_input + (at.item[l] * channels + c) * height * width + (at.y0[l] - 1 + i) * width;
      };
      if (at.row_run) {  // neighbouring windows overlap: add_row_run keeps them apart
        for (int i = 0; i < alpha; ++i) add_row_run<M>(d[i], window_row(0, i) + at.x0[0] - 1);
        continue;
      }
      // Neighbouring windows overlap: add lane by lane (in order), never as one vector.
      for (int l = 0; l < at.used; ++l) {
        const index_t y0 = at.y0[l] - 1, x0 = at.x0[l] - 1;
        if (at.interior[l]) {
          for (int i = 0; i < alpha; ++i) {
            T* window = window_row(l, i) + x0;
            for (int j = 0; j < alpha; ++j) window[j] += d[i][j][l];
          }
          continue;
        }
        for (int i = 0; i < alpha; ++i) {
          if (y0 + i < 0 || y0 + i >= height) continue;
          T* row = window_row(l, i);
          for (int j = 0; j < alpha; ++j)
            if (x0 + j >= 0 && x0 + j < width) row[x0 + j] += d[i][j][l];
        }
      }
    }
  }
}

}  // namespace detail

// y = conv2d(input, weight, bias, {1, 1}) for the weight `u` was built from, then y = max(y, 0)
// when `relu` (fused: no second pass). input [N,C,H,W] with C = u.in_channels(); bias [O] or
// empty. Output [N,O,H,W]. shape_error 193/194 for other shapes, value_error 300 for empty u.
template <class T, int M>
tensor<T> winograd_conv3x3(const tensor<T>& input, const winograd_weights<T, M>& u, const tensor<T>& bias = {},
                           bool relu = false) {
  constexpr int positions = winograd_weights<T, M>::positions;
  NST_CHECK(!u.empty(), value_error, 300, "winograd_conv3x3: the winograd_weights are empty (default-constructed)");
  NST_CHECK(input.rank() == 4 && input.size() > 0 && input.dim(1) == u.in_channels(), shape_error, 193,
            "winograd_conv3x3: expected a non-empty input [N,", u.in_channels(), ",H,W] for weights [",
            u.out_channels(), ",", u.in_channels(), ",3,3], got ", input.shape());
  NST_CHECK(bias.empty() || (bias.rank() == 1 && bias.dim(0) == u.out_channels()), shape_error, 194,
            "winograd_conv3x3: bias must be [", u.out_channels(), "] or empty, got ", bias.shape());
  const index_t channels = input.dim(1), outs = u.out_channels();
  const detail::winograd_tiling<M> tiling(input.dim(0), input.dim(2), input.dim(3));
  // Blocks of `block` tiles, a whole number of the products' panels (the last block's columns
  // past its tiles are zeros), sized from the shapes only; about an even number of them, so that
  // two threads get the same share.
  index_t blocks = detail::ceil_div(tiling.count(), detail::winograd_block_tiles(positions, channels, outs));
  if (blocks > 1) blocks += blocks % 2;
  const index_t block = detail::round_up(detail::ceil_div(tiling.count(), blocks), detail::panel_columns<T>);
  blocks = detail::ceil_div(tiling.count(), block);
  const index_t v_size = positions * channels * block, m_size = positions * outs * block;
  tensor<T> output({tiling.batch, outs, tiling.height, tiling.width}, uninitialized);  // every tile written
  // Each block's three steps on one thread, the blocks split among the threads (one parallel
  // region: no thread waits for another inside it, which matters on a loaded machine) when
  // there are blocks enough; otherwise one block at a time with each step split (by channel,
  // position, output channel) among the threads. Both compute every value the same way, so the
  // choice never changes a bit.
  const index_t threads = detail::group_count(blocks * positions, grain_items(channels * outs * 2 * block));
  const bool whole_blocks = blocks >= threads;
  const index_t groups = whole_blocks ? threads : 1;
  auto* scratch = detail::winograd_scratch<T>(groups, v_size + m_size);
  auto run_block = [&](index_t b, T* v, T* m, bool split_steps) {
    const index_t first = b * block, count = std::min(block, tiling.count() - first);
    auto steps = [&](index_t n, index_t work_per_item, auto&& step) {
      if (split_steps)
        parallel_for(0, n, step, grain_items(work_per_item));
      else
        step(0, n);
    };
    steps(channels, count * 300, [&](index_t c0, index_t c1) {
      detail::winograd_input_transform(tiling, input.data(), channels, c0, c1, first, count, block, v);
    });
    steps(positions, 2 * channels * outs * block,
          [&](index_t x0, index_t x1) { detail::winograd_products<false>(u, x0, x1, block, v, m); });
    steps(outs, count * 200, [&](index_t o0, index_t o1) {
      detail::winograd_output_transform(tiling, m, outs, o0, o1, first, count, block, bias, relu, output.data());
    });
  };
  if (whole_blocks) {
    detail::for_each_group(blocks, groups, [&](index_t group, index_t first_block, index_t last_block) {
      T* v = scratch[group].data();
      for (index_t b = first_block; b < last_block; ++b) run_block(b, v, v + v_size, false);
    });
  } else {
    for (index_t b = 0; b < blocks; ++b) run_block(b, scratch[0].data(), scratch[0].data() + v_size, true);
  }
  return output;
}

// dx = conv2d_backward_input(dy, weight, x.shape(), {1, 1}) for the weight `u` was built from,
// with dy = grad_output, or, when `mask` (of the ReLU after the convolution) is given,
// dy = grad_output where its bit is set and 0 elsewhere (the ReLU's backward, fused).
// grad_output [N,O,H,W] with O = u.out_channels(); mask empty or of its shape. Returns
// [N,C,H,W]. shape_error 195/196 for other shapes, value_error 300 for empty u.
//
// It is the adjoint of the forward pass, with the same transformed weights U:
//   dx = Σ_tiles B [ U_ξᵀ · (A dy Aᵀ)_ξ ] Bᵀ,
// each (M+2)^2 result added onto the input tile it came from. Input tiles overlap, so the work is
// cut into bands of whole tile rows (an even number, sized from the shapes only), each band's
// first tile row adding its two top window rows (shared with the band above) into a halo of its
// own that is added onto dx once every band is done: the bands then run in parallel, whole, in
// one parallel region. With fewer bands than threads, one band at a time runs with its steps
// split (dy transforms by output channel, products by position ξ, additions by input channel).
template <class T, int M>
tensor<T> winograd_conv3x3_backward_input(const tensor<T>& grad_output, const winograd_weights<T, M>& u,
                                          const relu_mask& mask = {}) {
  constexpr int positions = winograd_weights<T, M>::positions;
  NST_CHECK(!u.empty(), value_error, 300,
            "winograd_conv3x3_backward_input: the winograd_weights are empty (default-constructed)");
  NST_CHECK(grad_output.rank() == 4 && grad_output.size() > 0 && grad_output.dim(1) == u.out_channels(), shape_error,
            195, "winograd_conv3x3_backward_input: expected a non-empty grad_output [N,", u.out_channels(),
            ",H,W] for weights [", u.out_channels(), ",", u.in_channels(), ",3,3], got ", grad_output.shape());
  NST_CHECK(mask.empty() || mask.shape() == grad_output.shape(), shape_error, 196,
            "winograd_conv3x3_backward_input: the ReLU mask ", mask.shape(), " differs from grad_output ",
            grad_output.shape());
  const index_t channels = u.in_channels(), outs = u.out_channels();
  const detail::winograd_tiling<M> tiling(grad_output.dim(0), grad_output.dim(2), grad_output.dim(3));
  const index_t height = tiling.height, width = tiling.width, tiles_x = tiling.tiles_x;
  // Bands of whole tile rows (of all items in turn), about twice the forward's block each, an
  // even number of them; sizes from the shapes only, never from the thread count.
  const index_t rows = tiling.batch * tiling.tiles_y;
  const index_t band_target = 2 * detail::winograd_block_tiles(positions, channels, outs);
  index_t bands = std::min(rows, detail::ceil_div(tiling.count(), band_target));
  if (bands > 1) bands = std::min(rows, bands + bands % 2);
  const index_t band_rows = detail::ceil_div(rows, bands);
  bands = detail::ceil_div(rows, band_rows);
  const index_t band_tiles = band_rows * tiles_x;
  const index_t stride = detail::round_up(band_tiles, detail::panel_columns<T>);  // whole panels
  const index_t w_size = positions * outs * stride, z_size = positions * channels * stride;
  tensor<T> grad_input({tiling.batch, channels, height, width}, uninitialized);  // zeroed by planes, in parallel
  parallel_for(
      0, tiling.batch * channels,
      [&](index_t first, index_t last) {
        std::fill(grad_input.data() + first * height * width, grad_input.data() + last * height * width, T(0));
      },
      grain_items(height * width));
  // A band's first tile row shares its two top window rows with the tile row above, in the band
  // before: the band adds them into its own halo [C,2,W] instead, and the halos are added onto
  // dx after every band is done (in band order), so bands never write the same value.
  tensor<T> halo;
  if (bands > 1) halo = tensor<T>({bands, channels, 2, width});

  // One band: dy transforms by output channel, products by position, additions onto dx by input
  // channel; each step split among the threads when `split_steps`.
  auto run_band = [&](index_t band, T* w, T* z, bool split_steps) {
    const index_t first = band * band_tiles, count = std::min(band_tiles, tiling.count() - first);
    const bool has_halo = (band * band_rows) % tiling.tiles_y != 0;  // not an item's first tile row
    auto steps = [&](index_t n, index_t work_per_item, auto&& step) {
      if (split_steps)
        parallel_for(0, n, step, grain_items(work_per_item));
      else
        step(0, n);
    };
    // w_ξ[o][t] = (A dy Aᵀ)[ξ].
    steps(outs, count * 40, [&](index_t first_out, index_t last_out) {
      detail::winograd_gradient_transform(tiling, grad_output, mask, first_out, last_out, first, count, stride, w);
    });
    // z_ξ (C x stride) = U_ξᵀ (C x O) · w_ξ (O x stride).
    steps(positions, 2 * channels * outs * stride, [&](index_t first_xi, index_t last_xi) {
      detail::winograd_products<true>(u, first_xi, last_xi, stride, w, z);
    });
    // dx += B z Bᵀ on each tile's input window (window rows 0 and 1 of the band's first tile row
    // into the halo when it has one).
    steps(channels, count * 60, [&](index_t first_channel, index_t last_channel) {
      T* band_halo = has_halo ? halo.data() + band * channels * 2 * width : nullptr;
      detail::winograd_gradient_scatter(tiling, z, channels, first_channel, last_channel, first, count, stride,
                                        band_halo, grad_input.data());
    });
  };

  const index_t threads = detail::group_count(bands * positions, grain_items(channels * outs * 2 * band_tiles));
  if (bands >= threads) {
    auto* scratch = detail::winograd_scratch<T>(threads, w_size + z_size);
    detail::for_each_group(bands, threads, [&](index_t group, index_t first_band, index_t last_band) {
      T* w = scratch[group].data();
      for (index_t b = first_band; b < last_band; ++b) run_band(b, w, w + w_size, false);
    });
  } else {
    T* w = detail::winograd_scratch<T>(1, w_size + z_size)[0].data();
    for (index_t b = 0; b < bands; ++b) run_band(b, w, w + w_size, true);
  }
  if (bands > 1)
    parallel_for(
        0, channels,
        [&](index_t first_channel, index_t last_channel) {
          for (index_t b = 1; b < bands; ++b) {
            const index_t row = b * band_rows, ty = row % tiling.tiles_y;
            if (ty == 0) continue;
            for (index_t c = first_channel; c < last_channel; ++c) {
              const T* from = halo.data() + (b * channels + c) * 2 * width;
              T* to = grad_input.data() + ((row / tiling.tiles_y) * channels + c) * height * width +
                      (ty * M - 1) * width;
              for (index_t k = 0; k < 2 * width; ++k) to[k] += from[k];
            }
          }
        },
        grain_items(2 * width * bands));
  return grad_input;
}

}  // namespace nst
