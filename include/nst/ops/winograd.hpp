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
// tiles (channel by channel, a SIMD register's width of tiles of one tile row at a time, so
// every transformed stream is written contiguously; pairs of rows or columns of the transform
// matrices computed together: transform_line), doing the (m+2)^2 products
// (detail/panel_gemm.hpp, over whole panels of tiles), and transforming back with the bias and
// optionally a ReLU applied while the output tile is in registers. The block sizes depend on the
// shapes only, never on the thread count, so every thread count gives the same bits.
// winograd_conv3x3_transient transforms the kernel inside the call, in chunks when it can.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "detail/im2col.hpp"
#include "detail/lane_runs.hpp"
#include "detail/panel_gemm.hpp"
#include "detail/partition.hpp"
#include "relu_mask.hpp"

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

// One line of a transform, out = X·in (or Xᵀ·in when Transposed), planned at compile time. The
// rows (or columns) of the Winograd matrices for the points +p and -p differ only in the sign of
// every other entry, and each such pair is computed at about the cost of one:
//  - pairs of rows (Bᵀ, G, and A = (Aᵀ)ᵀ): X[b][k] = (-1)^k X[a][k], so with E the sum over the
//    even k and O over the odd k, out[a] = E + O and out[b] = E - O;
//  - pairs of columns (Aᵀ and B = (Bᵀ)ᵀ): X[i][b] = (-1)^i X[i][a], so with s = in[a] + in[b] and
//    d = in[a] - in[b] formed once, row i takes X[i][a]·s when i is even and X[i][a]·d when odd.
// F(6x6)'s input transform then takes 28 operations a line instead of 44, its output transform
// 20 instead of 40.
template <int Rows, int Cols>
struct line_plan {
  double X[Rows][Cols];      // the matrix applied (Xᵀ when Transposed)
  int row_partner[Rows];     // b -> a for a pair of rows (a < b), -1 for the others
  int column_partner[Cols];  // b -> a for a pair of columns, -1 for the others
  bool paired_columns;       // pairs of columns were found (then rows are not paired)
};

template <bool Transposed, int R, int C>
constexpr line_plan<Transposed ? C : R, Transposed ? R : C> make_line_plan(const double (&matrix)[R][C]) {
  constexpr int rows = Transposed ? C : R, cols = Transposed ? R : C;
  line_plan<rows, cols> plan{};
  for (int i = 0; i < rows; ++i)
    for (int k = 0; k < cols; ++k) plan.X[i][k] = Transposed ? matrix[k][i] : matrix[i][k];
  auto sign = [](int n) { return n % 2 == 0 ? 1.0 : -1.0; };
  for (int b = 0; b < cols; ++b) {
    plan.column_partner[b] = -1;
    for (int a = 0; a < b && plan.column_partner[b] < 0; ++a) {
      bool pair = plan.column_partner[a] < 0, nonzero = false;
      for (int i = 0; i < rows; ++i) {
        pair = pair && plan.X[i][b] == sign(i) * plan.X[i][a];
        nonzero = nonzero || plan.X[i][a] != 0;
      }
      for (int other = a + 1; other < b; ++other) pair = pair && plan.column_partner[other] != a;
      if (pair && nonzero) {
        plan.column_partner[b] = a;
        plan.paired_columns = true;
      }
    }
  }
  for (int b = 0; b < rows; ++b) {
    plan.row_partner[b] = -1;
    for (int a = 0; a < b && plan.row_partner[b] < 0 && !plan.paired_columns; ++a) {
      bool pair = plan.row_partner[a] < 0, nonzero = false;
      for (int k = 0; k < cols; ++k) {
        pair = pair && plan.X[b][k] == sign(k) * plan.X[a][k];
        nonzero = nonzero || plan.X[a][k] != 0;
      }
      for (int other = a + 1; other < b; ++other) pair = pair && plan.row_partner[other] != a;
      if (pair && nonzero) plan.row_partner[b] = a;
    }
  }
  return plan;
}

// A sum of coefficient x packet terms, started by its first term (no addition of a zero, which
// IEEE rules would not let the compiler drop), with no multiplication for coefficients ±1.
template <class T>
struct packet_sum {
  using packet = typename panel_gemm_traits<T>::packet;
  packet value;
  bool started = false;

  void add(double f, const packet& x) {
    using namespace Eigen::internal;
    if (!started) {
      value = f == 1 ? x : f == -1 ? pnegate(x) : pmul(pset1<packet>(static_cast<T>(f)), x);
    } else {
      value = f == 1 ? padd(value, x) : f == -1 ? psub(value, x) : pmadd(pset1<packet>(static_cast<T>(f)), x, value);
    }
    started = true;
  }
};

// out[i * out_step] = Σ_k X[i][k] in[k * in_step] (X from make_line_plan) for one packet of lanes.
// The loops have compile-time bounds and the coefficients are constants, so once unrolled every
// test on them folds away.
template <bool Transposed, const auto& Matrix, class T>
inline void transform_line(const T* in, index_t in_step, T* out, index_t out_step) {
  using namespace Eigen::internal;
  using packet = typename packet_sum<T>::packet;
  static constexpr auto plan = make_line_plan<Transposed>(Matrix);
  constexpr int rows = sizeof(plan.row_partner) / sizeof(int), cols = sizeof(plan.column_partner) / sizeof(int);
  packet x[cols];
  NST_WINOGRAD_UNROLL
  for (int k = 0; k < cols; ++k) x[k] = ploadu<packet>(in + k * in_step);
  // Pairs of columns: x[a] becomes the sum s, x[b] the difference d.
  NST_WINOGRAD_UNROLL
  for (int b = 0; b < cols; ++b) {
    const int a = plan.column_partner[b];
    if (a < 0) continue;
    const packet s = padd(x[a], x[b]);
    x[b] = psub(x[a], x[b]);
    x[a] = s;
  }
  NST_WINOGRAD_UNROLL
  for (int i = 0; i < rows; ++i) {
    if (plan.row_partner[i] >= 0) continue;  // written with its partner
    int partner = -1;
    for (int b = i + 1; b < rows; ++b)
      if (plan.row_partner[b] == i) partner = b;
    packet_sum<T> even, odd;                // terms of even and odd k (one sum when the row has no partner)
    for (int pass = 0; pass < 2; ++pass) {  // the terms with coefficient ±1 first, then the others
      NST_WINOGRAD_UNROLL
      for (int k = 0; k < cols; ++k) {
        const double f = plan.X[i][k];
        const bool unit = f == 1 || f == -1;
        if (f == 0 || plan.column_partner[k] >= 0 || unit != (pass == 0)) continue;
        bool has_partner = false;  // k is the a of a pair of columns: x[a] holds s, x[b] d
        int difference = k;
        for (int b = k + 1; b < cols; ++b)
          if (plan.column_partner[b] == k) has_partner = true, difference = b;
        const packet& term = has_partner && i % 2 == 1 ? x[difference] : x[k];
        (partner >= 0 && k % 2 == 1 ? odd : even).add(f, term);
      }
    }
    packet sum = even.started ? even.value : pset1<packet>(T(0));
    if (odd.started) sum = even.started ? padd(even.value, odd.value) : odd.value;
    pstoreu(out + i * out_step, sum);
    if (partner < 0) continue;
    packet difference = even.started ? even.value : pset1<packet>(T(0));
    if (odd.started) difference = even.started ? psub(even.value, odd.value) : pnegate(odd.value);
    pstoreu(out + partner * out_step, difference);
  }
}

