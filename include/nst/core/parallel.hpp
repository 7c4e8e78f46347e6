// nst/core/parallel.hpp — the only place in nst that touches OpenMP.
//
// Kernels express their parallel loops with `parallel_for(begin, end, body)`, where
// `body(first, last)` processes the half-open range [first, last). With OpenMP (the default,
// CMake option NST_USE_OPENMP) the range is split into one contiguous chunk per thread; without
// it, or inside an already parallel region (nst never nests parallelism), the body runs once
// over the whole range. Chunks depend only on the range and the thread count, so results that
// combine per-chunk partial sums are reproducible for a given thread count.
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

// Calls body(first, last) on disjoint chunks covering [begin, end), in parallel when possible.
// `min_chunk` is the smallest range worth handing to a thread.
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
