// nst/ops/detail/im2col.hpp — convolution patches as matrix columns (im2col) and back (col2im).
//
// A convolution becomes one matrix product once every kernel tap's input value is laid out as a
// column: col[(c*KH + kh)*KW + kw, pixel] = in[c, y*stride + kh - padding, x*stride + kw - padding]
// (0 in the padding), then out[o, pixel] = Σ_k weight[o, k] * col[k, pixel]. `im2col_tile`
// builds those columns and `col2im_tile_add`, its adjoint, adds columns back onto the input
// positions they came from (used for the input gradient).
//
// Both work on a range of output pixels [first, last) only: callers tile over pixels so the
// column buffer stays cache-sized however large the layer is.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "../../core/tensor.hpp"

namespace nst {
namespace detail {

// Rounding integer division for any sign of `a` (b > 0).
inline index_t floor_div(index_t a, index_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline index_t ceil_div(index_t a, index_t b) { return -floor_div(-a, b); }

// Along one axis, kernel tap k links output position u to input position u*stride + k - padding.
// The outputs whose input lies inside, u in [first_output, first_output + count), form one run;
// first_input is the input of u = first_output.
struct tap_run {
  index_t first_output, first_input, count;
};

inline std::vector<tap_run> tap_runs(index_t taps, index_t in_size, index_t out_size, index_t stride, index_t padding) {
  std::vector<tap_run> runs;
  for (index_t k = 0; k < taps; ++k) {
    const index_t lo = std::max<index_t>(0, ceil_div(padding - k, stride));
    const index_t hi = std::min<index_t>(out_size, floor_div(in_size - 1 + padding - k, stride) + 1);
    runs.push_back({lo, lo * stride + k - padding, std::max<index_t>(0, hi - lo)});
  }
  return runs;
}

// The layout shared by im2col_tile and col2im_tile_add: `channels` input planes of
// height x width, an output `out_width` wide, and the runs of each kernel row and column.
struct patch_layout {
  index_t channels, height, width, out_width, stride;
  std::vector<tap_run> row_runs, col_runs;

  index_t rows() const { return channels * static_cast<index_t>(row_runs.size() * col_runs.size()); }

  // Calls visit(col_offset, x0, x1, input_row, run) for each column-matrix row (in order) and
  // each piece [x0, x1) of one output row inside the pixel range [first, last): col_offset is
  // where output x0 sits in the row-major (rows() x (last - first)) column matrix, input_row
  // the input row the kernel row links to (nullptr in the padding), `run` the kernel column's run.
  template <class T, class Visit>
  void for_each_segment(T* input, index_t first, index_t last, Visit&& visit) const {
    const index_t width_of_tile = last - first;
    index_t row = 0;
    for (index_t c = 0; c < channels; ++c)
      for (const tap_run& rows : row_runs)
        for (const tap_run& cols : col_runs) {
          for (index_t p = first; p < last;) {
            const index_t y = p / out_width, x0 = p % out_width;
            const index_t x1 = std::min(out_width, x0 + (last - p));
            const bool inside = y >= rows.first_output && y < rows.first_output + rows.count;
            T* input_row =
                inside ? input + (c * height + rows.first_input + (y - rows.first_output) * stride) * width : nullptr;
            visit(row * width_of_tile + (p - first), x0, x1, input_row, cols);
            p += x1 - x0;
          }
          ++row;
        }
  }
};

// The outputs [lo, hi) of [x0, x1) that `run` links to an input.
inline std::pair<index_t, index_t> linked_part(index_t x0, index_t x1, const tap_run& run) {
  const index_t lo = std::clamp(run.first_output, x0, x1);
  return {lo, std::clamp(run.first_output + run.count, lo, x1)};
}

// Fills `col` (row-major, layout.rows() x (last - first)) with the patches of output pixels
// [first, last) of one batch item, `input` its channels x height x width values.
template <class T>
void im2col_tile(const patch_layout& layout, const T* input, index_t first, index_t last, T* col) {
  auto gather = [&](index_t offset, index_t x0, index_t x1, const T* input_row, const tap_run& run) {
    T* dst = col + offset;
    if (input_row == nullptr) {
      std::fill(dst, dst + (x1 - x0), T(0));
      return;
    }
    const auto [lo, hi] = linked_part(x0, x1, run);
    std::fill(dst, dst + (lo - x0), T(0));
    if (hi > lo) {
      const T* src = input_row + run.first_input + (lo - run.first_output) * layout.stride;
      if (layout.stride == 1) {
        std::copy(src, src + (hi - lo), dst + (lo - x0));
      } else {
        for (index_t x = lo; x < hi; ++x, src += layout.stride) dst[x - x0] = *src;
      }
    }
    std::fill(dst + (hi - x0), dst + (x1 - x0), T(0));
  };
  layout.for_each_segment(input, first, last, gather);
}

// The adjoint of im2col_tile: adds every entry of `col` onto the input element it would have been
// gathered from (entries of the padding are dropped).
template <class T>
void col2im_tile_add(const patch_layout& layout, const T* col, index_t first, index_t last, T* input) {
  auto scatter_add = [&](index_t offset, index_t x0, index_t x1, T* input_row, const tap_run& run) {
    const auto [lo, hi] = linked_part(x0, x1, run);
    if (input_row == nullptr || hi <= lo) return;
    const T* src = col + offset + (lo - x0);
    T* dst = input_row + run.first_input + (lo - run.first_output) * layout.stride;
    for (index_t x = lo; x < hi; ++x, dst += layout.stride) *dst += *src++;
  };
  layout.for_each_segment(input, first, last, scatter_add);
}

}  // namespace detail
}  // namespace nst
