// nst/ops/detail/lane_runs.hpp — moving a row of tiles between the image's layout and one
// register per tile column, with AVX-512 permutes.
//
// The Winograd transforms work on 16 neighbouring tiles of one tile row at once, one tile per
// lane of a 16-float register. In the image, tile l's column j of a row lies at row[M*l + j]:
// 16 runs of M values. Going between the two layouts is a transpose of a 16 x M matrix:
//
//   deinterleave: out[j][l] = row[M*l + j]      (j < M, l < 16; reads row[0 .. 16M))
//   interleave:   row[M*l + j] = in[j][l]       (writes row[0 .. 16M))
//
// Written as loops, GCC turned these into one scalar load or store and an insert per value
// (perf annotate: the scalar loads were the hottest instructions of the F(6x6) input transform,
// which was 45% of conv1_2's forward at 512 px on an Intel Xeon). Here the 16M values are M
// registers, and each output register is assembled from pairs of input registers with
// vpermt2ps (each picks any 16 of 32 values) and blends: M/2 permutes a register. Only data
// moves, so the results are bit for bit those of the loops. For M = 4 and 6 (F(4x4), F(6x6)) and
// float on AVX-512; `lane_runs_available` tells the callers when to use these instead of loops.
//
// Tile groups at the image's edges, and a ReLU's gate on the gradient, take part of a run only:
// the overloads with a `run_mask` read, write or add only the values whose bit is set (reading
// zeros for the others), with masked loads and stores, so that the callers need no padded copy
// of the row (one core, 64 channels at 512 px: the input transform 21.8 -> 21.2 ms, the output
// transform 19.0 -> 18.2). `load_used_lanes` and `store_used_lanes` move the lanes of a group of
// fewer than 16 tiles (at the end of a tile row or a block) in one masked move.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

// Full unrolling of the transform loops, so that the zero test on each constant folds away
// (GCC; other compilers unroll what they judge worth it).
#if defined(__GNUC__) && !defined(__clang__)
#define NST_WINOGRAD_UNROLL _Pragma("GCC unroll 8")
#else
#define NST_WINOGRAD_UNROLL
#endif

namespace nst {
namespace detail {

#if defined(__AVX512F__)
template <class T, int M, int Lanes>
constexpr bool lane_runs_available = (std::is_same<T, float>::value) && Lanes == 16 && (M == 4 || M == 6);
#else
template <class T, int M, int Lanes>
constexpr bool lane_runs_available = false;
#endif

// Which values of a row run take part: bit k for value k (k < 128; a run has at most 16M + 2).
struct run_mask {
  std::uint64_t bits[2] = {0, 0};

