// nst/core/allocator.hpp — where tensors' memory comes from, and a memory plan for work that repeats.
//
// Every nst::tensor keeps its values in a std::vector with `uninitialized_allocator`: aligned
// blocks whose new elements are left unwritten (kernels write them). By default the blocks come
// from the C library. Work that repeats, such as the evaluations of an optimisation, allocates
// the same tensors every time; a memory_plan learns them once and serves them from one arena:
//
//   nst::memory_plan plan;
//   for (...) {
//     const nst::planned_memory scope(plan);   // this thread's tensors, until the scope ends
//     evaluate();                              // the first time recorded; then from the arena
//   }
//
// Why it matters: with glibc's defaults every block over 32 MB (a 64-channel activation at 512 px
// is 64 MB) is mapped afresh from the system and unmapped when freed, so each evaluation of a
// style transfer would pay the page faults of all its large tensors again: 24% of a 512 px
// iteration on a virtual machine, half the time of conv1_2 (bench/README.md). PyTorch avoids the
// same with its caching allocator. nst::stylize's evaluations each run in a scope of one plan
// (style/stylize.hpp), as every nst_bench case does; the arena is about the peak of the tensors
// alive at once (288 MB at 512 px, where the tensors of one evaluation add up to 1.4 GB).
//
// Only the thread that entered the scope uses the plan: tensors that OpenMP workers make come
// from the C library as usual. Tensors still alive when a scope ends are left out of the plan.
//
// What a plan does not cover (the work before it: measuring the style and content targets, the
// first evaluation that records the plan) a program can have the C library keep for reuse with
// keep_freed_memory(), once at its start; the nst command does.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "error.hpp"

namespace nst {

namespace detail {

class plan_arena;
void* allocate_block(std::size_t bytes);
void free_block(void* data) noexcept;

// Every block uninitialized_allocator hands out starts block_header_bytes before the data it
// returns, with the header saying where the block came from and which allocation of a
// planned_memory scope it was.
struct block_header {
  plan_arena* arena;    // the arena the block is lent from; nullptr: the C library's
  std::uint64_t scope;  // the scope that allocated it (0: none)
  std::size_t index;    // its number among that scope's allocations
};
inline constexpr std::size_t block_header_bytes = 64;  // keeps the data aligned as the block is
inline constexpr std::size_t arena_alignment = 64;     // offsets in an arena: cache lines

// One block of memory a memory_plan lends ranges of. It is deleted by whoever finds it let go
// by the plan with nothing lent (tensors may outlive their plan, on any thread).
class plan_arena {
 public:
  // A new arena of `bytes` bytes, or nullptr when there is not the memory for it.
  static plan_arena* make(std::size_t bytes) noexcept {
    void* base = ::operator new(bytes, std::align_val_t{arena_alignment}, std::nothrow);
    plan_arena* arena = base ? new (std::nothrow) plan_arena(static_cast<char*>(base), bytes) : nullptr;
    if (base && !arena) ::operator delete(base, std::align_val_t{arena_alignment});
    return arena;
  }
  plan_arena(const plan_arena&) = delete;
  plan_arena& operator=(const plan_arena&) = delete;
  ~plan_arena() { ::operator delete(base_, std::align_val_t{arena_alignment}); }

  std::size_t bytes() const noexcept { return bytes_; }
  // The range [offset, offset + bytes), or nullptr when a range lent now overlaps it.
  char* lend(std::size_t offset, std::size_t bytes) {
    const std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [begin, end] : lent_)
      if (offset < end && begin < offset + bytes) return nullptr;
    lent_.emplace_back(offset, offset + bytes);
    return base_ + offset;
  }
  // Takes back the range at `block`; true when the arena is to be deleted now.
  bool take_back(const char* block) noexcept {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto offset = static_cast<std::size_t>(block - base_);
    for (auto range = lent_.begin(); range != lent_.end(); ++range)
      if (range->first == offset) {
        lent_.erase(range);
        break;
      }
    return abandoned_ && lent_.empty();
  }
  // The plan lets go of the arena; true when it is to be deleted now (nothing lent).
  bool abandon() noexcept {
    const std::lock_guard<std::mutex> lock(mutex_);
    abandoned_ = true;
    return lent_.empty();
  }

