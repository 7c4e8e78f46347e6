// nst/core/parallel.hpp — the only place in nst that touches OpenMP.
//
// Kernels express their parallel loops with `parallel_for(begin, end, body)`, where
// `body(first, last)` processes the half-open range [first, last). With OpenMP (the default,
// CMake option NST_USE_OPENMP) the range is split into one contiguous chunk per thread; without
// it, or inside an already parallel region (nst never nests parallelism), the body runs once
// over the whole range. Chunks depend only on the range and the thread count, so results that
// combine per-chunk partial sums are reproducible for a given thread count.
//
// Starting a team of threads costs microseconds on a quiet machine and milliseconds on a loaded
// one (the threads spin, waiting for cores), so a loop worth less than `parallel_grain`
// operations per thread runs on the calling thread alone. Callers say what one item costs:
//
//   nst::parallel_for(0, planes, body, nst::grain_items(pixels_per_plane));   // tiny planes: serial
//
// Eigen's own GEMM parallelism is switched off (EIGEN_DONT_PARALLELIZE, set by the nst CMake
// target) so that there is exactly one level of threads: nst's.
#pragma once

#include <algorithm>
#include <cstddef>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace nst {

// Threads nst uses for its parallel loops (1 without OpenMP).
inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Sets the thread count for nst's parallel loops (ignored without OpenMP); n < 1 means 1.
inline void set_num_threads(int n) {
#if defined(_OPENMP)
  omp_set_num_threads(std::max(1, n));
#else
  (void)n;
#endif
}

// Work, in simple operations (an add, a compare), worth handing to a thread of its own.
inline constexpr std::ptrdiff_t parallel_grain = std::ptrdiff_t(1) << 15;

// The smallest number of items worth a thread when each costs about `work_per_item` operations
// (at least 1): the `min_chunk` argument of parallel_for.
inline std::ptrdiff_t grain_items(std::ptrdiff_t work_per_item) {
  const std::ptrdiff_t work = std::max<std::ptrdiff_t>(1, work_per_item);
  return (parallel_grain + work - 1) / work;
}

// Calls body(first, last) on disjoint chunks covering [begin, end), in parallel when possible.
// `min_chunk` is the smallest range worth handing to a thread (see grain_items): a range shorter
// than two chunks runs as one call on the calling thread.
template <class Body>
void parallel_for(std::ptrdiff_t begin, std::ptrdiff_t end, Body&& body, std::ptrdiff_t min_chunk = 1) {
  const std::ptrdiff_t count = end - begin;
  if (count <= 0) return;
#if defined(_OPENMP)
  const std::ptrdiff_t max_useful = std::max<std::ptrdiff_t>(1, count / std::max<std::ptrdiff_t>(1, min_chunk));
  const int threads = static_cast<int>(std::min<std::ptrdiff_t>(omp_get_max_threads(), max_useful));
  if (threads > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(threads)
    {
      const std::ptrdiff_t t = omp_get_thread_num();
      const std::ptrdiff_t nt = omp_get_num_threads();
      const std::ptrdiff_t first = begin + count * t / nt;
      const std::ptrdiff_t last = begin + count * (t + 1) / nt;
      if (first < last) body(first, last);
    }
    return;
  }
#else
  (void)min_chunk;
#endif
  body(begin, end);
}

}  // namespace nst
