// nst/core/allocator.hpp — an opt-in process setting that makes large tensors cheap to allocate.
//
//   int main() {
//     nst::keep_freed_memory();   // once, before the work; the nst command and nst_bench do
//     ...
//   }
//
// With glibc's defaults every block over 32 MB (a 64-channel activation at 512 px is 64 MB) is
// mapped afresh from the system and unmapped when freed, so each iteration of a style transfer
// pays the page faults of all its large tensors again: 40-50% of the time of the large layers
// on a virtual machine (bench/README.md). keep_freed_memory() tells glibc to serve large blocks
// from the heap and never to give freed memory back, so later iterations reuse it; the peak
// resident memory stays about the same (+5% measured at 512 px). PyTorch gets the same from its
// caching allocator or tcmalloc. A library never changes this on its own: it is the program's
// choice. Does nothing where the C library lacks mallopt's settings.
#pragma once

#include <limits>

#if defined(__has_include)
#if __has_include(<malloc.h>)
#include <malloc.h>
#endif
#endif

namespace nst {

inline void keep_freed_memory() {
#if defined(M_MMAP_MAX) && defined(M_TRIM_THRESHOLD)
  mallopt(M_MMAP_MAX, 0);                                      // large blocks from the heap, not mmap
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());  // never give the heap back
#endif
}

}  // namespace nst