 private:
  std::mutex mutex_;
  char* base_;
  std::size_t bytes_;
  std::vector<std::pair<std::size_t, std::size_t>> lent_;  // [begin, end) offsets lent now
  bool abandoned_ = false;

  plan_arena(char* base, std::size_t bytes) noexcept : base_(base), bytes_(bytes) {}
};

}  // namespace detail

// A memory plan for work that repeats (see the top of this file): the first planned_memory scope
// records the sizes and lifetimes of the tensors allocated and freed on its thread, and at its
// end the plan places every tensor freed inside the scope at an offset of one arena, tensors
// alive at the same time apart (largest first, of one size the longest-lived first, each at the
// lowest offset free for its lifetime).
// Later scopes take their n-th tensor from the n-th place. The plan keeps itself true: a tensor
// it cannot serve (another size, its place still in use) comes from the C library instead, and a
// scope whose tensors differed from the plan's makes a new plan at its end. Tensors may outlive
// the scope and the plan. A plan serves one scope at a time, and outlives its scopes.
class memory_plan {
 public:
  memory_plan() = default;
  memory_plan(const memory_plan&) = delete;
  memory_plan& operator=(const memory_plan&) = delete;
  ~memory_plan() { drop_arena(); }

  std::size_t arena_bytes() const noexcept { return arena_ ? arena_->bytes() : 0; }  // 0: no plan yet
  // The tensors of a scope the arena has a place for.
  std::size_t planned_tensors() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(places_.begin(), places_.end(), [](const place& p) { return p.planned; }));
  }
  // How many tensors the last scope that ended allocated, and how many of those with a place in
  // the plan came from the C library instead (0 when the work repeated exactly).
  std::size_t last_scope_tensors() const noexcept { return last_tensors_; }
  std::size_t last_scope_misses() const noexcept { return last_misses_; }

 private:
  friend class planned_memory;
  friend void* detail::allocate_block(std::size_t);
  friend void detail::free_block(void*) noexcept;

  static constexpr std::size_t not_freed = std::numeric_limits<std::size_t>::max();
  struct place {
    std::size_t bytes, offset;
    bool planned;  // freed inside the scope that was recorded: it has an offset
  };
  struct lifetime {
    std::size_t bytes, allocated, freed;  // times on the scope's clock; freed: not_freed
  };

  // Records the scope's next tensor, a block of `block_bytes` bytes, as number `index`; returns
  // its place in the arena, or nullptr when the plan has none free for it. The plan counts every
  // block rounded up to the arena's alignment, so that each place starts aligned.
  char* next_block(std::size_t block_bytes, std::size_t& index) {
    const std::size_t bytes =
        (block_bytes + detail::arena_alignment - 1) / detail::arena_alignment * detail::arena_alignment;
    index = seen_.size();
    seen_.push_back({bytes, clock_++, not_freed});
    if (index >= places_.size() || !places_[index].planned) return nullptr;
    char* block = places_[index].bytes == bytes ? arena_->lend(places_[index].offset, bytes) : nullptr;
    if (block == nullptr) ++misses_;
    return block;
  }
  void freed(std::size_t index) noexcept { seen_[index].freed = clock_++; }

  void begin_scope() {
    seen_.clear();
    clock_ = misses_ = 0;
  }
  void end_scope() noexcept {
    last_tensors_ = seen_.size();
    last_misses_ = misses_;
    if (misses_ > 0 || !same_tensors()) replan();
  }
  bool same_tensors() const noexcept {
    if (seen_.size() != places_.size()) return false;
    for (std::size_t i = 0; i < seen_.size(); ++i)
      if (seen_[i].bytes != places_[i].bytes || (seen_[i].freed != not_freed) != places_[i].planned) return false;
    return true;
  }
  // Greedy by size: each tensor freed in the scope, largest first (ties: longest-lived first), at
  // the lowest offset where no tensor placed before with an overlapping lifetime lies. (Its lists
  // of a few hundred entries are the only allocations that could throw here, in a destructor: out
  // of memory for those, std::terminate.)
  void replan() noexcept {
    drop_arena();
    places_.clear();
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < seen_.size(); ++i) {
      places_.push_back({seen_[i].bytes, 0, seen_[i].freed != not_freed});
      if (places_[i].planned) order.push_back(i);
    }
    // Largest first; among equal sizes the longest-lived first (stylize's 512 px iteration: arena
    // 246.8 -> 231.1 MB against a peak of 229.7 MB alive at once; at 256, 384x512 and 1024 px
    // the arena is that peak exactly).
    const auto lifetime_of = [&](std::size_t i) { return seen_[i].freed - seen_[i].allocated; };
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return seen_[a].bytes != seen_[b].bytes ? seen_[a].bytes > seen_[b].bytes : lifetime_of(a) > lifetime_of(b);
    });
    std::size_t arena_bytes = 0;
    std::vector<std::pair<std::size_t, std::size_t>> taken;  // [begin, end) of placed tensors alive beside this one
    for (std::size_t k = 0; k < order.size(); ++k) {
      const lifetime& t = seen_[order[k]];
      taken.clear();
      for (std::size_t j = 0; j < k; ++j) {
        const lifetime& u = seen_[order[j]];
        if (t.allocated < u.freed && u.allocated < t.freed)
          taken.emplace_back(places_[order[j]].offset, places_[order[j]].offset + u.bytes);
      }
      std::sort(taken.begin(), taken.end());
      std::size_t offset = 0;
      for (const auto& [begin, end] : taken) {
        if (offset + t.bytes <= begin) break;
        offset = std::max(offset, end);
      }
      places_[order[k]].offset = offset;
      arena_bytes = std::max(arena_bytes, offset + t.bytes);
    }
    if (arena_bytes == 0) return;
    arena_ = detail::plan_arena::make(arena_bytes);
    if (arena_ == nullptr) {  // no memory for it: the next scope allocates as usual, and plans again
      places_.clear();
      return;
    }
