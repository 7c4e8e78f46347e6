// nst/core/tensor.hpp — owning, contiguous, aligned n-d storage.
//
// `nst::tensor<T>` is the one data container of nst: a row-major (C-order) block of T with a
// shape of rank 0..6. Images and activations are NCHW (batch, channels, height, width); batch 1
// is the common case but every op accepts N > 1. Storage is aligned for SIMD (Eigen's allocator)
// and always contiguous, so a tensor can be seen as an Eigen vector or matrix for free:
//
//   nst::tensor<float> x({1, 3, 4, 5});        // zero-filled
//   nst::tensor<float> y(x.shape(), nst::uninitialized);   // values unspecified: for outputs a
//                                                          // kernel writes in full
//   x.at(0, 2, 1, 3) = 1.0f;                    // NCHW element access
//   auto v = x.vector();                        // Eigen::Map of all 60 values
//   auto m = x.matrix(3, 20);                   // the same data as a 3x20 row-major matrix
//
// `nst::shape` is a small value type (no heap) so shapes can be compared and printed cheaply;
// errors print shapes as [1,3,4,5].
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cstddef>
#include <initializer_list>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "allocator.hpp"
#include "error.hpp"

namespace nst {

// The signed integer type of every size, index and dimension in nst.
using index_t = std::ptrdiff_t;

// The dimensions of a tensor: rank 0..max_rank, each >= 0, stored inline (no heap).
class shape {
 public:
  static constexpr int max_rank = 6;  // the largest rank a shape holds

  shape() = default;  // rank 0 (a scalar: one element)
  // shape({1, 3, 224, 224}). Throws value_error 201 (rank > max_rank), 202 (a negative dimension).
  shape(std::initializer_list<index_t> dims) {
    NST_CHECK(static_cast<int>(dims.size()) <= max_rank, value_error, 201,
              "shape: rank ", dims.size(), " exceeds the maximum rank ", max_rank);
    for (index_t d : dims) push_back(d);
  }
  // The dimensions in [first, last) (any integers). Throws as the list constructor.
  template <class It>
  shape(It first, It last) {
    for (; first != last; ++first) push_back(static_cast<index_t>(*first));
  }

  int rank() const noexcept { return rank_; }  // the number of dimensions
  // Dimension `axis` (0-based, unchecked: 0 <= axis < rank()).
  index_t operator[](int axis) const noexcept { return dims_[static_cast<std::size_t>(axis)]; }
  index_t& operator[](int axis) noexcept { return dims_[static_cast<std::size_t>(axis)]; }
  // The dimensions as a range, outermost first.
  const index_t* begin() const noexcept { return dims_.data(); }
  const index_t* end() const noexcept { return dims_.data() + rank_; }

  // Number of elements (1 for rank 0).
  index_t numel() const noexcept {
    index_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }

  // Appends a dimension. Throws value_error 201 (already max_rank) or 202 (d < 0).
  void push_back(index_t d) {
    NST_CHECK(rank_ < max_rank, value_error, 201, "shape: rank exceeds the maximum rank ",
              max_rank);
    NST_CHECK(d >= 0, value_error, 202, "shape: dimension ", rank_, " is negative (", d, ")");
    dims_[static_cast<std::size_t>(rank_++)] = d;
  }

  // Same rank and the same dimensions.
  friend bool operator==(const shape& a, const shape& b) noexcept {
    return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const shape& a, const shape& b) noexcept { return !(a == b); }

  // "[1,3,4,5]", as error messages print shapes (also through operator<<).
  std::string str() const {
    std::ostringstream out;
    out << '[';
    for (int i = 0; i < rank_; ++i) out << (i ? "," : "") << dims_[static_cast<std::size_t>(i)];
    out << ']';
    return out.str();
  }
  friend std::ostream& operator<<(std::ostream& out, const shape& s) { return out << s.str(); }

 private:
  std::array<index_t, max_rank> dims_{};
  int rank_ = 0;
};

// Tag for tensors whose elements are written before they are read (tensor(shape, uninitialized)).
struct uninitialized_t {};
inline constexpr uninitialized_t uninitialized{};

// An owning, contiguous, row-major n-d array of T (float or double for the ops), aligned for
// SIMD. Element access is unchecked; shape mismatches in views throw shape_error 103/104.
template <class T>
class tensor {
  static_assert(std::is_arithmetic<T>::value,
                "nst::tensor<T>: T must be an arithmetic type (float or double for the ops)");

 public:
  using value_type = T;
  // The storage (its resize(n) leaves new elements uninitialised) and the Eigen views of it
  // (vector(), matrix()).
  using storage_type = std::vector<T, uninitialized_allocator<T>>;
  using vector_map = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>, Eigen::Aligned16>;
  using const_vector_map = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>, Eigen::Aligned16>;
  using row_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using matrix_map = Eigen::Map<row_matrix>;
  using const_matrix_map = Eigen::Map<const row_matrix>;

