// nst/interop/eigen.hpp — nst tensors as Eigen matrices, and Eigen matrices as nst tensors.
//
// An nst::tensor<T> is one contiguous row-major block, so Eigen can look at it without copying.
// core/tensor.hpp already gives the two basic views:
//
//   t.vector()               Eigen::Map of all elements, a column vector (aligned)
//   t.matrix(rows, cols)     the same elements as a rows x cols row-major matrix
//
// This header adds the views that follow an NCHW tensor's meaning, and copies in both directions:
//
//   nst::tensor<float> f({1, 64, 32, 32});
//   auto F = nst::channel_matrix(f, 0);          // 64 x 1024 map: one row per channel (no copy)
//   Eigen::MatrixXf G = F * F.transpose();       // what nst::gram computes, unnormalised
//   auto red = nst::image_plane(image, 0, 0);    // H x W map of channel 0 of batch item 0
//
//   Eigen::MatrixXd m = Eigen::MatrixXd::Random(3, 4);        // column-major, Eigen's default
//   nst::tensor<double> t = nst::from_eigen(m);               // [3,4], t[i*4 + j] == m(i, j)
//   nst::tensor<double> v = nst::from_eigen(m, {2, 6});       // the same 12 values, row-major order
//   Eigen::MatrixXd back = nst::to_eigen(t);                  // == m
//
// Copies go by (row, column) index, never by memory order, so Eigen's storage order (column-
// major unless you ask for RowMajor) never reorders values. Maps share the tensor's memory:
// they stay valid while the tensor lives and is not resized.
#pragma once

#include <Eigen/Core>

#include "../core/tensor.hpp"

namespace nst {
namespace detail {

// Checks that `t` is [N,C,H,W] and 0 <= n < N (and 0 <= c < C when c >= 0); value_error 281.
template <class T>
void check_nchw_index(const tensor<T>& t, index_t n, index_t c, const char* function) {
  expect_rank(t, 4, function);
  NST_CHECK(n >= 0 && n < t.dim(0), value_error, 281, function, ": batch index ", n, " is outside the tensor ",
            t.shape());
  NST_CHECK(c >= -1 && c < t.dim(1), value_error, 281, function, ": channel ", c, " is outside the tensor ",
            t.shape());
}

}  // namespace detail

// Batch item n of an [N,C,H,W] tensor as the C x (H*W) row-major matrix F of the Gram matrix
// (row c = channel c, pixels in row-major order). No copy. Throws value_error 281 unless t is
// rank 4 and 0 <= n < N.
template <class T>
typename tensor<T>::matrix_map channel_matrix(tensor<T>& t, index_t n) {
  detail::check_nchw_index(t, n, -1, "channel_matrix");
  const index_t rows = t.dim(1), cols = t.dim(2) * t.dim(3);
  return typename tensor<T>::matrix_map(t.data() + n * rows * cols, rows, cols);
}
// The same, read-only.
template <class T>
typename tensor<T>::const_matrix_map channel_matrix(const tensor<T>& t, index_t n) {
  detail::check_nchw_index(t, n, -1, "channel_matrix");
  const index_t rows = t.dim(1), cols = t.dim(2) * t.dim(3);
  return typename tensor<T>::const_matrix_map(t.data() + n * rows * cols, rows, cols);
}

// Channel c of batch item n of an [N,C,H,W] tensor as an H x W row-major matrix. No copy.
// Throws value_error 281 unless t is rank 4, 0 <= n < N and 0 <= c < C.
template <class T>
typename tensor<T>::matrix_map image_plane(tensor<T>& t, index_t n, index_t c) {
  detail::check_nchw_index(t, n, c, "image_plane");
  return typename tensor<T>::matrix_map(&t.at(n, c, 0, 0), t.dim(2), t.dim(3));
}
// The same, read-only.
template <class T>
typename tensor<T>::const_matrix_map image_plane(const tensor<T>& t, index_t n, index_t c) {
  detail::check_nchw_index(t, n, c, "image_plane");
  return typename tensor<T>::const_matrix_map(&t.at(n, c, 0, 0), t.dim(2), t.dim(3));
}

// A [rows, cols] tensor holding m(i, j) at i * cols + j, whatever m's storage order.
template <class Derived>
tensor<typename Derived::Scalar> from_eigen(const Eigen::DenseBase<Derived>& m) {
  using T = typename Derived::Scalar;
  tensor<T> out({static_cast<index_t>(m.rows()), static_cast<index_t>(m.cols())});
  out.matrix(m.rows(), m.cols()) = m;
  return out;
}

// The values of m in row-major order (m(0,0), m(0,1), ...) as a tensor of shape `s`;
// shape_error 184 unless s has exactly m.size() elements.
template <class Derived>
tensor<typename Derived::Scalar> from_eigen(const Eigen::DenseBase<Derived>& m, const shape& s) {
  NST_CHECK(s.numel() == static_cast<index_t>(m.size()), shape_error, 184, "from_eigen: a ", m.rows(), "x", m.cols(),
            " matrix (", m.size(), " values) does not fill shape ", s, " (", s.numel(), " elements)");
  tensor<typename Derived::Scalar> out = from_eigen(m);
  out.reshape(s);
  return out;
}

// A rank-2 tensor [rows, cols] copied into an Eigen matrix (column-major, Eigen's default);
// shape_error 101 for other ranks (use t.matrix(rows, cols) to choose the shape).
template <class T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> to_eigen(const tensor<T>& t) {
  expect_rank(t, 2, "to_eigen");
  return t.matrix(t.dim(0), t.dim(1));
}

}  // namespace nst