  // Values begin .. end-1 (clipped to 0 .. 128).
  static run_mask values(std::int64_t begin, std::int64_t end) {
    run_mask mask;
    for (int word = 0; word < 2; ++word) {
      const std::int64_t from = std::clamp<std::int64_t>(begin - 64 * word, 0, 64),
                         to = std::clamp<std::int64_t>(end - 64 * word, 0, 64);
      if (from < to)
        mask.bits[word] = (to - from == 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << (to - from)) - 1) << from;
    }
    return mask;
  }
  // The values of this mask whose gate bit is also set (gate_low's bit k: value k; gate_high's:
  // value 64 + k).
  run_mask gated(std::uint64_t gate_low, std::uint64_t gate_high) const {
    run_mask mask = *this;
    mask.bits[0] &= gate_low;
    mask.bits[1] &= gate_high;
    return mask;
  }
  bool operator[](int k) const { return (bits[k / 64] >> (k % 64)) & 1u; }
  // The 16 bits of values 16r .. 16r+15.
  unsigned sixteen(int r) const { return static_cast<unsigned>(bits[r / 4] >> (16 * (r % 4))) & 0xFFFFu; }
};

#if defined(__AVX512F__)

// How one output register is assembled from input registers taken in pairs (2p, 2p+1):
// index[p][lane] is the lane's place in pair p (0..31), mask[p] the lanes that pair p supplies.
template <int Pairs>
struct lane_permutation {
  std::array<std::array<int, 16>, Pairs> index{};
  std::array<unsigned, Pairs> mask{};
};

// Deinterleave, output column j: lane l takes value e = M*l + j, which lies in register e / 16,
// that is in pair e / 32 at place e % 32.
template <int M>
constexpr std::array<lane_permutation<M / 2>, M> deinterleave_permutations() {
  std::array<lane_permutation<M / 2>, M> table{};
  for (int j = 0; j < M; ++j)
    for (int l = 0; l < 16; ++l) {
      const int e = M * l + j;
      table[j].index[e / 32][l] = e % 32;
      table[j].mask[e / 32] |= 1u << l;
    }
  return table;
}

// Interleave, output register k: lane i holds value e = 16k + i, tile l = e / M's column
// j = e % M, which lies in input register j, that is in pair j / 2 at place (j % 2) * 16 + l.
template <int M>
constexpr std::array<lane_permutation<M / 2>, M> interleave_permutations() {
  std::array<lane_permutation<M / 2>, M> table{};
  for (int k = 0; k < M; ++k)
    for (int i = 0; i < 16; ++i) {
      const int e = 16 * k + i, j = e % M, l = e / M;
      table[k].index[j / 2][i] = j % 2 * 16 + l;
      table[k].mask[j / 2] |= 1u << i;
    }
  return table;
}

// One output register from the M input registers `in`, by the permutation `p`.
template <int M>
inline __m512 permute_lanes(const __m512 (&in)[M], const lane_permutation<M / 2>& p) {
  __m512 result = _mm512_setzero_ps();
  for (std::size_t pair = 0; pair < M / 2; ++pair) {  // every lane comes from exactly one pair
    const __m512i index = _mm512_loadu_si512(p.index[pair].data());
    const __m512 picked = _mm512_permutex2var_ps(in[2 * pair], index, in[2 * pair + 1]);
    result = _mm512_mask_mov_ps(result, static_cast<__mmask16>(p.mask[pair]), picked);
  }
  return result;
}

// out[j] = the 16 values row[M*l + j], l < 16, for j < M; 0 where `valid` has no bit (those
// places are not read).
template <int M>
inline void deinterleave_lanes(const float* row, const run_mask& valid, __m512 (&out)[M]) {
  static constexpr auto permutations = deinterleave_permutations<M>();
  __m512 in[M];
  for (int k = 0; k < M; ++k) in[k] = _mm512_maskz_loadu_ps(static_cast<__mmask16>(valid.sixteen(k)), row + 16 * k);
  for (int j = 0; j < M; ++j) out[j] = permute_lanes<M>(in, permutations[static_cast<std::size_t>(j)]);
}

// out[k] lane i = in[j] lane l where 16k + i = M*l + j: the 16 runs of M values, in order.
template <int M>
inline void interleave_lanes(const __m512 (&in)[M], __m512 (&out)[M]) {
  static constexpr auto permutations = interleave_permutations<M>();
  for (int k = 0; k < M; ++k) out[k] = permute_lanes<M>(in, permutations[static_cast<std::size_t>(k)]);
}

// The overlap masks of add_row_run: the lanes of output register k that hold a column j < Extra
// of a tile l >= 1 (where the previous tile's columns M.. land).
template <int M, int Extra>
constexpr std::array<unsigned, M> overlap_masks() {
  std::array<unsigned, M> masks{};
  for (int k = 0; k < M; ++k)
    for (int i = 0; i < 16; ++i) {
      const int e = 16 * k + i;
      if (e % M < Extra && e / M >= 1) masks[k] |= 1u << i;
    }
  return masks;
}

#endif  // __AVX512F__

// Row runs of a window row (Cols = M + 2 columns: a tile's window overlaps the next one's by two)
// or of an output row (Cols = M): lane l's column j lies at row[M*l + j].

// out[j][l] = row[M*l + j] for j < Cols where valid[M*l + j], else 0; reads only those places
// (`row` may point before the image: the places outside it have no bit).
template <int M, int Lanes, int Cols, class T>
inline void load_row_run(const T* row, const run_mask& valid, T (&out)[Cols][Lanes]) {
#if defined(__AVX512F__)
  if constexpr (lane_runs_available<T, M, Lanes>) {
    __m512 columns[M];
    deinterleave_lanes<M>(row, valid, columns);
    for (int j = 0; j < M; ++j) _mm512_storeu_ps(out[j], columns[j]);
    // Columns M.. are the next lane's columns 0..: shifted down a lane, the last lane's after the runs.
    for (int j = M; j < Cols; ++j) {
      const int last = 16 * M + j - M;
      const __m512i after = _mm512_castps_si512(_mm512_set1_ps(valid[last] ? row[last] : 0.0f));
      _mm512_storeu_ps(out[j], _mm512_castsi512_ps(_mm512_alignr_epi32(after, _mm512_castps_si512(columns[j - M]), 1)));
    }
    return;
  }
#endif
  for (int l = 0; l < Lanes; ++l)
    for (int j = 0; j < Cols; ++j) out[j][l] = valid[M * l + j] ? row[M * l + j] : T(0);
}

// out[j][l] = row[M*l + j] for j < Cols (reads row[0 .. 16M + Cols - M)).
template <int M, int Lanes, int Cols, class T>
inline void load_row_run(const T* row, T (&out)[Cols][Lanes]) {
#if defined(__AVX512F__)
  if constexpr (lane_runs_available<T, M, Lanes>) {
    load_row_run<M>(row, run_mask::values(0, 128), out);
    return;
  }
#endif
  // The loops run over lanes outside and a tile's columns inside, so that GCC sees groups of
  // interleaved accesses (columns outside gave one scalar move per value).
  for (int l = 0; l < Lanes; ++l) {
    NST_WINOGRAD_UNROLL
    for (int j = 0; j < M; ++j) out[j][l] = row[M * l + j];
  }
  for (int l = 0; l < Lanes; ++l) {
    NST_WINOGRAD_UNROLL
    for (int j = M; j < Cols; ++j) out[j][l] = row[M * l + j];
  }
}

// row[M*l + j] = in[j][l] for j < M where valid[M*l + j]; the other places are not touched.
template <int M, int Lanes, class T>
inline void store_row_run(const T (&in)[M][Lanes], const run_mask& valid, T* row) {
#if defined(__AVX512F__)
  if constexpr (lane_runs_available<T, M, Lanes>) {
    __m512 columns[M], runs[M];
    for (int j = 0; j < M; ++j) columns[j] = _mm512_loadu_ps(in[j]);
    interleave_lanes<M>(columns, runs);
    for (int k = 0; k < M; ++k) _mm512_mask_storeu_ps(row + 16 * k, static_cast<__mmask16>(valid.sixteen(k)), runs[k]);
    return;
  }
#endif
  for (int l = 0; l < Lanes; ++l)
    for (int j = 0; j < M; ++j)
      if (valid[M * l + j]) row[M * l + j] = in[j][l];
}

// row[M*l + j] = in[j][l] for j < M.
template <int M, int Lanes, class T>
inline void store_row_run(const T (&in)[M][Lanes], T* row) {
#if defined(__AVX512F__)
  if constexpr (lane_runs_available<T, M, Lanes>) {
    store_row_run<M>(in, run_mask::values(0, 128), row);
    return;
  }
#endif
  for (int l = 0; l < Lanes; ++l) {
    NST_WINOGRAD_UNROLL
    for (int j = 0; j < M; ++j) row[M * l + j] = in[j][l];
  }
}

// row[M*l + j] += in[j][l] for j < Cols where valid[M*l + j]: first the columns M.. (which overlap
// the next lane's first ones), then columns 0..M-1, so that no vector adds a place twice and every
// place gets its values in the same order on every path. Places without a bit are not touched.
template <int M, int Lanes, int Cols, class T>
inline void add_row_run(const T (&in)[Cols][Lanes], const run_mask& valid, T* row) {
#if defined(__AVX512F__)
  if constexpr (lane_runs_available<T, M, Lanes> && Cols - M <= M) {
    constexpr int extra = Cols - M;
    static constexpr auto masks = overlap_masks<M, extra>();
    __m512 columns[M];
    for (int j = 0; j < M; ++j)  // column j < extra: the previous lane's column M + j, one lane up
      columns[j] = j < extra ? _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_loadu_ps(in[M + j])),
                                                                       _mm512_setzero_si512(), 15))
                             : _mm512_setzero_ps();
    __m512 runs[M];
    interleave_lanes<M>(columns, runs);
    for (int j = 0; j < extra; ++j)  // the last lane's, after the runs
      if (valid[16 * M + j]) row[16 * M + j] += in[M + j][15];
    for (int k = 0; k < M; ++k) {
      const auto overlap = static_cast<__mmask16>(masks[static_cast<std::size_t>(k)] & valid.sixteen(k));
      const __m512 place = _mm512_maskz_loadu_ps(overlap, row + 16 * k);
      _mm512_mask_storeu_ps(row + 16 * k, overlap, _mm512_add_ps(place, runs[k]));
    }
    for (int j = 0; j < M; ++j) columns[j] = _mm512_loadu_ps(in[j]);
    interleave_lanes<M>(columns, runs);
    for (int k = 0; k < M; ++k) {
      const auto inside = static_cast<__mmask16>(valid.sixteen(k));
      _mm512_mask_storeu_ps(row + 16 * k, inside, _mm512_add_ps(_mm512_maskz_loadu_ps(inside, row + 16 * k), runs[k]));
    }
    return;
  }