// out = X · in · Xᵀ, or with Transposed out = Xᵀ · in · X (the adjoint, used by the input
// gradient with the same matrices), for `Lanes` independent small matrices at once:
// in[k][m][lane]. The columns of `in` first, then the rows of the result, one line at a time
// (transform_line), a packet of lanes at a time.
template <bool Transposed, const auto& Matrix, int Lanes, int In, int Out, class T>
inline void sandwich(const T (&in)[In][In][Lanes], T (&out)[Out][Out][Lanes]) {
  constexpr int width = panel_gemm_traits<T>::width;
  static_assert(Lanes % width == 0, "nst::detail::sandwich: the lanes must be a whole number of packets");
  alignas(64) T left[Out][In][Lanes];
  NST_WINOGRAD_UNROLL
  for (int j = 0; j < In; ++j)
    for (int p = 0; p < Lanes; p += width)
      transform_line<Transposed, Matrix>(&in[0][j][p], In * Lanes, &left[0][j][p], In * Lanes);
  NST_WINOGRAD_UNROLL
  for (int i = 0; i < Out; ++i)
    for (int p = 0; p < Lanes; p += width)
      transform_line<Transposed, Matrix>(&left[i][0][p], Lanes, &out[i][0][p], Lanes);
}

// Asks the cache for the lines of values p .. p+count-1, to be read or (ForWrite) written soon: a
// hint, which never faults, so p may lie past the data (the tile group after a block's last one).
// The transforms visit a block's tile groups channel by channel, each group reading or writing one
// cache line of every (M+2)^2 stream (load_positions, store_positions: the next group's lines are
// the next ones) and runs of M·16 values of M or M+2 image rows (the next channel's runs lie a
// plane further on). The hardware prefetchers do not follow so many streams, and a store that
// misses the L1 cache holds up the stores behind it. One core, F(6x6), 64 channels at 512 px, the
// input transform of the whole image 21.8 -> 16.2 ms with the streams' hints and 15.3 with the
// rows' too (13.1 -> 8.6 ms for one block already in L2), the output transform 19.0 -> 14.6 ms.
template <bool ForWrite, class T>
inline void prefetch_values(const T* p, index_t count) {
  constexpr index_t line = 64 / static_cast<index_t>(sizeof(T));
  for (index_t k = 0; k < count; k += line) {
#if defined(__GNUC__)
    __builtin_prefetch(p + k, ForWrite ? 1 : 0, 3);
#else
    Eigen::internal::prefetch(p + k);
#endif
  }
}

// The `Lanes` values of each of the (M+2)^2 positions of a transformed tile group, from or to the
// streams s[ξ * stride + l] (l < used; lanes past `used` read as 0). With every lane used (the
// common case) each copy is whole packets: written as a loop over the lanes, GCC compiled it to
// `rep movs` (a third of the data transforms' time) or, in the kernel transform, to one scalar
// load and insert per lane (half of that transform's time).
template <int Lanes, int Alpha, class T>
inline void load_positions(const T* s, index_t stride, int used, T (&out)[Alpha][Alpha][Lanes]) {
  using packet = typename panel_gemm_traits<T>::packet;
  constexpr int width = panel_gemm_traits<T>::width;
  for (int i = 0; i < Alpha; ++i) {
    NST_WINOGRAD_UNROLL
    for (int j = 0; j < Alpha; ++j) {
      const T* src = s + (i * Alpha + j) * stride;
      prefetch_values<false>(src + Lanes, Lanes);
      if (used == Lanes) {
        for (int p = 0; p < Lanes; p += width)
          Eigen::internal::pstoreu(out[i][j] + p, Eigen::internal::ploadu<packet>(src + p));
      } else {
        load_used_lanes(src, used, out[i][j]);
      }
    }
  }
}

template <int Lanes, int Alpha, class T>
inline void store_positions(const T (&in)[Alpha][Alpha][Lanes], int used, index_t stride, T* s) {
  using packet = typename panel_gemm_traits<T>::packet;
  constexpr int width = panel_gemm_traits<T>::width;
  for (int i = 0; i < Alpha; ++i) {
    NST_WINOGRAD_UNROLL
    for (int j = 0; j < Alpha; ++j) {
      T* dst = s + (i * Alpha + j) * stride;
      prefetch_values<true>(dst + Lanes, Lanes);  // the next tile group's place in this stream
      if (used == Lanes) {
        for (int p = 0; p < Lanes; p += width)
          Eigen::internal::pstoreu(dst + p, Eigen::internal::ploadu<packet>(in[i][j] + p));
      } else {
        store_used_lanes(in[i][j], used, dst);
      }
    }
  }
}

// Position ξ's rows x stride matrix in a block's scratch starts at ξ * position_stride(rows,
// stride): four cache lines past the end of the matrix before it. Without them rows x stride
// (channels times a multiple of 32 tiles) is a multiple of 4 KB for every VGG layer, and the
// (M+2)^2 values a transform writes or reads for one tile group all map to the same L1 cache
// set. Measured on one core (64 channels, 512 px, F(6x6)): the dy transform 670 -> 540 ns per
// channel and tile group, the input transform 1030 -> 930, the output transform 710 -> 670.
template <class T>
constexpr index_t position_stride(index_t rows, index_t stride) {
  return rows * stride + 256 / static_cast<index_t>(sizeof(T));
}

// g[i][j][l] = kernels[9 l + 3 i + j] for the Lanes 3x3 kernels in a row from `kernels`, as one
// transpose of Lanes rows of a register's width (Eigen's ptranspose: a few dozen shuffles instead
// of 144 single loads), where a register holds a lane per kernel and 9 values or more (AVX-512
// floats), every lane is used and the last row's register ends inside the weights (`end`).
// Returns false, leaving g alone, where it does not apply.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // PacketBlock<__m512, 16>: as in Eigen's own code
#endif
template <class T, int Lanes>
bool load_kernels(const T* kernels, int used, const T* end, T (&g)[3][3][Lanes]) {
  using packet = typename panel_gemm_traits<T>::packet;
  constexpr int width = panel_gemm_traits<T>::width;
  if constexpr (width == Lanes && width >= 9) {
    if (used < Lanes || kernels + 9 * (Lanes - 1) + width > end) return false;
    Eigen::internal::PacketBlock<packet, width> rows;
    for (int l = 0; l < Lanes; ++l) rows.packet[l] = Eigen::internal::ploadu<packet>(kernels + 9 * l);
    Eigen::internal::ptranspose(rows);
    for (int k = 0; k < 9; ++k) Eigen::internal::pstoreu(g[k / 3][k % 3], rows.packet[k]);
    return true;
  }
  return false;
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

// shape_error 192 unless weight is a non-empty 3x3 kernel [O,C,3,3].
template <class T>
void check_winograd_kernel(const tensor<T>& weight, const char* function) {
  NST_CHECK(weight.rank() == 4 && weight.dim(2) == 3 && weight.dim(3) == 3 && weight.size() > 0, shape_error, 192,
            function, ": expected a non-empty 3x3 kernel [O,C,3,3], got ", weight.shape());
}

}  // namespace detail

