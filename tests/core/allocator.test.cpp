#include <nst/core/allocator.hpp>
#include <nst/core/tensor.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#if defined(__GLIBC__)
#include <sys/resource.h>
#endif

#include "../support/support.hpp"

namespace {

using nst::index_t;
using nst::tensor;

// Tensors that know what they hold: value i of tensor `id` is id * 1e6 + i (exact in double), so
// a tensor whose memory another live tensor overwrote is found when it is checked.
tensor<double> filled(index_t size, int id) {
  tensor<double> t({size}, nst::uninitialized);
  for (index_t i = 0; i < size; ++i) t[i] = id * 1e6 + static_cast<double>(i);
  return t;
}
bool intact(const tensor<double>& t, int id) {
  for (index_t i = 0; i < t.size(); ++i)
    if (t[i] != id * 1e6 + static_cast<double>(i)) return false;
  return true;
}

// Work that repeats the same way for the same seed: tensors of random sizes made and freed in a
// random order, several alive at once, each checked when it is freed. Returns how many tensors
// were found overwritten; `addresses` gets each tensor's data pointer in order of creation.
int random_work(unsigned seed, std::vector<const void*>* addresses = nullptr, std::size_t* peak_bytes = nullptr) {
  std::mt19937 rng(seed);
  std::vector<std::pair<tensor<double>, int>> alive;
  int overwritten = 0;
  std::size_t bytes = 0, peak = 0;
  const auto free_one = [&](std::size_t k) {
    overwritten += !intact(alive[k].first, alive[k].second);
    bytes -= static_cast<std::size_t>(alive[k].first.size()) * sizeof(double);
    alive.erase(alive.begin() + static_cast<std::ptrdiff_t>(k));
  };
  for (int id = 1; id <= 60; ++id) {
    const index_t size = 1 + static_cast<index_t>(rng() % 20000);
    alive.emplace_back(filled(size, id), id);
    if (addresses) addresses->push_back(alive.back().first.data());
    bytes += static_cast<std::size_t>(size) * sizeof(double);
    peak = std::max(peak, bytes);
    while (!alive.empty() && rng() % 3 == 0) free_one(rng() % alive.size());
  }
  while (!alive.empty()) free_one(alive.size() - 1);
  if (peak_bytes) *peak_bytes = peak;
  return overwritten;
}

}  // namespace

TEST_CASE("memory_plan: from the second scope on, the same work takes every tensor from the arena",
          "[core][allocator]") {
  nst::memory_plan plan;
  CHECK(plan.arena_bytes() == 0);
  std::vector<const void*> first, second, third, unplanned;
  std::size_t peak = 0;
  {
    const nst::planned_memory scope(plan);
    CHECK(random_work(7, &first, &peak) == 0);
  }
  CHECK(plan.last_scope_tensors() == 60);
  CHECK(plan.planned_tensors() == 60);  // all of them freed inside the scope
  // The arena holds the tensors alive at once (each with its 64-byte header, at 64-byte offsets),
  // far less than all of them together.
  CHECK(plan.arena_bytes() >= peak);
  CHECK(plan.arena_bytes() <= peak + 60 * 128 + peak / 2);
  {
    const nst::planned_memory scope(plan);
    CHECK(random_work(7, &second) == 0);
  }
  CHECK(plan.last_scope_misses() == 0);
  {
    const nst::planned_memory scope(plan);
    CHECK(random_work(7, &third) == 0);
  }
  CHECK(plan.last_scope_misses() == 0);
  CHECK(second == third);  // every tensor at its place in the arena
  CHECK(random_work(7, &unplanned) == 0);  // outside a scope: the C library, as before
  CHECK(plan.last_scope_tensors() == 60);
}

TEST_CASE("memory_plan: among tensors of one size the longest-lived is placed first", "[core][allocator]") {
  // Blocks of 2 and 1 units of 4 KB (8-byte values and the 64-byte header). On the scope's clock:
  // a (2 units) [0,2), b (2) [1,4), c (1) [3,6), d (2) [5,7): at most 4 units alive at once. In the
  // order they were made, a, b, d and then c would need 5 units (c beside b and d, above both);
  // b, the longest-lived, first: 4.
  const index_t two_units = (8192 - 64) / 8, one_unit = (4096 - 64) / 8;
  nst::memory_plan plan;
  for (int scope_number = 0; scope_number < 2; ++scope_number) {
    const nst::planned_memory scope(plan);
    std::optional<tensor<double>> a, b, c, d;
    a.emplace(filled(two_units, 1));
    b.emplace(filled(two_units, 2));
    CHECK(intact(*a, 1));
    a.reset();
    c.emplace(filled(one_unit, 3));
    CHECK(intact(*b, 2));
    b.reset();
    d.emplace(filled(two_units, 4));
    CHECK(intact(*c, 3));
    c.reset();
    CHECK(intact(*d, 4));
  }
  CHECK(plan.arena_bytes() == 4 * 4096);
  CHECK(plan.last_scope_misses() == 0);
}

TEST_CASE("memory_plan: work that changes is served correctly and planned again", "[core][allocator]") {
  nst::memory_plan plan;
  for (unsigned seed : {1u, 1u, 2u, 2u, 3u, 1u, 1u}) {
    const nst::planned_memory scope(plan);
    CHECK(random_work(seed) == 0);  // never two live tensors in the same memory
  }
  // The last scope repeated the one before it, which made the plan for seed 1 again.
  CHECK(plan.last_scope_misses() == 0);
  CHECK(plan.planned_tensors() == 60);
}

