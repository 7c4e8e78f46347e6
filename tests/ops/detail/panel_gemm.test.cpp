#include <cstring>
#include <nst/ops/detail/panel_gemm.hpp>
#include <vector>

#include "../../support/support.hpp"

namespace {

using nst::index_t;

template <class T>
using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

TEMPLATE_TEST_CASE("panel_gemm: equals the matrix product, L given or transposed, any row count", "[ops][gemm]", float,
                   double) {
  using T = TestType;
  constexpr index_t panel = nst::detail::panel_columns<T>, packet = nst::detail::panel_gemm_traits<T>::width;
  const double tolerance = std::is_same<T, float>::value ? 1e-5 : 1e-13;
  // Row counts below, at and past the register blocks of 6 and 8 rows (and their halves for the
  // rows left over); k from 1 up; panels of two packets, one packet alone, and panels of four
  // packets followed by one of two (3 * panel) or of one (2 * panel + packet).
  for (const index_t rows : {1, 5, 7, 8, 9, 64})
    for (const index_t k : {1, 5, 64})
      for (const index_t n : {panel, 3 * panel, packet, 2 * panel + packet}) {
        INFO(rows << " x " << k << " times " << k << " x " << n);
        const matrix<T> lhs = matrix<T>::Random(rows, k), v = matrix<T>::Random(k, n);
        const matrix<T> lhs_transposed = lhs.transpose();
        const matrix<T> want = lhs * v;
        matrix<T> m(rows, n), mt(rows, n);
        nst::detail::panel_gemm<false>(lhs.data(), rows, k, v.data(), n, n, m.data(), n);
        nst::detail::panel_gemm<true>(lhs_transposed.data(), rows, k, v.data(), n, n, mt.data(), n);
        const double scale = want.cwiseAbs().maxCoeff();
        CHECK((m - want).cwiseAbs().maxCoeff() / scale < tolerance);
        CHECK((mt - want).cwiseAbs().maxCoeff() / scale < tolerance);
      }
}

TEST_CASE("panel_gemm: a column's result does not depend on the other columns", "[ops][gemm]") {
  // The Winograd blocks rely on it: the same tile gives the same bits in a block of any width.
  constexpr index_t panel = nst::detail::panel_columns<float>;
  const index_t rows = 19, k = 37;
  const matrix<float> lhs = matrix<float>::Random(rows, k), wide = matrix<float>::Random(k, 4 * panel);
  const matrix<float> narrow = wide.rightCols(panel);
  matrix<float> m_wide(rows, 4 * panel), m_narrow(rows, panel);
  nst::detail::panel_gemm<false>(lhs.data(), rows, k, wide.data(), 4 * panel, 4 * panel, m_wide.data(), 4 * panel);
  nst::detail::panel_gemm<false>(lhs.data(), rows, k, narrow.data(), panel, panel, m_narrow.data(), panel);
  const matrix<float> last = m_wide.rightCols(panel);
  CHECK(std::memcmp(last.data(), m_narrow.data(), sizeof(float) * rows * panel) == 0);
  CHECK(nst::detail::round_up(33, 32) == 64);
  CHECK(nst::detail::round_up(64, 32) == 64);
}

TEST_CASE("panel_gemm: columns of wider matrices, rows a stride apart", "[ops][gemm]") {
  // gram_backward's use: a range of pixel columns of F [C, pixels] into the same columns of dF.
  constexpr index_t panel = nst::detail::panel_columns<float>;
  const index_t rows = 13, k = 13, width = 5 * panel + 7, first = panel + 3, n = 3 * panel;
  const matrix<float> lhs = matrix<float>::Random(rows, k), v = matrix<float>::Random(k, width);
  matrix<float> m = matrix<float>::Constant(rows, width, 42.0f);
  nst::detail::panel_gemm<false>(lhs.data(), rows, k, v.data() + first, width, n, m.data() + first, width);
  const matrix<float> want = lhs * v.middleCols(first, n);
  CHECK((m.middleCols(first, n) - want).cwiseAbs().maxCoeff() / want.cwiseAbs().maxCoeff() < 1e-5);
  // Nothing outside those columns is written.
  CHECK((m.leftCols(first).array() == 42.0f).all());
  CHECK((m.rightCols(width - first - n).array() == 42.0f).all());
  // An odd number of packets ends with a panel of one packet, which writes no further either.
  const index_t odd = 2 * panel + panel / 2;
  matrix<float> m_odd = matrix<float>::Constant(rows, width, 42.0f);
  nst::detail::panel_gemm<false>(lhs.data(), rows, k, v.data() + first, width, odd, m_odd.data() + first, width);
  const matrix<float> want_odd = lhs * v.middleCols(first, odd);
  CHECK((m_odd.middleCols(first, odd) - want_odd).cwiseAbs().maxCoeff() / want_odd.cwiseAbs().maxCoeff() < 1e-5);
  CHECK((m_odd.rightCols(width - first - odd).array() == 42.0f).all());
}
