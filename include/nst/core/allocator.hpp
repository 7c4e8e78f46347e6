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
// Huge pages: on Linux a block of 2 MB or more (an arena, a large tensor outside a plan) is a
// mapping of its own on a 2 MB boundary, and the kernel is asked to back it with transparent
// huge pages (madvise MADV_HUGEPAGE; honoured where /sys/kernel/mm/transparent_hugepage/enabled
// says "always" or "madvise"). A first touch then costs one page fault per 2 MB instead of one
// per 4 KB: on a virtual machine a fault took ~6.6 us, and a 512 px style transfer's start
// (targets, first evaluation) made 247K of them, 1.6 s of CPU time (bench/README.md, "Session
// 15"). Smaller blocks, and all blocks under a sanitizer, come from the C library.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
// Large blocks as mappings of their own (system_allocate), except under a sanitizer, which
// checks the C library's blocks only.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define NST_DETAIL_SANITIZED 1
#endif
#endif
#if defined(__linux__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && \
    !defined(NST_DETAIL_SANITIZED)
#include <sys/mman.h>
#include <unistd.h>
#if defined(MADV_HUGEPAGE)
#define NST_DETAIL_MAPS_LARGE_BLOCKS 1
#endif
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
  plan_arena* arena;    // the arena the block is lent from; nullptr: from system_allocate
  std::uint64_t scope;  // the scope that allocated it (0: none)
  std::size_t index;    // its number among that scope's allocations
  std::size_t bytes;    // the block's size, header included (system_free needs it)
};
inline constexpr std::size_t block_header_bytes = 64;  // keeps the data aligned as the block is
inline constexpr std::size_t arena_alignment = 64;     // offsets in an arena: cache lines
inline constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;  // x86-64's and AArch64's (4 KB pages)

[[noreturn]] inline void out_of_memory() {
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
  throw std::bad_alloc();
#else
  std::fputs("nst: out of memory\n", stderr);
  std::abort();
#endif
}

#if defined(NST_DETAIL_MAPS_LARGE_BLOCKS)
inline std::size_t page_rounded(std::size_t bytes) noexcept {
  static const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}
#endif

// A block of `bytes` bytes from the system, aligned to a cache line; nullptr when there is not
// the memory for it (the other form: std::bad_alloc). On Linux a block of 2 MB or more is a
// mapping of its own, on a 2 MB boundary, offered huge pages (see the top of this file), and
// unmapped when freed. Two things measured otherwise (bench/README.md, "Session 15"): advice
// given on the C library's heap outlived the block and handed huge pages to whatever small
// blocks came there later, so that the peak memory of the same run varied by 20%; and own
// mappings from 32 MB only left glibc's heaps to keep the freed 2-32 MB blocks (a 120-iteration
// run at 512 px peaked at 970 MB against 724 MB). system_free gives a block back.
inline char* system_allocate(std::size_t bytes, const std::nothrow_t&) noexcept {
#if defined(NST_DETAIL_MAPS_LARGE_BLOCKS)
  if (bytes >= huge_page_bytes) {
    const std::size_t length = page_rounded(bytes);
    void* mapping = mmap(nullptr, length + huge_page_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) return nullptr;
    // Keep the 2 MB-aligned part; the head before it and the tail after it go back at once.
    const auto start = reinterpret_cast<std::uintptr_t>(mapping);
    const std::uintptr_t aligned = (start + huge_page_bytes - 1) / huge_page_bytes * huge_page_bytes;
    if (aligned > start) munmap(mapping, aligned - start);
    if (aligned + length < start + length + huge_page_bytes)
      munmap(reinterpret_cast<void*>(aligned + length), start + huge_page_bytes - aligned);
    char* block = reinterpret_cast<char*>(aligned);
    (void)madvise(block, length, MADV_HUGEPAGE);  // advice: without transparent huge pages nothing changes
    return block;
  }
#endif
  return static_cast<char*>(::operator new(bytes, std::align_val_t{arena_alignment}, std::nothrow));
}
inline char* system_allocate(std::size_t bytes) {
  char* block = system_allocate(bytes, std::nothrow);
  if (block == nullptr) out_of_memory();
  return block;
}
inline void system_free(char* block, std::size_t bytes) noexcept {
#if defined(NST_DETAIL_MAPS_LARGE_BLOCKS)
  if (bytes >= huge_page_bytes) {
    munmap(block, page_rounded(bytes));
    return;
  }
#endif
  ::operator delete(block, std::align_val_t{arena_alignment});
}

// One block of memory a memory_plan lends ranges of. It is deleted by whoever finds it let go
// by the plan with nothing lent (tensors may outlive their plan, on any thread).
class plan_arena {
 public:
  // A new arena of `bytes` bytes, or nullptr when there is not the memory for it.
  static plan_arena* make(std::size_t bytes) noexcept {
    char* base = system_allocate(bytes, std::nothrow);
    plan_arena* arena = base ? new (std::nothrow) plan_arena(base, bytes) : nullptr;
    if (base && !arena) system_free(base, bytes);
    return arena;
  }
  plan_arena(const plan_arena&) = delete;
  plan_arena& operator=(const plan_arena&) = delete;
  ~plan_arena() { system_free(base_, bytes_); }

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

namespace detail {

// A block for `bytes` bytes of data: from the thread's plan or the C library, after a header.
inline void* allocate_block(std::size_t bytes) {
  const active_scope& scope = thread_scope();
  std::size_t index = 0;
  char* block = scope.plan ? scope.plan->next_block(bytes + block_header_bytes, index) : nullptr;
  plan_arena* arena = block ? scope.plan->arena_ : nullptr;
  if (block == nullptr) block = system_allocate(bytes + block_header_bytes);
  ::new (static_cast<void*>(block)) block_header{arena, scope.id, index, bytes + block_header_bytes};
  return block + block_header_bytes;
}

// Gives back the block whose data allocate_block returned.
inline void free_block(void* data) noexcept {
  char* block = static_cast<char*>(data) - block_header_bytes;
  const block_header header = *reinterpret_cast<const block_header*>(block);
  const active_scope& scope = thread_scope();
  if (header.scope != 0 && header.scope == scope.id) scope.plan->freed(header.index);
  if (header.arena == nullptr)
    system_free(block, header.bytes);
  else if (header.arena->take_back(block))
    delete header.arena;
}

}  // namespace detail

// The allocator of tensor storage: blocks aligned to a cache line (at least Eigen's alignment)
// from the thread's memory_plan when a planned_memory scope is active, else from the C library;
// elements a vector creates without a value (resize(n), vector(n)) are left uninitialised
// instead of zeroed: storage a kernel overwrites anyway is not written twice (zeroing is a serial
// pass over memory, most of a large tensor's set-up).
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