#endif
  for (int l = 0; l < Lanes; ++l)
    for (int j = M; j < Cols; ++j)
      if (valid[M * l + j]) row[M * l + j] += in[j][l];
  for (int l = 0; l < Lanes; ++l)
    for (int j = 0; j < M; ++j)
      if (valid[M * l + j]) row[M * l + j] += in[j][l];
}

// row[M*l + j] += in[j][l] for j < Cols, in the order of the masked overload.
template <int M, int Lanes, int Cols, class T>
inline void add_row_run(const T (&in)[Cols][Lanes], T* row) {
#if defined(__AVX512F__)
  if constexpr (lane_runs_available<T, M, Lanes> && Cols - M <= M) {
    add_row_run<M>(in, run_mask::values(0, 128), row);
    return;
  }
#endif
  for (int l = 0; l < Lanes; ++l) {
    NST_WINOGRAD_UNROLL
    for (int j = M; j < Cols; ++j) row[M * l + j] += in[j][l];
  }
  for (int l = 0; l < Lanes; ++l) {
    NST_WINOGRAD_UNROLL
    for (int j = 0; j < M; ++j) row[M * l + j] += in[j][l];
  }
}

// A tile group of `used` < Lanes tiles (at the end of a tile row or of a block): out[l] = from[l]
// for l < used, 0 after; and to[l] = in[l] for l < used, the places after untouched. One masked
// move for 16 floats with AVX-512 (GCC compiled the loops to one scalar move per lane, behind a
// branch on `used`: a sixth of the tile groups of conv1_2's input gradient at 512 px).
template <int Lanes, class T>
inline void load_used_lanes(const T* from, int used, T (&out)[Lanes]) {
#if defined(__AVX512F__)
  if constexpr (std::is_same<T, float>::value && Lanes == 16) {
    _mm512_storeu_ps(out, _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << used) - 1), from));
    return;
  }
#endif
  for (int l = 0; l < Lanes; ++l) out[l] = l < used ? from[l] : T(0);
}

template <int Lanes, class T>
inline void store_used_lanes(const T (&in)[Lanes], int used, T* to) {
#if defined(__AVX512F__)
  if constexpr (std::is_same<T, float>::value && Lanes == 16) {
    _mm512_mask_storeu_ps(to, static_cast<__mmask16>((1u << used) - 1), _mm512_loadu_ps(in));
    return;
  }
#endif
  for (int l = 0; l < Lanes; ++l)
    if (l < used) to[l] = in[l];
}

}  // namespace detail
}  // namespace nst