  tensor() = default;  // rank 0 and empty (no elements): the "no tensor" value
  // A tensor of shape `s` (or of the dimensions `dims`) with every element `fill`.
  explicit tensor(const nst::shape& s, T fill = T(0))
      : shape_(s), data_(static_cast<std::size_t>(s.numel()), fill) {}
  tensor(std::initializer_list<index_t> dims, T fill = T(0)) : tensor(nst::shape(dims), fill) {}
  // A tensor of shape `s` whose values are unspecified until written (no zeroing pass).
  tensor(const nst::shape& s, uninitialized_t) : shape_(s), data_(static_cast<std::size_t>(s.numel())) {}
  // Copies `values` (row-major) into a tensor of shape `s`. Throws shape_error 102 unless
  // values.size() == s.numel().
  tensor(const nst::shape& s, const std::vector<T>& values) : shape_(s), data_(values.begin(), values.end()) {
    NST_CHECK(static_cast<index_t>(values.size()) == s.numel(), shape_error, 102,
              "tensor: ", values.size(), " values do not fill shape ", s, " (", s.numel(),
              " elements)");
  }

  const nst::shape& shape() const noexcept { return shape_; }
  int rank() const noexcept { return shape_.rank(); }
  index_t dim(int axis) const noexcept { return shape_[axis]; }  // unchecked: 0 <= axis < rank()
  index_t size() const noexcept { return static_cast<index_t>(data_.size()); }  // number of elements
  bool empty() const noexcept { return data_.empty(); }  // no elements (default-constructed, or a 0 dimension)

  // The elements in row-major order, as a pointer or an iterator range.
  T* data() noexcept { return data_.data(); }
  const T* data() const noexcept { return data_.data(); }
  T* begin() noexcept { return data_.data(); }
  T* end() noexcept { return data_.data() + data_.size(); }
  const T* begin() const noexcept { return data_.data(); }
  const T* end() const noexcept { return data_.data() + data_.size(); }

  // Element i of the row-major data, unchecked (0 <= i < size()).
  T& operator[](index_t i) noexcept { return data_[static_cast<std::size_t>(i)]; }
  const T& operator[](index_t i) const noexcept { return data_[static_cast<std::size_t>(i)]; }

  // Element access for rank-4 (NCHW) tensors; unchecked like operator[].
  T& at(index_t n, index_t c, index_t h, index_t w) noexcept { return data_[offset(n, c, h, w)]; }
  const T& at(index_t n, index_t c, index_t h, index_t w) const noexcept {
    return data_[offset(n, c, h, w)];
  }

  // Same data, new shape with the same number of elements.
  tensor& reshape(const nst::shape& s) {
    NST_CHECK(s.numel() == size(), shape_error, 103, "tensor::reshape: cannot view ", shape_,
              " (", size(), " elements) as ", s, " (", s.numel(), " elements)");
    shape_ = s;
    return *this;
  }

  // Sets every element to `value`.
  void fill(T value) { std::fill(data_.begin(), data_.end(), value); }
  // Gives this tensor shape `s`, reusing its memory when it is large enough; values are unspecified.
  void resize(const nst::shape& s) {
    data_.resize(static_cast<std::size_t>(s.numel()));
    shape_ = s;
  }

  // All elements as an Eigen column vector (no copy).
  vector_map vector() noexcept { return vector_map(data(), size()); }
  const_vector_map vector() const noexcept { return const_vector_map(data(), size()); }
  // The data as a rows x cols row-major Eigen matrix (no copy). Throws shape_error 104 unless
  // rows * cols == size().
  matrix_map matrix(index_t rows, index_t cols) {
    check_matrix(rows, cols);
    return matrix_map(data(), rows, cols);
  }
  const_matrix_map matrix(index_t rows, index_t cols) const {
    check_matrix(rows, cols);
    return const_matrix_map(data(), rows, cols);
  }

  // A copy with every element converted to U (static_cast).
  template <class U>
  tensor<U> cast() const {
    tensor<U> out(shape_);
    std::transform(begin(), end(), out.begin(), [](T v) { return static_cast<U>(v); });
    return out;
  }

 private:
  std::size_t offset(index_t n, index_t c, index_t h, index_t w) const noexcept {
    return static_cast<std::size_t>(((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w);
  }
  void check_matrix(index_t rows, index_t cols) const {
    NST_CHECK(rows * cols == size(), shape_error, 104, "tensor::matrix: cannot view ", shape_,
              " as a ", rows, "x", cols, " matrix");
  }

  nst::shape shape_;
  storage_type data_;
};

// Raises shape_error 101 unless `t` has exactly rank `rank`; `what` names the caller and argument.
template <class T>
void expect_rank(const tensor<T>& t, int rank, const char* what) {
  NST_CHECK(t.rank() == rank, shape_error, 101, what, ": expected a rank-", rank,
            " tensor, got shape ", t.shape());
}

// Raises shape_error 105 unless `a` and `b` have the same shape.
template <class T, class U>
void expect_same_shape(const tensor<T>& a, const tensor<U>& b, const char* what) {
  NST_CHECK(a.shape() == b.shape(), shape_error, 105, what, ": shapes differ, ", a.shape(),
            " vs ", b.shape());
}

}  // namespace nst
