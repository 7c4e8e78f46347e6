// nst/ops/detail/im2col.hpp — gathering convolution patches into matrix columns (im2col).
//
// A convolution becomes one matrix product once every kernel tap's input value is laid out as a
// column: col[(c*KH + kh)*KW + kw, pixel] = in[c, y*stride + kh - padding, x*stride + kw - padding]
// (0 outside the input) and then out[o, pixel] = Σ_k weight[o, k] * col[k, pixel].
//
// Along each axis, tap k links output position u and input position i = u*stride + k - padding.
// The same links read backwards give the transposed convolution (the input gradient): for input
// pixel i, tap k reads the output gradient at u = (i + padding - k) / stride when that is whole.
// A `gather_run` describes one tap's links along one axis in either direction, so a single
// gather, `im2col_tile`, serves the forward pass and the input gradient.
//
// `im2col_tile` fills only the columns of a range of target pixels: callers tile over pixels so
// the column buffer stays cache-sized however large the layer is.
#pragma once

#include <algorithm>
#include <vector>

#include "../../core/tensor.hpp"

namespace nst {
namespace detail {

// Rounding integer division for any sign of `a` (b > 0).
inline index_t floor_div(index_t a, index_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline index_t ceil_div(index_t a, index_t b) { return -floor_div(-a, b); }

// The links of one kernel tap along one axis: target j*target_step + target_first reads source
// j*source_step + source_first, for j in [0, count). Other targets read 0 (padding).
struct gather_run {
  index_t target_first = 0, target_step = 1;
  index_t source_first = 0, source_step = 1;
  index_t count = 0;
};

// The output positions u in [0, out_size) whose input position u*stride + tap - padding lies in
// [0, in_size) form one run; `forward` reads the input for each output position,
// `transposed` reads the output (gradient) for each input position.
struct tap_links {
  index_t first_output, first_input, count;
};
inline tap_links links_of_tap(index_t tap, index_t in_size, index_t out_size, index_t stride, index_t padding) {
  const index_t lo = std::max<index_t>(0, ceil_div(padding - tap, stride));
  const index_t hi = std::min<index_t>(out_size, floor_div(in_size - 1 + padding - tap, stride) + 1);
  return {lo, lo * stride + tap - padding, std::max<index_t>(0, hi - lo)};
}

inline std::vector<gather_run> forward_runs(index_t taps, index_t in_size, index_t out_size, index_t stride,
                                            index_t padding) {
  std::vector<gather_run> runs;
  for (index_t k = 0; k < taps; ++k) {
    const tap_links l = links_of_tap(k, in_size, out_size, stride, padding);
    runs.push_back({l.first_output, 1, l.first_input, stride, l.count});
  }
  return runs;
}

inline std::vector<gather_run> transposed_runs(index_t taps, index_t in_size, index_t out_size, index_t stride,
                                               index_t padding) {
  std::vector<gather_run> runs;
  for (index_t k = 0; k < taps; ++k) {
    const tap_links l = links_of_tap(k, in_size, out_size, stride, padding);
    runs.push_back({l.first_input, stride, l.first_output, 1, l.count});
  }
  return runs;
}

// Writes targets [x0, x1) of one row: dst[x - x0] = the source that `run` links to target x, or 0.
template <class T>
void gather_row(T* dst, index_t x0, index_t x1, const T* source_row, const gather_run& run) {
  if (run.target_step == 1) {
    const index_t lo = std::clamp(run.target_first, x0, x1);
    const index_t hi = std::clamp(run.target_first + run.count, lo, x1);
    std::fill(dst, dst + (lo - x0), T(0));
    if (hi > lo) {
      const T* src = source_row + run.source_first + (lo - run.target_first) * run.source_step;
      if (run.source_step == 1) {
        std::copy(src, src + (hi - lo), dst + (lo - x0));
      } else {
        for (index_t x = lo; x < hi; ++x, src += run.source_step) dst[x - x0] = *src;
      }
    }
    std::fill(dst + (hi - x0), dst + (x1 - x0), T(0));
    return;
  }
  std::fill(dst, dst + (x1 - x0), T(0));
  const index_t j_end = std::min(run.count, ceil_div(x1 - run.target_first, run.target_step));
  for (index_t j = std::max<index_t>(0, ceil_div(x0 - run.target_first, run.target_step)); j < j_end; ++j)
    dst[run.target_first + j * run.target_step - x0] = source_row[run.source_first + j * run.source_step];
}

// Fills `col`, a row-major (channels*row_runs.size()*col_runs.size()) x (last - first) matrix:
// column p - first belongs to target pixel p (row-major in a grid target_width wide), row
// (c*KH + kh)*KW + kw holds what taps (kh, kw) link that pixel to in source channel c.
// `source` is channels planes of source_height x source_width.
template <class T>
void im2col_tile(const T* source, index_t channels, index_t source_height, index_t source_width,
                 index_t target_width, const std::vector<gather_run>& row_runs,
                 const std::vector<gather_run>& col_runs, index_t first, index_t last, T* col) {
  const index_t width = last - first;
  const index_t kh_count = static_cast<index_t>(row_runs.size()), kw_count = static_cast<index_t>(col_runs.size());
  for (index_t c = 0; c < channels; ++c) {
    const T* plane = source + c * source_height * source_width;
    for (index_t kh = 0; kh < kh_count; ++kh) {
      const gather_run& rows = row_runs[static_cast<std::size_t>(kh)];
      for (index_t kw = 0; kw < kw_count; ++kw) {
        const gather_run& cols = col_runs[static_cast<std::size_t>(kw)];
        T* dst = col + ((c * kh_count + kh) * kw_count + kw) * width;
        for (index_t p = first; p < last;) {  // one target row segment at a time
          const index_t y = p / target_width, x0 = p % target_width;
          const index_t x1 = std::min(target_width, x0 + (last - p));
          const index_t offset = y - rows.target_first;
          const index_t j = offset / rows.target_step;
          if (offset < 0 || offset % rows.target_step != 0 || j >= rows.count) {
            std::fill(dst + (p - first), dst + (p - first) + (x1 - x0), T(0));
          } else {
            const T* source_row = plane + (rows.source_first + j * rows.source_step) * source_width;
            gather_row(dst + (p - first), x0, x1, source_row, cols);
          }
          p += x1 - x0;
        }
      }
    }
  }
}

}  // namespace detail
}  // namespace nst