#if defined(__GLIBC__)
    // The recorded tensors came from the C library, which keeps some of the memory they freed;
    // the arena holds them now, so it goes back to the system (at 256 px: 190 -> 155 MB peak).
    malloc_trim(0);
#endif
  }
  void drop_arena() noexcept {
    if (arena_ != nullptr && arena_->abandon()) delete arena_;
    arena_ = nullptr;
  }

  std::vector<place> places_;   // the plan: the recorded scope's tensors in order
  std::vector<lifetime> seen_;  // the current scope's tensors in order
  std::size_t clock_ = 0, misses_ = 0, last_tensors_ = 0, last_misses_ = 0;
  detail::plan_arena* arena_ = nullptr;
  bool in_scope_ = false;
};

namespace detail {

// The calling thread's planned_memory scope: its plan and id (nullptr and 0: none).
struct active_scope {
  memory_plan* plan = nullptr;
  std::uint64_t id = 0;
};
inline active_scope& thread_scope() noexcept {
  thread_local active_scope scope;
  return scope;
}

}  // namespace detail

// Makes `plan` serve the tensors the calling thread allocates until the end of the scope (then
// the scope before, if any). Throws value_error 209 when the plan already serves a scope.
class planned_memory {
 public:
  explicit planned_memory(memory_plan& plan) : before_(detail::thread_scope()) {
    NST_CHECK(!plan.in_scope_, value_error, 209,
              "planned_memory: the memory_plan already serves a scope (one at a time; nested or on another thread)");
    static std::atomic<std::uint64_t> next_id{1};
    plan.begin_scope();
    plan.in_scope_ = true;
    detail::thread_scope() = {&plan, next_id++};
  }
  planned_memory(const planned_memory&) = delete;
  planned_memory& operator=(const planned_memory&) = delete;
  ~planned_memory() {
    memory_plan& plan = *detail::thread_scope().plan;
    detail::thread_scope() = before_;
    plan.end_scope();
    plan.in_scope_ = false;
  }