// The kernel of a 3x3 convolution transformed for F(M x M, 3x3): for each of the (M+2)^2
// positions ξ, the O x C matrix U_ξ[o][c] = (G g_oc Gᵀ)[ξ]. Built once ((M+2)^2/9 times the
// kernel's memory: 4x for F(4x4), 7.1x for F(6x6)), used by every forward call and, transposed,
// by every input-gradient call.
template <class T, int M = 4>
class winograd_weights {
  static_assert(M == 2 || M == 4 || M == 6,
                "nst::winograd_weights: F(2x2,3x3), F(4x4,3x3) and F(6x6,3x3) are provided");

 public:
  using transform = detail::winograd_matrices<M>;
  static constexpr int tile = M;                  // outputs per tile side
  static constexpr int alpha = transform::alpha;  // inputs per tile side
  static constexpr int positions = alpha * alpha;

  winograd_weights() = default;
  // For y = conv2d(x, weight, bias, {1, 1}) and its input gradient; weight [O,C,3,3], any
  // finite values (shape_error 192 otherwise).
  explicit winograd_weights(const tensor<T>& weight) {
    detail::check_winograd_kernel(weight, "winograd_weights");
    transform_kernel(weight, 0, weight.dim(0), 0, weight.dim(1));
  }
  // Output channels [first_out, last_out) and input channels [first_in, last_in) of the whole
  // kernel's U_ξ, bit for bit (what a transient layer transforms a chunk at a time:
  // winograd_conv3x3_transient). value_error 208 unless that is a non-empty part of the kernel.
  winograd_weights(const tensor<T>& weight, index_t first_out, index_t last_out, index_t first_in, index_t last_in) {
    detail::check_winograd_kernel(weight, "winograd_weights");
    NST_CHECK(0 <= first_out && first_out < last_out && last_out <= weight.dim(0) && 0 <= first_in &&
                  first_in < last_in && last_in <= weight.dim(1),
              value_error, 208, "winograd_weights: output channels [", first_out, ",", last_out,
              ") and input channels [", first_in, ",", last_in, ") are not a non-empty part of the kernel ",
              weight.shape());
    transform_kernel(weight, first_out, last_out, first_in, last_in);
  }

  index_t out_channels() const { return out_; }
  index_t in_channels() const { return in_; }
  bool empty() const { return data_.empty(); }
  // U_ξ, row-major O x C.
  const T* position(int xi) const { return data_.data() + static_cast<index_t>(xi) * out_ * in_; }

 private:
  void transform_kernel(const tensor<T>& weight, index_t first_out, index_t last_out, index_t first_in,
                        index_t last_in) {
    out_ = last_out - first_out;
    in_ = last_in - first_in;
    const index_t kernel_in = weight.dim(1);
    data_.resize(static_cast<std::size_t>(positions * out_ * in_));
    // A register's width of input channels at a time, so the transform vectorises (cheap enough
    // to redo per call: see conv3x3_same's transient mode). The kernels come from memory (9.4 MB
    // for 512x512), for the input gradient's chunks of input channels in pieces of a row apart:
    // prefetched two rows ahead. A cold 512x512 kernel in chunks of 32 rows (columns), one core:
    // 3.1 (3.3) ms before this and store_positions' whole packets, 2.4 (2.6) after. (U_ξ padded
    // apart as the scratch, position_stride, measured up to 10% faster again, but it left the heap
    // so that a 512 px iteration's peak RSS grew 10 MB.)
    constexpr int lanes = detail::winograd_lanes<T>;
    parallel_for(
        0, out_,
        [&](index_t first, index_t last) {
          for (index_t o = first; o < last; ++o)
            for (index_t c0 = 0; c0 < in_; c0 += lanes) {
              const int used = static_cast<int>(std::min<index_t>(lanes, in_ - c0));
              // `used` 3x3 kernels in a row
              const T* kernels = weight.data() + ((first_out + o) * kernel_in + first_in + c0) * 9;
              if (o + 2 < last)  // the same kernels two rows on (see the comment above the loop)
                for (int k = 0; k < 9 * lanes; k += 64 / static_cast<int>(sizeof(T)))
                  Eigen::internal::prefetch(kernels + 2 * kernel_in * 9 + k);
              T g[3][3][lanes], u[alpha][alpha][lanes];
              if (!detail::load_kernels(kernels, used, weight.data() + weight.size(), g))
                for (int l = 0; l < lanes; ++l)
                  for (int i = 0; i < 3; ++i)
                    for (int j = 0; j < 3; ++j) g[i][j][l] = l < used ? kernels[l * 9 + i * 3 + j] : T(0);
              detail::sandwich<false, transform::G>(g, u);
              detail::store_positions(u, used, out_ * in_, data_.data() + o * in_ + c0);  // U_ξ[o][c0..]
            }
        },
        grain_items(in_ * 40));
  }

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
  // The used lanes lie side by side in one tile row: lane l's window starts M*l values after
  // lane 0's, so each window row of the group is one run of the image row (row runs, below).
  bool one_row;

  winograd_lane_tiles(const winograd_tiling<M>& tiling, index_t first, index_t count)
      : used(static_cast<int>(std::min<index_t>(Lanes, count))) {
    const index_t x = first % tiling.tiles_x;  // tile column of lane 0
    for (int l = 0; l < Lanes; ++l) {
      const index_t tile = first + std::min(l, used - 1);
      if (l == 0 || x + used > tiling.tiles_x) {  // divisions only for groups that cross tile rows
        item[l] = tiling.item(tile);
        y0[l] = tiling.y0(tile);
        x0[l] = tiling.x0(tile);
      } else {
        item[l] = item[0];
        y0[l] = y0[0];
        x0[l] = x0[0] + M * std::min(l, used - 1);
      }
      rows[l] = std::min<index_t>(M, tiling.height - y0[l]);
      cols[l] = std::min<index_t>(M, tiling.width - x0[l]);
      interior[l] = y0[l] >= 1 && x0[l] >= 1 && y0[l] + M + 1 <= tiling.height && x0[l] + M + 1 <= tiling.width;
    }
    one_row = true;
    for (int l = 0; l < used; ++l) one_row = one_row && item[l] == item[0] && y0[l] == y0[0] && x0[l] == x0[0] + M * l;
  }
};

// How many tiles from `tile` on (at most `remaining`) to transform together. In images at least
// Lanes tiles wide, the rest of the tile row up to Lanes tiles: a one-row group, whose window
// rows are runs of the image rows (vector loads and stores, the image's edges included); in
// narrower ones `Lanes` consecutive tiles across tile rows, lane by lane.
template <int Lanes, int M>
index_t lane_group_size(const winograd_tiling<M>& tiling, index_t tile, index_t remaining) {
  if (tiling.tiles_x < Lanes) return std::min<index_t>(Lanes, remaining);
  return std::min<index_t>(std::min<index_t>(Lanes, tiling.tiles_x - tile % tiling.tiles_x), remaining);
}

// Runs body(t0, at, c) for the lane groups `at` (lane_group_size) of tiles first..first+count-1
// (t0 the group's first, counted from `first`) and channels c in [first_channel, last_channel):
// for one-row groups channel by channel, the groups inner, so that each image row and each
// scratch stream is read or written in order; else group by group, the channels inner (the
// lanes' positions, worked out per group, serve every channel).
template <int M, int Lanes, class Body>
void for_each_lane_group(const winograd_tiling<M>& tiling, index_t first, index_t count, index_t first_channel,
                         index_t last_channel, Body&& body) {
  auto groups = [&](auto&& visit) {
    for (index_t t0 = 0, size = 0; t0 < count; t0 += size) {
      size = lane_group_size<Lanes>(tiling, first + t0, count - t0);
      visit(t0, winograd_lane_tiles<M, Lanes>(tiling, first + t0, size));
    }
  };
  if (tiling.tiles_x >= Lanes) {
    for (index_t c = first_channel; c < last_channel; ++c)
      groups([&](index_t t0, const winograd_lane_tiles<M, Lanes>& at) { body(t0, at, c); });
  } else {
    groups([&](index_t t0, const winograd_lane_tiles<M, Lanes>& at) {
      for (index_t c = first_channel; c < last_channel; ++c) body(t0, at, c);
    });
  }
}

