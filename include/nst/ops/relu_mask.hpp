// nst/ops/relu_mask.hpp — where a ReLU's output is positive, one bit per element.
//
// The backward pass of y = max(x, 0) needs only the sign pattern of y, not y itself: a
// relu_mask keeps it in 1/32 of the memory of a float tensor, so a network on an autodiff tape
// can free every activation no loss reads (nn/vgg19.hpp does).
//
//   nst::relu_mask mask(y);                 // bit i = y[i] > 0
//   bool passes = mask[i];
//   auto dx = nst::relu_backward(dy, mask); // dy where the bit is set, else 0
//
// A kernel that writes y can build the mask as it goes (relu_mask(shape), then mark_positive on
// each run it has written, while the run is in the cache), as the Winograd convolution does.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"

namespace nst {

// Where a ReLU's output was positive, one bit per element (32x smaller than the output), for
// the backward step dy -> dy * [y > 0].
class relu_mask {
 public:
  relu_mask() = default;
  // Bit i set where output[i] > 0 (false for 0 and NaN, as relu_backward).
  template <class T>
  explicit relu_mask(const tensor<T>& output)
      : shape_(output.shape()), words_(static_cast<std::size_t>((output.size() + 63) / 64), 0) {
    const index_t size = output.size();
    parallel_for(
        0, static_cast<index_t>(words_.size()),
        [&](index_t first, index_t last) {
          for (index_t w = first; w < last; ++w) {
            const index_t begin = w * 64, end = std::min(size, begin + 64);
            words_[static_cast<std::size_t>(w)] = positive_bits(output.data() + begin, end - begin);
          }
        },
        grain_items(64));
  }

  // Every bit clear, for an output of `output_shape` whose positive values a kernel marks as it
  // writes them (mark_positive): the Winograd convolution's output transform, which has each row
  // of its output in the cache just after storing it (building the mask from the whole output
  // afterwards read it all from memory again: 2.4% of a 512x384 style-transfer iteration).
  explicit relu_mask(const nst::shape& output_shape)
      : shape_(output_shape), words_(static_cast<std::size_t>((output_shape.numel() + 63) / 64), 0) {}

  // Sets the bits first .. first+count-1 where values[0 .. count) > 0; they must be clear before
  // (a fresh mask). Threads may mark different elements at once: a word wholly inside the run is
  // stored, one it shares with elements outside is OR-ed atomically (a locked instruction, which
  // waits for every store before it: mark long runs, not short ones).
  template <class T>
  void mark_positive(index_t first, const T* values, index_t count) {
    while (count > 0) {
      const int shift = static_cast<int>(first & 63);
      const index_t part = std::min<index_t>(count, 64 - shift);
      const std::uint64_t bits = positive_bits(values, part) << shift;
      std::uint64_t& word = words_[static_cast<std::size_t>(first >> 6)];
      if (part == 64) {
        word = bits;
      } else if (bits != 0) {
#if defined(__GNUC__)
        __atomic_fetch_or(&word, bits, __ATOMIC_RELAXED);
#elif defined(_OPENMP)
#pragma omp atomic
        word |= bits;
#else
        word |= bits;  // no OpenMP: no threads
#endif
      }
      first += part;
      values += part;
      count -= part;
    }
  }

  bool empty() const { return words_.empty(); }
  const nst::shape& shape() const { return shape_; }
  // Whether element i (flat index, 0 <= i < shape().numel()) of the output was positive.
  bool operator[](index_t i) const { return (words_[static_cast<std::size_t>(i >> 6)] >> (i & 63)) & 1u; }
  // The bits of elements first .. first+63 (bit j: element first + j; 0 past the end), from at most
  // two words: a gate for 64 consecutive values at once. 0 <= first < shape().numel().
  std::uint64_t bits(index_t first) const {
    const auto word = static_cast<std::size_t>(first >> 6);
    const int shift = static_cast<int>(first & 63);
    const std::uint64_t low = words_[word] >> shift;
    return shift == 0 || word + 1 == words_.size() ? low : low | words_[word + 1] << (64 - shift);
  }

 private:
  // Bit i set where values[i] > 0, for count <= 64 values. With AVX-512, float takes a compare
  // per 16 values, the last 16 or fewer loaded under a mask (GCC made the loop one compare and
  // shift per value: 2.5% of a 512 px iteration); the ordered compare is false for NaN, as the
  // loop's.
  template <class T>
  static std::uint64_t positive_bits(const T* values, index_t count) {
#if defined(__AVX512F__)
    if constexpr (std::is_same<T, float>::value) {
      std::uint64_t bits = 0;
      for (index_t part = 0; part < count; part += 16) {
        const index_t left = count - part;
        const __mmask16 used = left >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
        bits |= std::uint64_t(_mm512_mask_cmp_ps_mask(used, _mm512_maskz_loadu_ps(used, values + part),
                                                      _mm512_setzero_ps(), _CMP_GT_OQ))
                << part;
      }
      return bits;
    }
#endif
    std::uint64_t bits = 0;
    for (index_t i = 0; i < count; ++i) bits |= std::uint64_t(values[i] > T(0)) << i;
    return bits;
  }

  nst::shape shape_;
  std::vector<std::uint64_t> words_;
};

// to[j] = from[j] where bit j of `gate` is set, else 0, for j < count <= 64: a bitwise AND of each
// value with all ones or all zeros, so it vectorises. Written as a choice per value, it compiled
// to a branch that the random-looking sign pattern of a ReLU mispredicts half the time:
// relu_backward of 64x256x256 values on one core took 13.9 ms instead of 1.0.
template <class T>
inline void gate_values(std::uint64_t gate, const T* from, index_t count, T* to) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "nst::gate_values: float or double values");
  using word = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  for (index_t j = 0; j < count; ++j) {
    word value;
    std::memcpy(&value, from + j, sizeof(T));
    value &= word(0) - static_cast<word>((gate >> j) & 1u);  // all ones where the bit is set
    std::memcpy(to + j, &value, sizeof(T));
  }
}

// dx = dy where the mask's bit is set, 0 elsewhere (relu_backward with the sign pattern kept as
// bits). shape_error 134 when the shapes differ.
template <class T>
tensor<T> relu_backward(const tensor<T>& grad_output, const relu_mask& mask) {
  NST_CHECK(grad_output.shape() == mask.shape(), shape_error, 134, "relu_backward: grad_output ", grad_output.shape(),
            " and the ReLU mask ", mask.shape(), " differ in shape");
  tensor<T> grad_input(grad_output.shape(), uninitialized);
  const index_t size = grad_output.size();
  parallel_for(
      0, (size + 63) / 64,
      [&](index_t first, index_t last) {
        for (index_t chunk = first; chunk < last; ++chunk) {  // 64 values per word of the mask
          const index_t begin = chunk * 64, count = std::min<index_t>(64, size - begin);
          gate_values(mask.bits(begin), grad_output.data() + begin, count, grad_input.data() + begin);
        }
      },
      grain_items(64));
  return grad_input;
}

}  // namespace nst