 private:
  detail::active_scope before_;
};

// Asks the C library to keep the memory that freed blocks leave, for the blocks allocated after
// them, instead of giving it back to the system. By default glibc maps every block over 32 MB
// afresh and unmaps it when it is freed, and returns the free top of its heap, so the next
// tensors' pages fault in again on first write (about 6.6 us a 4 KB page on a virtual machine):
// the nst command's first 3 iterations of time_to_result's 512x384 problem made 249,700 page
// faults, 70,600 with this; its first iteration began after 0.9 s instead of 1.9-2.3 s and took
// 0.23 s instead of 0.54-0.66 (bench/README.md, "Session 18"). A setting of the whole process,
// so a program opts in, once, before its work; the memory stays with the process until
// malloc_trim(0) (which a new memory_plan calls) or its end. Returns false where the C library is not glibc or refuses (an address sanitizer's
// allocator does): nothing changed.
inline bool keep_freed_memory() noexcept {
#if defined(__GLIBC__)
  // Blocks from 1 GB on are still mapped on their own; nothing is returned unasked.
  return mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1 && mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) == 1;
#else
  return false;
#endif
}

namespace detail {

// A block for `bytes` bytes of data: from the thread's plan or the C library, after a header.
inline void* allocate_block(std::size_t bytes) {
  const active_scope& scope = thread_scope();
  std::size_t index = 0;
  char* block = scope.plan ? scope.plan->next_block(bytes + block_header_bytes, index) : nullptr;
  plan_arena* arena = block ? scope.plan->arena_ : nullptr;
  if (block == nullptr) block = Eigen::aligned_allocator<char>().allocate(bytes + block_header_bytes);
  ::new (static_cast<void*>(block)) block_header{arena, scope.id, index};
  return block + block_header_bytes;
}

// Gives back the block whose data allocate_block returned.
inline void free_block(void* data) noexcept {
  char* block = static_cast<char*>(data) - block_header_bytes;
  const block_header header = *reinterpret_cast<const block_header*>(block);
  const active_scope& scope = thread_scope();
  if (header.scope != 0 && header.scope == scope.id) scope.plan->freed(header.index);
  if (header.arena == nullptr)
    Eigen::aligned_allocator<char>().deallocate(block, 0);
  else if (header.arena->take_back(block))
    delete header.arena;
}

}  // namespace detail

// The allocator of tensor storage: aligned blocks (Eigen's alignment) from the thread's
// memory_plan when a planned_memory scope is active, else from the C library; elements a vector
// creates without a value (resize(n), vector(n)) are left uninitialised instead of zeroed:
// storage a kernel overwrites anyway is not written twice (zeroing is a serial pass over memory,
// most of a large tensor's set-up).
template <class T>
struct uninitialized_allocator {
  using value_type = T;
  uninitialized_allocator() = default;
  template <class U>
  uninitialized_allocator(const uninitialized_allocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    // Room for the header and for a plan's rounding up to its alignment.
    constexpr std::size_t most_bytes =
        std::numeric_limits<std::size_t>::max() - detail::block_header_bytes - detail::arena_alignment;
    NST_CHECK(n <= most_bytes / sizeof(T), value_error, 211, "allocate: ", n, " values of ", sizeof(T),
              " bytes are more than memory can address");
    return static_cast<T*>(detail::allocate_block(n * sizeof(T)));
  }
  void deallocate(T* data, std::size_t) noexcept { detail::free_block(data); }

  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;  // default-initialised: no value for arithmetic types
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  // Any two allocate and free each other's blocks.
  template <class U>
  bool operator==(const uninitialized_allocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const uninitialized_allocator<U>&) const noexcept {
    return false;
  }
};

}  // namespace nst