// The columns the products compute for `count` tiles: whole packets (panel_gemm ends with a
// panel of one packet when that is all that is left).
template <class T>
index_t product_columns(index_t count) {
  return round_up(count, panel_gemm_traits<T>::width);
}

// Columns count..product_columns(count)-1 of rows [first_row, last_row) of each position's
// rows x stride matrix in s: zeros, so that the products' last panel computes on finite values
// (its results there are never read).
template <int Positions, class T>
void zero_panel_padding(T* s, index_t first_row, index_t last_row, index_t rows, index_t count, index_t stride) {
  const index_t columns = product_columns<T>(count);
  for (int xi = 0; xi < Positions && count < columns; ++xi)
    for (index_t r = first_row; r < last_row; ++r) {
      T* row = s + xi * position_stride<T>(rows, stride) + r * stride;
      std::fill(row + count, row + columns, T(0));
    }
}

// Tiles per block: the block's transformed input and output hold about 512K values, 2 MB of
// float (positions x (C + O) x tiles; this machine's L2 is 1 MB a core, but half-size blocks
// measured no faster for the transforms), and at least a panel's 32 tiles,
// or C·O / (2 (C + O)) when more, so that the products read each U_ξ (C·O values) for at least a
// quarter as many values of v and m (the 512-channel layers, whose U_ξ is 1 MB, get 128 tiles).
// Measured at 512 px (nst_bench, 2 threads): against 2M values and 128 tiles, 2-4% less time per
// iteration and 33 MB less peak memory (430 MB).
inline index_t winograd_block_tiles(index_t positions, index_t in_channels, index_t out_channels) {
  constexpr index_t block_values = index_t(1) << 19;
  const index_t min_tiles = std::max<index_t>(32, in_channels * out_channels / (2 * (in_channels + out_channels)));
  return std::max(min_tiles, block_values / (positions * (in_channels + out_channels)));
}

// Tiles per band of the input gradient (winograd_conv3x3_backward_input): about twice a block.
inline index_t winograd_band_tiles(index_t positions, index_t in_channels, index_t out_channels) {
  return 2 * winograd_block_tiles(positions, in_channels, out_channels);
}

// Tile rows per band of the input gradient, for `rows` tile rows of `tiles_x` tiles. The
// target alone would give an even number of bands of about `target_tiles` each; but a band's
// products run over its tiles rounded up to whole panels (129 tiles: 160 columns) and the bands
// go to the threads in contiguous groups, so among the heights that need no more columns (no
// more scratch memory) than that one, this takes the one whose heavier half of the bands costs
// least, a band costing its tiles (the transforms), its columns (the products) and one panel
// (reading U once); one band counts half (its steps are split among the threads). Ties go to
// the taller bands. From the shapes only, never the thread count. Measured (nst_bench --cases
// layers, 256 px, 2 threads, the fastest of four runs alternating with the target's heights):
// conv1_2's input gradient 17.4 -> 15.0 ms (2 rows of 43 tiles, not 3), conv2_2's 15.7 -> 13.3
// (4 rows of 22, not 3).
inline index_t winograd_band_rows(index_t rows, index_t tiles_x, index_t target_tiles, index_t panel) {
  index_t target_bands = std::min(rows, ceil_div(rows * tiles_x, target_tiles));
  if (target_bands > 1) target_bands = std::min(rows, target_bands + target_bands % 2);
  const index_t most_columns = round_up(ceil_div(rows, target_bands) * tiles_x, panel);
  const auto cost = [&](index_t band_rows) {
    return band_rows * tiles_x + round_up(band_rows * tiles_x, panel) + panel;
  };
  index_t best_rows = 1, best_cost = std::numeric_limits<index_t>::max();
  for (index_t band_rows = 1; band_rows <= rows && round_up(band_rows * tiles_x, panel) <= most_columns; ++band_rows) {
    const index_t bands = ceil_div(rows, band_rows), last_rows = rows - (bands - 1) * band_rows;
    const index_t first_half = bands / 2;  // for_each_group's first group, of whole bands
    const index_t heavier = bands == 1 ? cost(rows) / 2
                                       : std::max(first_half * cost(band_rows),
                                                  (bands - first_half - 1) * cost(band_rows) + cost(last_rows));
    if (heavier <= best_cost) {
      best_rows = band_rows;
      best_cost = heavier;
    }
  }
  return best_rows;
}

