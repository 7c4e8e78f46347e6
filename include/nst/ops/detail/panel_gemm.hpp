// nst/ops/detail/panel_gemm.hpp — the matrix products of the Winograd convolutions.
//
//   m (rows x n) = L (rows x k) · v (k x n)      all row-major, v and m with row strides of
//                                                their own, L with row stride k, or given as
//                                                Lᵀ (k x rows)
//
// The shapes are those of the (M+2)^2 products of a Winograd block: k and rows are channel counts
// (up to 512), n is the block's tile count (a few hundred). The whole of v fits in the L2 cache,
// so no packing is needed: the product runs over panels of `panel_columns` columns of v (each
// read from L2 once per `panel_rows` rows of m) and keeps a panel_rows x panel_columns block of
// m in registers while it walks k, one broadcast value of L times two vectors of v per row:
//
//   for each column panel j, row block i:   acc = 0;  for c < k: acc += L[i, c] ⊗ v[c, j];  m[i, j] = acc
//
// Measured on the VGG19 shapes (one core, AVX-512): 111-116 GFLOP/s against 82-87 for Eigen's
// general product (which packs both operands on every call). Every m[r][t] is the sum over c in
// order of one fused multiply-add each, whatever the blocking: results depend on the shapes only,
// never on how the columns are split among blocks or threads. Uses Eigen's packet primitives, so
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
  static constexpr int panel_rows = 8;                                   // rows of m in registers
  static constexpr int panel_packets = 2;                                // packets per row
  static constexpr int panel_columns = panel_packets * width;
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

// One column panel of Packets packets, all rows: blocks of panel_rows, then the rows left over
// one at a time.
template <bool LhsTransposed, int Packets, class T>
inline void panel_rows_all(const T* lhs, index_t ld, index_t rows, index_t k, const T* v, index_t v_stride, T* m,
                           index_t m_stride) {
  constexpr int block = panel_gemm_traits<T>::panel_rows;
  index_t r = 0;
  for (; r + block <= rows; r += block)
    panel_block<LhsTransposed, block, Packets>(lhs, ld, r, k, v, v_stride, m, m_stride);
  for (; r < rows; ++r) panel_block<LhsTransposed, 1, Packets>(lhs, ld, r, k, v, v_stride, m, m_stride);
}

// m = L · v (see the overview) for the first n columns of v and m, whose rows are v_stride and
// m_stride values apart; n a whole number of packets: whole panels, and when n % panel_columns
// is one packet, a last panel of that one packet (16 tiles need not compute 32 columns).
template <bool LhsTransposed, class T>
void panel_gemm(const T* lhs, index_t rows, index_t k, const T* v, index_t v_stride, index_t n, T* m,
                index_t m_stride) {
  constexpr index_t columns = panel_gemm_traits<T>::panel_columns;
  const index_t ld = LhsTransposed ? rows : k;
  index_t j = 0;
  for (; j + columns <= n; j += columns)
    panel_rows_all<LhsTransposed, panel_gemm_traits<T>::panel_packets>(lhs, ld, rows, k, v + j, v_stride, m + j,
                                                                       m_stride);
  if (j < n) panel_rows_all<LhsTransposed, 1>(lhs, ld, rows, k, v + j, v_stride, m + j, m_stride);
}

}  // namespace detail
}  // namespace nst
