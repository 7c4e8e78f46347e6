// nst/ops/detail/partition.hpp — splitting work into a known number of parallel groups.
//
// nst::parallel_for hands each thread a chunk but does not say how many chunks there will be.
// Kernels that need per-thread scratch memory or per-thread partial sums want that number up
// front, so they can allocate before the parallel region (nothing may throw inside it) and add
// the partial results in a fixed order (the same result for the same thread count):
//
//   const index_t groups = detail::group_count(tasks);
//   std::vector<double> partial(groups);
//   detail::for_each_group(tasks, groups, [&](index_t g, index_t first, index_t last) { ... });
#pragma once

#include <algorithm>
#include <vector>

#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"

namespace nst {
namespace detail {

// Elements per parallel chunk for cheap elementwise loops (smaller ranges run on one thread).
constexpr index_t elementwise_chunk = parallel_grain;

// How many groups to split `count` tasks into: one per thread, but at least `min_per_group`
// tasks in each group (grain_items(work per task) for cheap tasks) and never fewer than one group.
inline index_t group_count(index_t count, index_t min_per_group = 1) {
  const index_t useful = std::max<index_t>(1, count / std::max<index_t>(1, min_per_group));
  return std::max<index_t>(1, std::min<index_t>(num_threads(), useful));
}

// Splits [0, count) into `groups` contiguous ranges and calls body(group, first, last) for each,
// the groups in parallel.
template <class Body>
void for_each_group(index_t count, index_t groups, Body&& body) {
  parallel_for(0, groups, [&](index_t first_group, index_t last_group) {
    for (index_t g = first_group; g < last_group; ++g) body(g, count * g / groups, count * (g + 1) / groups);
  });
}

// Work whose result depends on how it is cut (a sum of partial sums, accumulation into shared
// outputs) is cut into at most this many parts, a number that depends on the work alone and
// never on the thread count, so that any number of threads gives the same bits.
constexpr index_t reproducible_parts = 16;

// Σ over [0, count) of term(first, last) (a double), the ranges summed in parallel and the
// partial sums added in a fixed order. Float reductions go through here to get double accuracy.
// The ranges depend on count and min_per_group only: the sum is the same for any thread count.
template <class Term>
double parallel_sum(index_t count, Term&& term, index_t min_per_group = 1 << 14) {
  const index_t groups =
      std::max<index_t>(1, std::min<index_t>(reproducible_parts, count / std::max<index_t>(1, min_per_group)));
  std::vector<double> partial(static_cast<std::size_t>(groups), 0.0);
  for_each_group(count, groups, [&](index_t g, index_t first, index_t last) {
    partial[static_cast<std::size_t>(g)] = term(first, last);
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace detail
}  // namespace nst