// v[ξ*P + c*stride + t] = (Bᵀ d B)[ξ] (P = position_stride(C, stride)) for the (M+2)^2 input
// tile d of tiles first..first+count-1 (t < count <= stride), channels c in [first_channel,
// last_channel) of `channels`, zeros outside the image. A lane group of tiles at a time
// (for_each_lane_group): the transform vectorises across tiles and each of the (M+2)^2 streams is
// written contiguously.
template <int M, class T>
void winograd_input_transform(const winograd_tiling<M>& tiling, const T* input, index_t channels, index_t first_channel,
                              index_t last_channel, index_t first, index_t count, index_t stride, T* v) {
  using transform = winograd_matrices<M>;
  constexpr int alpha = transform::alpha, lanes = winograd_lanes<T>;
  const index_t height = tiling.height, width = tiling.width;
  for_each_lane_group<M, lanes>(
      tiling, first, count, first_channel, last_channel,
      [&](index_t t0, const winograd_lane_tiles<M, lanes>& at, index_t c) {
        T d[alpha][alpha][lanes], transformed[alpha][alpha][lanes];
        if (at.one_row) {
          // Window row i is image row y0 - 1 + i from column x on; at the image's edges only its
          // part inside the image is read (zeros elsewhere).
          const T* plane = input + (at.item[0] * channels + c) * height * width;
          const index_t x = at.x0[0] - 1, length = M * lanes + 2;
          const bool whole = x >= 0 && x + length <= width;
          for (int i = 0; i < alpha; ++i) {
            const index_t y = at.y0[0] - 1 + i;
            const bool row_inside = y >= 0 && y < height;
            // The same run of the next channel's plane (after this channel's other groups).
            prefetch_values<false>(plane + y * width + x + height * width, length);
            if (whole && row_inside) {
              load_row_run<M>(plane + y * width + x, d[i]);
              continue;
            }
            load_row_run<M>(plane + (row_inside ? y : 0) * width + x,
                            row_inside ? run_mask::values(-x, width - x) : run_mask{}, d[i]);
          }
        }
        for (int l = 0; l < lanes && !at.one_row; ++l) {
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
        sandwich<false, transform::BT>(d, transformed);
        store_positions(transformed, at.used, position_stride<T>(channels, stride), v + c * stride + t0);
      });
  zero_panel_padding<alpha * alpha>(v, first_channel, last_channel, channels, count, stride);
}

// The products of a block of `count` tiles for positions ξ in [first_xi, last_xi), over the
// first product_columns(count) of its `stride` columns (a partial block computes only the
// packets its tiles need): forward m_ξ = U_ξ (O x C) · v_ξ (C x columns); Adjoint: the input
// gradient's z_ξ = U_ξᵀ (C x O) · w_ξ (O x columns).
template <bool Adjoint, class T, int M>
void winograd_products(const winograd_weights<T, M>& u, index_t first_xi, index_t last_xi, index_t count,
                       index_t stride, const T* from, T* to) {
  const index_t outs = u.out_channels(), ins = u.in_channels();
  const index_t rows = Adjoint ? ins : outs, inner = Adjoint ? outs : ins;
  for (index_t xi = first_xi; xi < last_xi; ++xi)
    panel_gemm<Adjoint>(u.position(static_cast<int>(xi)), rows, inner, from + xi * position_stride<T>(inner, stride),
                        stride, product_columns<T>(count), to + xi * position_stride<T>(rows, stride), stride);
}

// Y = Aᵀ M A (+ bias, ReLU when `relu`) for output channels [first_out, last_out) of the block of
// tiles first..first+count-1, a lane group of tiles at a time, written where each lies
// inside the image: m[ξ*P + o*stride + t] (P = position_stride(O, stride)) from winograd_products.
// With a `mask` (of the output's shape, bits clear), each value's bit is set where it is > 0, from
// the row just stored (in the cache).
template <int M, class T>
void winograd_output_transform(const winograd_tiling<M>& tiling, const T* m, index_t outs, index_t first_out,
                               index_t last_out, index_t first, index_t count, index_t stride, const tensor<T>& bias,
                               bool relu, T* output, relu_mask* mask) {
  using transform = winograd_matrices<M>;
  constexpr int alpha = transform::alpha, lanes = winograd_lanes<T>;
  const index_t height = tiling.height, width = tiling.width;
  for_each_lane_group<M, lanes>(
      tiling, first, count, first_out, last_out, [&](index_t t0, const winograd_lane_tiles<M, lanes>& at, index_t o) {
        const T offset = bias.empty() ? T(0) : bias[o];
        T mt[alpha][alpha][lanes], y[M][M][lanes];
        load_positions(m + o * stride + t0, position_stride<T>(outs, stride), at.used, mt);
        sandwich<false, transform::AT>(mt, y);
        // The bias and the ReLU in whole packets, which store_row_run reads back as such.
        using packet = typename panel_gemm_traits<T>::packet;
        constexpr int packet_size = panel_gemm_traits<T>::width;
        const packet zero = Eigen::internal::pset1<packet>(T(0)), bias_value = Eigen::internal::pset1<packet>(offset);
        for (int i = 0; i < M; ++i)
          for (int j = 0; j < M; ++j)
            for (int l = 0; l < lanes; l += packet_size) {
              packet value = Eigen::internal::padd(Eigen::internal::ploadu<packet>(&y[i][j][l]), bias_value);
              if (relu)  // negative values to 0; NaN stays, as relu()
                value = Eigen::internal::pselect(Eigen::internal::pcmp_lt(value, zero), zero, value);
              Eigen::internal::pstoreu(&y[i][j][l], value);
            }
        if (at.one_row) {
          // The first `run` values of each output row lie inside the image.
          const index_t run = std::min<index_t>(M * at.used, width - at.x0[0]);
          T* origin = output + (at.item[0] * outs + o) * height * width + at.y0[0] * width + at.x0[0];
          for (index_t i = 0; i < at.rows[0]; ++i) {
            // The same run of the next channel's plane (after this channel's other groups).
            prefetch_values<true>(origin + i * width + height * width, M * lanes);
            if (run == M * lanes)
              store_row_run<M>(y[i], origin + i * width);
            else
              store_row_run<M>(y[i], run_mask::values(0, run), origin + i * width);
          }
          // After the block's last group in this tile row, the bits of the rows' part that the
          // block covers, from the rows still in the cache: a run per row, not per group, so that
          // only the ends of the part take mark_positive's atomic edge words (per group, they were
          // a sixth of this transform's time on two threads).
          const index_t tile_x = at.x0[0] / M;  // t0 counts from the block's first tile
          if (mask != nullptr && (tile_x + at.used == tiling.tiles_x || t0 + at.used == count)) {
            const index_t from_x = std::max<index_t>(0, tile_x - t0) * M, end_x = at.x0[0] + run;
            T* rows = origin - at.x0[0] + from_x;
            for (index_t i = 0; i < at.rows[0]; ++i)
              mask->mark_positive(rows + i * width - output, rows + i * width, end_x - from_x);
          }
          return;
        }
        // Lanes of several tile rows (narrow images): the mask's bits per tile row the group
        // covers, after its last lane there, as above (per lane, every 4- or 6-value run took a
        // locked instruction).
        int row_start = 0;  // the lane that begins the current tile row
        for (int l = 0; l < at.used; ++l) {
          T* origin = output + (at.item[l] * outs + o) * height * width + at.y0[l] * width + at.x0[l];
          for (index_t i = 0; i < at.rows[l]; ++i)
            for (index_t j = 0; j < at.cols[l]; ++j) origin[i * width + j] = y[i][j][l];
          if (l + 1 < at.used && at.item[l + 1] == at.item[l] && at.y0[l + 1] == at.y0[l]) continue;
          if (mask != nullptr) {
            T* rows = origin - at.x0[l] + at.x0[row_start];
            const index_t length = at.x0[l] + at.cols[l] - at.x0[row_start];
            for (index_t i = 0; i < at.rows[l]; ++i)
              mask->mark_positive(rows + i * width - output, rows + i * width, length);
          }
          row_start = l + 1;
        }
      });
}

// The input gradient's first step for output channels [first_out, last_out) of the tiles
// first..first+count-1: w[ξ*P + o*stride + t] = (A dy Aᵀ)[ξ] (P = position_stride(O, stride)),
// dy = grad_output gated by the ReLU's mask when one is given (zeros outside the image).
template <int M, class T>
void winograd_gradient_transform(const winograd_tiling<M>& tiling, const tensor<T>& grad_output, const relu_mask& mask,
                                 index_t first_out, index_t last_out, index_t first, index_t count, index_t stride,
                                 T* w) {
  using transform = winograd_matrices<M>;
  constexpr int alpha = transform::alpha, lanes = winograd_lanes<T>;
  const index_t height = tiling.height, width = tiling.width, outs = grad_output.dim(1);
  const bool gated = !mask.empty();
  for_each_lane_group<M, lanes>(
      tiling, first, count, first_out, last_out, [&](index_t t0, const winograd_lane_tiles<M, lanes>& at, index_t o) {
        T dy[M][M][lanes], transformed[alpha][alpha][lanes];
        if (at.one_row) {
          // The first `run` values of each row of dy lie inside the image.
          const index_t run = std::min<index_t>(M * at.used, width - at.x0[0]);
          const index_t origin = (at.item[0] * outs + o) * height * width + at.y0[0] * width + at.x0[0];
          for (index_t i = 0; i < M; ++i) {
            const bool row_inside = i < at.rows[0];
            const T* row = grad_output.data() + (row_inside ? origin + i * width : 0);
            if (!gated && run == M * lanes && row_inside) {
              load_row_run<M>(row, dy[i]);
              continue;
            }
            // Else the row's part inside the image, through the ReLU's gate (its mask bits, 64
            // at a time), zeros elsewhere.
            run_mask valid = row_inside ? run_mask::values(0, run) : run_mask{};
            if (gated && row_inside)
              valid = valid.gated(mask.bits(origin + i * width), run > 64 ? mask.bits(origin + i * width + 64) : 0);
            load_row_run<M>(row, valid, dy[i]);
          }
        }
        for (int l = 0; l < lanes && !at.one_row; ++l) {
          const index_t origin = (at.item[l] * outs + o) * height * width + at.y0[l] * width + at.x0[l];
          for (index_t i = 0; i < M; ++i)
            for (index_t j = 0; j < M; ++j) {
              const index_t k = origin + i * width + j;
              const bool inside = l < at.used && i < at.rows[l] && j < at.cols[l];
              dy[i][j][l] = !inside || (gated && !mask[k]) ? T(0) : grad_output[k];
            }
        }
        sandwich<true, transform::AT>(dy, transformed);
        store_positions(transformed, at.used, position_stride<T>(outs, stride), w + o * stride + t0);
      });
  zero_panel_padding<alpha * alpha>(w, first_out, last_out, outs, count, stride);
}

// The input gradient's last step for input channels [first_channel, last_channel) of the tiles
// first..first+count-1 (whole tile rows, starting at one): dx += B z Bᵀ on each tile's input
// window, z[ξ*P + c*stride + t] (P = position_stride(C, stride)). With `halo` ([C,2,W] values),
// window rows 0 and 1 of the first tile row go there instead of onto dx (grad_input, [N,C,H,W]).
template <int M, class T>
void winograd_gradient_scatter(const winograd_tiling<M>& tiling, const T* z, index_t channels, index_t first_channel,
                               index_t last_channel, index_t first, index_t count, index_t stride, T* halo,
                               T* grad_input) {
  using transform = winograd_matrices<M>;
  constexpr int alpha = transform::alpha, lanes = winograd_lanes<T>;
  const index_t height = tiling.height, width = tiling.width, tiles_x = tiling.tiles_x;
  for_each_lane_group<M, lanes>(
      tiling, first, count, first_channel, last_channel,
      [&](index_t t0, const winograd_lane_tiles<M, lanes>& at, index_t c) {
        T zt[alpha][alpha][lanes], d[alpha][alpha][lanes];
        load_positions(z + c * stride + t0, position_stride<T>(channels, stride), at.used, zt);
        sandwich<true, transform::BT>(zt, d);
        T* halo_rows = halo != nullptr ? halo + c * 2 * width : nullptr;
        // The image row (column 0) that window row i of lane l adds onto: image row y0 - 1 + i, or
        // the halo's row i.
        auto window_row = [&](int l, int i) {
          if (halo_rows != nullptr && i < 2 && t0 + l < tiles_x) return halo_rows + i * width;
          return grad_input + (at.item[l] * channels + c) * height * width + (at.y0[l] - 1 + i) * width;
        };
        if (at.one_row) {  // neighbouring windows overlap: add_row_run keeps them apart
          constexpr index_t length = M * lanes + 2;
          const index_t x = at.x0[0] - 1, end = std::min(x + M * at.used + 2, width);  // the windows' columns
          for (int i = 0; i < alpha; ++i) {
            if (at.y0[0] - 1 + i < 0 || at.y0[0] - 1 + i >= height) continue;
            T* row = window_row(0, i);
            // The same run of the next channel's plane (after this channel's other groups): dx
            // comes from memory when the scatter adds onto an earlier gradient.
            prefetch_values<true>(row + x + height * width, length);
            if (x >= 0 && x + length <= width && at.used == lanes)
              add_row_run<M>(d[i], row + x);
            else  // only the windows' part inside the image
              add_row_run<M>(d[i], run_mask::values(-x, end - x), row + x);
          }
          return;
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
      });
}

// The shape checks of winograd_conv3x3 (193, 194) and winograd_conv3x3_backward_input (195, 196)
// for a kernel [outs, ins, 3, 3].
template <class T>
void check_winograd_forward(const tensor<T>& input, index_t outs, index_t ins, const tensor<T>& bias) {
  NST_CHECK(input.rank() == 4 && input.size() > 0 && input.dim(1) == ins, shape_error, 193,
            "winograd_conv3x3: expected a non-empty input [N,", ins, ",H,W] for weights [", outs, ",", ins,
            ",3,3], got ", input.shape());
  NST_CHECK(bias.empty() || (bias.rank() == 1 && bias.dim(0) == outs), shape_error, 194,
            "winograd_conv3x3: bias must be [", outs, "] or empty, got ", bias.shape());
}

template <class T>
void check_winograd_backward(const tensor<T>& grad_output, index_t outs, index_t ins, const relu_mask& mask) {
  NST_CHECK(grad_output.rank() == 4 && grad_output.size() > 0 && grad_output.dim(1) == outs, shape_error, 195,
            "winograd_conv3x3_backward_input: expected a non-empty grad_output [N,", outs, ",H,W] for weights [",
            outs, ",", ins, ",3,3], got ", grad_output.shape());
  NST_CHECK(mask.empty() || mask.shape() == grad_output.shape(), shape_error, 196,
            "winograd_conv3x3_backward_input: the ReLU mask ", mask.shape(), " differs from grad_output ",
            grad_output.shape());
}

// The gradient that the _add functions add onto: x's shape [N,ins,H,W] for dy [N,outs,H,W].
template <class T>
void check_gradient_sum(const tensor<T>& grad_output, index_t ins, const tensor<T>& grad_input, const char* function) {
  const shape expected{grad_output.dim(0), ins, grad_output.dim(2), grad_output.dim(3)};
  NST_CHECK(grad_input.shape() == expected, shape_error, 166, function, ": the gradient to add onto is ",
            grad_input.shape(), ", expected the input's shape ", expected);
}

// Rows of U_ξ per chunk of a transient kernel transform of `rows` x `other_channels` (rows: output
// channels for the forward pass, input channels for the input gradient): at most 600K values (2.4
// MB of float) of U, whole lane groups of 16, at least 16. 0 (transform the whole kernel) unless the
// image's `tiles` are one block (one band: at most `max_tiles`) and `rows` make more than one chunk.
// For 512 channels and F(4x4) that is 32 rows, 16 chunks, which two threads share evenly. With
// chunks of 1M values (48 rows: 11 chunks, 6 against 5) a 256 px iteration on 2 threads took
// 1-3% longer (5 pairs of runs, alternating: 297-306 against 295-301 ms); one thread: no change.
inline index_t transient_chunk(index_t positions, index_t tiles, index_t max_tiles, index_t rows,
                               index_t other_channels) {
  const index_t chunk = std::max<index_t>(16, index_t(600000) / (positions * other_channels) / 16 * 16);
  return tiles <= max_tiles && rows > chunk ? chunk : 0;
}

// Calls body(first, last) for the chunks [k*chunk, min((k+1)*chunk, count)) of [0, count), whole
// chunks per thread, in parallel.
template <class Body>
void for_each_chunk(index_t count, index_t chunk, index_t work_per_chunk, Body&& body) {
  parallel_for(
      0, ceil_div(count, chunk),
      [&](index_t first, index_t last) {
        for (index_t k = first; k < last; ++k) body(k * chunk, std::min(count, (k + 1) * chunk));
      },
      grain_items(work_per_chunk));
}

}  // namespace detail

// y = conv2d(input, weight, bias, {1, 1}) for the weight `u` was built from, then y = max(y, 0)
// when `relu` (fused: no second pass). input [N,C,H,W] with C = u.in_channels(); bias [O] or
// empty. Output [N,O,H,W]. shape_error 193/194 for other shapes, value_error 300 for empty u.
// With `mask`, *mask becomes relu_mask(y), built as y is written (the same bits).
template <class T, int M>
tensor<T> winograd_conv3x3(const tensor<T>& input, const winograd_weights<T, M>& u, const tensor<T>& bias = {},
                           bool relu = false, relu_mask* mask = nullptr) {
  constexpr int positions = winograd_weights<T, M>::positions;
  NST_CHECK(!u.empty(), value_error, 300, "winograd_conv3x3: the winograd_weights are empty (default-constructed)");
  detail::check_winograd_forward(input, u.out_channels(), u.in_channels(), bias);
  const index_t channels = input.dim(1), outs = u.out_channels();
  const detail::winograd_tiling<M> tiling(input.dim(0), input.dim(2), input.dim(3));
  // Blocks of `block` tiles, a whole number of the products' panels (the last block's columns
  // past its tiles are zeros), sized from the shapes only; about an even number of them, so that
  // two threads get the same share.
  index_t blocks = detail::ceil_div(tiling.count(), detail::winograd_block_tiles(positions, channels, outs));
  if (blocks > 1) blocks += blocks % 2;
  const index_t block = detail::round_up(detail::ceil_div(tiling.count(), blocks), detail::panel_columns<T>);
  blocks = detail::ceil_div(tiling.count(), block);
  const index_t v_size = positions * detail::position_stride<T>(channels, block),
                m_size = positions * detail::position_stride<T>(outs, block);
  tensor<T> output({tiling.batch, outs, tiling.height, tiling.width}, uninitialized);  // every tile written
  if (mask != nullptr) *mask = relu_mask(output.shape());
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
          [&](index_t x0, index_t x1) { detail::winograd_products<false>(u, x0, x1, count, block, v, m); });
    steps(outs, count * 200, [&](index_t o0, index_t o1) {
      detail::winograd_output_transform(tiling, m, outs, o0, o1, first, count, block, bias, relu, output.data(), mask);
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

namespace detail {

// winograd_conv3x3_backward_input's checks: u not empty (value_error 300), then the shapes.
template <class T, int M>
void check_winograd_backward(const tensor<T>& grad_output, const winograd_weights<T, M>& u, const relu_mask& mask) {
  NST_CHECK(!u.empty(), value_error, 300,
            "winograd_conv3x3_backward_input: the winograd_weights are empty (default-constructed)");
  check_winograd_backward(grad_output, u.out_channels(), u.in_channels(), mask);
}

// dx of winograd_conv3x3_backward_input into grad_input (shapes checked), onto zeros when
// `zero_first` (then grad_input's values may be anything), else added onto its values.
template <class T, int M>
void winograd_backward_input_into(const tensor<T>& grad_output, const winograd_weights<T, M>& u, const relu_mask& mask,
                                  bool zero_first, tensor<T>& grad_input) {
  constexpr int positions = winograd_weights<T, M>::positions;
  const index_t channels = u.in_channels(), outs = u.out_channels();
  const detail::winograd_tiling<M> tiling(grad_output.dim(0), grad_output.dim(2), grad_output.dim(3));
  const index_t height = tiling.height, width = tiling.width, tiles_x = tiling.tiles_x;
  // Bands of whole tile rows (of all items in turn), about twice the forward's block each
  // (winograd_band_rows); sizes from the shapes only, never from the thread count.
  const index_t rows = tiling.batch * tiling.tiles_y;
  const index_t band_rows = detail::winograd_band_rows(
      rows, tiles_x, detail::winograd_band_tiles(positions, channels, outs), detail::panel_columns<T>);
  const index_t bands = detail::ceil_div(rows, band_rows);
  const index_t band_tiles = band_rows * tiles_x;
  const index_t stride = detail::round_up(band_tiles, detail::panel_columns<T>);  // whole panels
  const index_t w_size = positions * detail::position_stride<T>(outs, stride),
                z_size = positions * detail::position_stride<T>(channels, stride);
  // A band's first tile row shares its two top window rows with the tile row above, in the band
  // before: the band adds them into its own halo [C,2,W] instead, and the halos are added onto
  // dx after every band is done (in band order), so bands never write the same value.
  tensor<T> halo;
  if (bands > 1) halo = tensor<T>({bands, channels, 2, width});

  // The rows of channel c of dx that band `band` adds onto, zeroed, for each item it covers: from
  // its first tile row's window row 2 (rows 0 and 1 go to the halo) or from the item's row 0, to
  // its last tile row's window row 7 (the next band's halo takes the rows after). The bands'
  // rows do not overlap and together cover dx.
  auto zero_band_rows = [&](index_t band, index_t c) {
    const index_t last_row = std::min(rows, (band + 1) * band_rows);  // tile rows of all items in turn
    for (index_t row = band * band_rows; row < last_row;) {
      const index_t item = row / tiling.tiles_y, ty = row % tiling.tiles_y;
      const index_t item_end = std::min(last_row, (item + 1) * tiling.tiles_y);
      const index_t first_y = ty == 0 ? 0 : ty * M + 1,
                    end_y = std::min(height, (item_end - item * tiling.tiles_y) * M + 1);
      T* plane = grad_input.data() + (item * channels + c) * height * width;
      std::fill(plane + first_y * width, plane + end_y * width, T(0));
      row = item_end;
    }
  };

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
      detail::winograd_products<true>(u, first_xi, last_xi, count, stride, w, z);
    });
    // dx += B z Bᵀ on each tile's input window (window rows 0 and 1 of the band's first tile row
    // into the halo when it has one), channel by channel, each after zeroing the rows of dx that
    // the band adds onto, so that they are in the cache for the additions (with all of dx zeroed
    // in a pass of its own first, conv1_2's input gradient at 512 px on one thread took 101-103
    // ms, now 93-95).
    steps(channels, count * 60, [&](index_t first_channel, index_t last_channel) {
      T* band_halo = has_halo ? halo.data() + band * channels * 2 * width : nullptr;
      for (index_t c = first_channel; c < last_channel; ++c) {
        if (zero_first) zero_band_rows(band, c);
        detail::winograd_gradient_scatter(tiling, z, channels, c, c + 1, first, count, stride, band_halo,
                                          grad_input.data());
      }
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
}

}  // namespace detail

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
//
// winograd_conv3x3_backward_input_add adds dx onto a gradient of x's shape instead (what the
// tape's backward step does when a gradient has reached x already): no tensor of its own, and no
// pass that zeroes it or one that adds it on afterwards (shape_error 166 for another shape).
template <class T, int M>
tensor<T> winograd_conv3x3_backward_input(const tensor<T>& grad_output, const winograd_weights<T, M>& u,
                                          const relu_mask& mask = {}) {
  detail::check_winograd_backward(grad_output, u, mask);
  tensor<T> grad_input({grad_output.dim(0), u.in_channels(), grad_output.dim(2), grad_output.dim(3)},
                       uninitialized);  // zeroed band by band
  detail::winograd_backward_input_into(grad_output, u, mask, true, grad_input);
  return grad_input;
}

template <class T, int M>
void winograd_conv3x3_backward_input_add(const tensor<T>& grad_output, const winograd_weights<T, M>& u,
                                         const relu_mask& mask, tensor<T>& grad_input) {
  detail::check_winograd_backward(grad_output, u, mask);
  detail::check_gradient_sum(grad_output, u.in_channels(), grad_input, "winograd_conv3x3_backward_input_add");
  detail::winograd_backward_input_into(grad_output, u, mask, false, grad_input);
}

// winograd_conv3x3 and winograd_conv3x3_backward_input with the kernel weight [O,C,3,3]
// transformed inside the call (conv3x3_same's transient layers), the same bits. Transformed whole,
// the U of a 512x512 kernel is 38 MB (F(4x4)), written out to memory and read back by the
// products. When the image is one block of tiles (one band for the input gradient: the small
// images of the 512-channel layers), U is instead transformed a chunk of rows at a time
// (detail::transient_chunk, at most 2.4 MB), a chunk per thread, each used by its products and
// transformed back while it is in the cache. shape_error 192-196 as the functions they stand for
// (and 166 for the _add function's gradient).
template <class T, int M>
tensor<T> winograd_conv3x3_transient(const tensor<T>& input, const tensor<T>& weight, const tensor<T>& bias = {},
                                     bool relu = false, relu_mask* mask = nullptr) {
  constexpr int positions = winograd_weights<T, M>::positions;
  detail::check_winograd_kernel(weight, "winograd_conv3x3_transient");
  const index_t outs = weight.dim(0), channels = weight.dim(1);
  detail::check_winograd_forward(input, outs, channels, bias);
  const detail::winograd_tiling<M> tiling(input.dim(0), input.dim(2), input.dim(3));
  const index_t count = tiling.count();
  const index_t chunk = detail::transient_chunk(
      positions, count, detail::winograd_block_tiles(positions, channels, outs), outs, channels);
  if (chunk == 0) return winograd_conv3x3(input, winograd_weights<T, M>(weight), bias, relu, mask);
  // One block (as winograd_conv3x3 cuts it): its input transform, then the chunks of output
  // channels, each through its own part of U.
  const index_t block = detail::round_up(count, detail::panel_columns<T>);
  const index_t v_stride = detail::position_stride<T>(channels, block),
                m_stride = detail::position_stride<T>(outs, block);
  T* v = detail::winograd_scratch<T>(1, positions * (v_stride + m_stride))[0].data();
  T* m = v + positions * v_stride;
  tensor<T> output({tiling.batch, outs, tiling.height, tiling.width}, uninitialized);
  if (mask != nullptr) *mask = relu_mask(output.shape());
  parallel_for(
      0, channels,
      [&](index_t c0, index_t c1) {
        detail::winograd_input_transform(tiling, input.data(), channels, c0, c1, 0, count, block, v);
      },
      grain_items(count * 300));
  detail::for_each_chunk(outs, chunk, 2 * chunk * channels * positions * block, [&](index_t o0, index_t o1) {
    const winograd_weights<T, M> part(weight, o0, o1, 0, channels);
    for (int xi = 0; xi < positions; ++xi)
      detail::panel_gemm<false>(part.position(xi), o1 - o0, channels, v + xi * v_stride, block,
                                detail::product_columns<T>(count), m + xi * m_stride + o0 * block, block);
    detail::winograd_output_transform(tiling, m, outs, o0, o1, 0, count, block, bias, relu, output.data(), mask);
  });
  return output;
}

namespace detail {

// dx of winograd_conv3x3_backward_input_transient (shapes checked): returned, or added onto *sum
// when `sum` is given (then an empty tensor is returned). dx is made after the kernel's transform
// and the scratch: a memory plan places tensors by the order they come in, and with dx made
// first the peak RSS of a 512 px iteration on one thread rose from 391 to 399 MB.
template <class T, int M>
tensor<T> winograd_backward_input_transient(const tensor<T>& grad_output, const tensor<T>& weight,
                                            const relu_mask& mask, tensor<T>* sum) {
  constexpr int positions = winograd_weights<T, M>::positions;
  const index_t outs = weight.dim(0), channels = weight.dim(1);
  const winograd_tiling<M> tiling(grad_output.dim(0), grad_output.dim(2), grad_output.dim(3));
  const index_t count = tiling.count();
  const index_t chunk =
      transient_chunk(positions, count, winograd_band_tiles(positions, channels, outs), channels, outs);
  const shape input_shape{tiling.batch, channels, tiling.height, tiling.width};
  if (chunk == 0) {
    const winograd_weights<T, M> u(weight);
    tensor<T> fresh;
    if (sum == nullptr) fresh = tensor<T>(input_shape, uninitialized);
    winograd_backward_input_into(grad_output, u, mask, sum == nullptr, sum != nullptr ? *sum : fresh);
    return fresh;
  }
  // One band (as winograd_conv3x3_backward_input cuts it): dy's transform, then the chunks of
  // input channels, each through its own columns of U.
  const index_t stride = round_up(count, panel_columns<T>);
  const index_t w_stride = position_stride<T>(outs, stride), z_stride = position_stride<T>(channels, stride);
  T* w = winograd_scratch<T>(1, positions * (w_stride + z_stride))[0].data();
  T* z = w + positions * w_stride;
  const index_t plane = tiling.height * tiling.width;
  tensor<T> fresh;
  if (sum == nullptr) fresh = tensor<T>(input_shape);  // zeros: the scatter adds
  T* grad_input = sum != nullptr ? sum->data() : fresh.data();
  parallel_for(
      0, outs,
      [&](index_t o0, index_t o1) {
        winograd_gradient_transform(tiling, grad_output, mask, o0, o1, 0, count, stride, w);
      },
      grain_items(count * 40));
  for_each_chunk(channels, chunk, 2 * chunk * outs * positions * stride + chunk * plane, [&](index_t c0, index_t c1) {
    const winograd_weights<T, M> part(weight, 0, outs, c0, c1);
    for (int xi = 0; xi < positions; ++xi)
      panel_gemm<true>(part.position(xi), c1 - c0, outs, w + xi * w_stride, stride, product_columns<T>(count),
                       z + xi * z_stride + c0 * stride, stride);
    winograd_gradient_scatter(tiling, z, channels, c0, c1, 0, count, stride, static_cast<T*>(nullptr), grad_input);
  });
  return fresh;
}

}  // namespace detail

template <class T, int M>
tensor<T> winograd_conv3x3_backward_input_transient(const tensor<T>& grad_output, const tensor<T>& weight,
                                                    const relu_mask& mask = {}) {
  detail::check_winograd_kernel(weight, "winograd_conv3x3_backward_input_transient");
  detail::check_winograd_backward(grad_output, weight.dim(0), weight.dim(1), mask);
  return detail::winograd_backward_input_transient<T, M>(grad_output, weight, mask, nullptr);
}

template <class T, int M>
void winograd_conv3x3_backward_input_transient_add(const tensor<T>& grad_output, const tensor<T>& weight,
                                                   const relu_mask& mask, tensor<T>& grad_input) {
  detail::check_winograd_kernel(weight, "winograd_conv3x3_backward_input_transient_add");
  detail::check_winograd_backward(grad_output, weight.dim(0), weight.dim(1), mask);
  detail::check_gradient_sum(grad_output, weight.dim(1), grad_input, "winograd_conv3x3_backward_input_transient_add");
  detail::winograd_backward_input_transient<T, M>(grad_output, weight, mask, &grad_input);
}

}  // namespace nst
