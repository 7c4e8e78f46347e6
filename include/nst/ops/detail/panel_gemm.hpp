// nst/ops/detail/panel_gemm.hpp — the matrix products of the Winograd convolutions.
//
//   m (rows x n) = L (rows x k) · v (k x n)      all row-major, v and m with row strides of
//                                                their own, L with row stride k, or given as
//                                                Lᵀ (k x rows)
//
// The shapes are those of the (M+2)^2 products of a Winograd block: k and rows are channel counts
// (up to 512), n is the block's tile count (a few hundred). The whole of v fits in the L2 cache,
// so no packing is needed: the product runs over panels of a few packets of columns of v (each
// read from L2 once per block of rows of m) and keeps a block of rows x panel columns of
// m in registers while it walks k, one broadcast value of L times the panel's vectors of v per
// row:
//
//   for each column panel j, row block i:   acc = 0;  for c < k: acc += L[i, c] ⊗ v[c, j];  m[i, j] = acc
//
// Measured on the VGG19 shapes (one core, AVX-512, 8 x 2 panels): 111-116 GFLOP/s against 82-87
// for Eigen's general product (which packs both operands on every call). Every m[r][t] is the
// sum over c in order of one fused multiply-add each, whatever the blocking: results depend on
// the shapes only, never on how the columns are split among blocks or threads. Uses Eigen's packet primitives, so
// it vectorises for whatever instruction set Eigen targets (plain scalars when none).
#pragma once

#include <Eigen/Core>

#include "../../core/tensor.hpp"

namespace nst {
namespace detail {

template <class T>
struct panel_gemm_traits {
  using packet = typename Eigen::internal::packet_traits<T>::type;
  static constexpr int width = Eigen::internal::packet_traits<T>::size;  // values per packet
  // The unit the Winograd blocks and bands round their columns to (panels of two packets).
  static constexpr int panel_packets = 2;
  static constexpr int panel_columns = panel_packets * width;
  // Panels of four packets need 29 vector registers (AVX-512, NEON, ...: 32).
  static constexpr bool wide_panels = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32;
};

// m[r0 .. r0+Rows, columns 0 .. Packets packets) of one panel; `v` and `m` point at the panel's
// first column. LhsTransposed: L is stored as Lᵀ (k x rows, row stride ld), else L (rows x k).
template <bool LhsTransposed, int Rows, int Packets, class T>
inline void panel_block(const T* lhs, index_t ld, index_t r0, index_t k, const T* v, index_t v_stride, T* m,
                        index_t m_stride) {
  using traits = panel_gemm_traits<T>;
  using packet = typename traits::packet;
  constexpr int packets = Packets, width = traits::width;
  packet acc[Rows][packets];
  for (int i = 0; i < Rows; ++i)
    for (int j = 0; j < packets; ++j) acc[i][j] = Eigen::internal::pset1<packet>(T(0));
  for (index_t c = 0; c < k; ++c) {
    // Lᵀ is read down a column, a cache line every ld values, which the hardware prefetchers do
    // not follow when U comes from memory (a 512x512 kernel's whole U is 38 MB): ask 16 rows
    // ahead. 512-channel input gradients at 256 px with the U kept, 2 threads: 11.5 -> 8.7 ms.
    if (LhsTransposed) Eigen::internal::prefetch(lhs + (c + 16) * ld + r0);
    packet b[packets];
    for (int j = 0; j < packets; ++j) b[j] = Eigen::internal::ploadu<packet>(v + c * v_stride + j * width);
    for (int i = 0; i < Rows; ++i) {
      const packet a = Eigen::internal::pset1<packet>(LhsTransposed ? lhs[c * ld + r0 + i] : lhs[(r0 + i) * ld + c]);
      for (int j = 0; j < packets; ++j) acc[i][j] = Eigen::internal::pmadd(a, b[j], acc[i][j]);
    }
  }
  for (int i = 0; i < Rows; ++i)
    for (int j = 0; j < packets; ++j) Eigen::internal::pstoreu(m + (r0 + i) * m_stride + j * width, acc[i][j]);
}

template <class T>
constexpr index_t panel_columns = panel_gemm_traits<T>::panel_columns;

// a rounded up to a multiple of `multiple`.
inline index_t round_up(index_t a, index_t multiple) { return (a + multiple - 1) / multiple * multiple; }

// One column panel of Packets packets, rows [r, rows): blocks of Rows rows, then the rows left
// over in blocks of half as many, down to one.
template <bool LhsTransposed, int Packets, int Rows, class T>
inline void panel_rows_all(const T* lhs, index_t ld, index_t r, index_t rows, index_t k, const T* v, index_t v_stride,
                           T* m, index_t m_stride) {
  for (; r + Rows <= rows; r += Rows)
    panel_block<LhsTransposed, Rows, Packets>(lhs, ld, r, k, v, v_stride, m, m_stride);
  if constexpr (Rows > 1)
    panel_rows_all<LhsTransposed, Packets, Rows / 2>(lhs, ld, r, rows, k, v, v_stride, m, m_stride);
}

// m = L · v (see the overview) for the first n columns of v and m, whose rows are v_stride and
// m_stride values apart; n a whole number of packets. Panels of four packets (6 rows x 4 packets
// in registers: 24 accumulators, 10 loads per 24 multiply-adds; where there are 32 vector
// registers) while 64 columns are left, then one of two packets (8 x 2: 10 loads per 16) and one
// of one packet (16 tiles need not compute 32 columns). One core, AVX-512, the products of 64
// positions in turn with 64 to 512 channels and 64 or 128 columns (a throwaway program): L
// 149-161 -> 160-182 GFLOP/s, Lᵀ 122-141 -> 132-166 against 8 x 2 panels throughout; the
// convolutions of VGG19 at 512 px (nst_bench --cases layers, one thread, 3 pairs) 970-1000 ->
// 922-972 ms summed.
template <bool LhsTransposed, class T>
void panel_gemm(const T* lhs, index_t rows, index_t k, const T* v, index_t v_stride, index_t n, T* m,
                index_t m_stride) {
  constexpr index_t width = panel_gemm_traits<T>::width;
  const index_t ld = LhsTransposed ? rows : k;
  index_t j = 0;
  for (; panel_gemm_traits<T>::wide_panels && j + 4 * width <= n; j += 4 * width)
    panel_rows_all<LhsTransposed, 4, 6>(lhs, ld, 0, rows, k, v + j, v_stride, m + j, m_stride);
  for (; j + 2 * width <= n; j += 2 * width)
    panel_rows_all<LhsTransposed, 2, 8>(lhs, ld, 0, rows, k, v + j, v_stride, m + j, m_stride);
  if (j < n) panel_rows_all<LhsTransposed, 1, 8>(lhs, ld, 0, rows, k, v + j, v_stride, m + j, m_stride);
}

}  // namespace detail
}  // namespace nst