TEST_CASE("memory_plan: a tensor kept longer than the plan expects gets memory of its own", "[core][allocator]") {
  nst::memory_plan plan;
  const auto two_in_turn = [](bool keep_first, tensor<double>* kept) {
    tensor<double> a = filled(1000, 1);
    if (!keep_first) a = tensor<double>();  // freed before b exists: the plan gives b a's place
    tensor<double> b = filled(1000, 2);
    CHECK(intact(b, 2));
    if (keep_first) {
      CHECK(intact(a, 1));
      CHECK(a.data() != b.data());
      *kept = std::move(a);
    }
  };
  tensor<double> kept;
  {
    const nst::planned_memory scope(plan);
    two_in_turn(false, nullptr);
  }
  CHECK(plan.planned_tensors() == 2);
  {
    const nst::planned_memory scope(plan);
    two_in_turn(true, &kept);  // a still holds b's place: b comes from the C library
  }
  CHECK(plan.last_scope_misses() == 1);
  CHECK(plan.planned_tensors() == 1);  // planned again: a outlives the scope, only b has a place
  {
    const nst::planned_memory scope(plan);
    tensor<double> other;
    two_in_turn(true, &other);
  }
  CHECK(plan.last_scope_misses() == 0);
  CHECK(intact(kept, 1));  // in the first arena, which lives on for it
}

TEST_CASE("memory_plan: tensors outlive their scope and their plan, and may be freed on another thread",
          "[core][allocator]") {
  tensor<double> survivor, moved_away;
  {
    nst::memory_plan plan;
    for (int scope_number = 0; scope_number < 2; ++scope_number) {
      const nst::planned_memory scope(plan);
      tensor<double> a = filled(5000, 1), b = filled(3000, 2);
      if (scope_number == 1) {  // from the arena now; kept past the scope and the plan
        survivor = std::move(a);
        moved_away = std::move(b);
      }
    }
    CHECK(plan.last_scope_misses() == 0);
  }
  CHECK(intact(survivor, 1));
  std::thread([t = std::move(moved_away)]() mutable {
    CHECK(intact(t, 2));
    t = tensor<double>();  // given back from this thread
  }).join();
  CHECK(intact(survivor, 1));
  survivor = tensor<double>();  // the last lent block: the arena is freed (AddressSanitizer checks)
}

TEST_CASE("planned_memory: one scope per plan at a time; scopes of other plans nest", "[core][allocator]") {
  nst::memory_plan outer_plan, inner_plan;
  {
    const nst::planned_memory outer(outer_plan);
    CHECK_THROWS_WITH(nst::planned_memory(outer_plan),
                      Catch::Contains("value_error.209") && Catch::Contains("already serves a scope"));
    tensor<float> before({100});
    {
      const nst::planned_memory inner(inner_plan);
      tensor<float> x({10}), y({20});
    }
    tensor<float> after({200});
  }
  CHECK(inner_plan.last_scope_tensors() == 2);
  CHECK(outer_plan.last_scope_tensors() == 2);  // the inner scope's tensors are not the outer's
  CHECK(outer_plan.planned_tensors() == 2);
}

TEST_CASE("uninitialized_allocator: a size memory cannot address is an error, in a plan or not", "[core][allocator]") {
  // 80 bytes short of the largest size: room for the 64-byte header, not for a plan's rounding.
  const std::size_t too_many = (std::numeric_limits<std::size_t>::max() - 80) / sizeof(float);
  nst::uninitialized_allocator<float> allocator;
  CHECK_THROWS_WITH(allocator.allocate(too_many),
                    Catch::Contains("value_error.211") && Catch::Contains("more than memory can address"));
  nst::memory_plan plan;
  {
    const nst::planned_memory scope(plan);
    CHECK_THROWS_WITH(allocator.allocate(too_many), Catch::Contains("value_error.211"));
    tensor<float> x({10});
  }
  CHECK(plan.last_scope_tensors() == 1);  // the refused size was never recorded
}

#if defined(__GLIBC__)
namespace {
// Page faults of the process so far that made a new page (minor faults).
long page_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}
// The page faults of making a 64 MB tensor, writing every value and freeing it.
long faults_of_a_large_tensor() {
  const long before = page_faults();
  {
    tensor<float> large({index_t{16} << 20}, nst::uninitialized);
    std::fill(large.begin(), large.end(), 1.0f);
  }
  return page_faults() - before;
}
}  // namespace

TEST_CASE("keep_freed_memory: a large tensor made again reuses the memory of the one freed before (glibc)",
          "[core][allocator]") {
#if defined(__SANITIZE_ADDRESS__)
  CHECK_FALSE(nst::keep_freed_memory());  // the sanitizer's allocator refuses: nothing changes
#else
  // By default 64 MB (over glibc's largest mmap threshold) is a new mapping every time, whose
  // pages fault in as they are written (16,384 of 4 KB).
  faults_of_a_large_tensor();
  const long by_default = faults_of_a_large_tensor();
  CHECK(by_default > 0);
  REQUIRE(nst::keep_freed_memory());
  faults_of_a_large_tensor();  // the first one after the setting still takes new memory
  const long kept = faults_of_a_large_tensor();
  CHECK(kept * 10 < by_default);
#endif
}
#endif
