#include <nst/core/parallel.hpp>
#include <nst/ops.hpp>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <utility>
#include <vector>

#include "../support/support.hpp"

namespace {

// Runs parallel_for over [begin, end) with `min_chunk` and returns the chunks it made.
std::vector<std::pair<std::ptrdiff_t, std::ptrdiff_t>> chunks_of(std::ptrdiff_t begin, std::ptrdiff_t end,
                                                                 std::ptrdiff_t min_chunk) {
  std::vector<std::pair<std::ptrdiff_t, std::ptrdiff_t>> chunks;
  std::mutex lock;
  nst::parallel_for(
      begin, end,
      [&](std::ptrdiff_t first, std::ptrdiff_t last) {
        const std::lock_guard<std::mutex> guard(lock);
        chunks.emplace_back(first, last);
      },
      min_chunk);
  return chunks;
}

class scoped_threads {
 public:
  explicit scoped_threads(int n) : saved_(nst::num_threads()) { nst::set_num_threads(n); }
  ~scoped_threads() { nst::set_num_threads(saved_); }
  scoped_threads(const scoped_threads&) = delete;
  scoped_threads& operator=(const scoped_threads&) = delete;

 private:
  int saved_;
};

}  // namespace

TEST_CASE("parallel: grain_items is the item count worth parallel_grain operations", "[core][parallel]") {
  CHECK(nst::grain_items(1) == nst::parallel_grain);
  CHECK(nst::grain_items(nst::parallel_grain) == 1);
  CHECK(nst::grain_items(10 * nst::parallel_grain) == 1);
  CHECK(nst::grain_items(3) * 3 >= nst::parallel_grain);
  CHECK((nst::grain_items(3) - 1) * 3 < nst::parallel_grain);
  CHECK(nst::grain_items(0) == nst::parallel_grain);  // no work per item: treated as 1
}

TEST_CASE("parallel: chunks cover the range once; short ranges run as one call", "[core][parallel]") {
  const scoped_threads threads(4);
  for (const std::ptrdiff_t min_chunk : {1, 3, 100}) {
    for (const std::ptrdiff_t count : {0, 1, 2, 5, 7, 199, 200, 201, 1000}) {
      INFO("count " << count << ", min_chunk " << min_chunk);
      auto chunks = chunks_of(10, 10 + count, min_chunk);
      std::sort(chunks.begin(), chunks.end());
      std::vector<int> seen(static_cast<std::size_t>(count), 0);
      for (const auto& [first, last] : chunks) {
        CHECK(first < last);
        for (std::ptrdiff_t i = first; i < last; ++i) ++seen[static_cast<std::size_t>(i - 10)];
      }
      CHECK(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
      // Fewer than two chunks' worth: the calling thread does it all in one call.
      if (count > 0 && count < 2 * min_chunk) CHECK(chunks.size() == 1);
      // Never more chunks than threads, nor more than count / min_chunk.
      CHECK(static_cast<std::ptrdiff_t>(chunks.size()) <= std::max<std::ptrdiff_t>(1, count / min_chunk));
      CHECK(chunks.size() <= 4);
    }
  }
}

TEST_CASE("parallel: ops give identical results on 1 and 3 threads, tiny and large", "[core][parallel]") {
  for (const nst::index_t side : {3, 5, 40, 130}) {
    INFO("side " << side);
    const auto x = nst_test::random_tensor<float>({2, 6, side, side + 1}, 11);
    const auto w = nst_test::random_tensor<float>({5, 6, 3, 3}, 12);
    const auto b = nst_test::random_tensor<float>({5}, 13);
    const auto run = [&](int threads) {
      const scoped_threads scope(threads);
      std::vector<nst::tensor<float>> out;
      const auto y = nst::conv2d(x, w, b, {1, 1});
      out.push_back(y);
      out.push_back(nst::relu(y));
      out.push_back(nst::max_pool2d(y, {2, 2}).output);
      out.push_back(nst::avg_pool2d(y, {2, 2}));
      out.push_back(nst::total_variation_backward(y, 0.5f));
      out.push_back(nst::gram(y));
      out.push_back(nst::conv2d_backward_input(y, w, x.shape(), {1, 1}));
      out.push_back(nst::tensor<float>(nst::shape{}, nst::total_variation(y)));
      return out;
    };
    const auto serial = run(1), parallel = run(3);
    REQUIRE(serial.size() == parallel.size());
    // The first six split their work by plane or pixel tile, whatever the thread count: the
    // same operations in the same order, so the same bits. The others cut their sums by thread
    // (Gram row blocks, col2im bands, partial sums): the same up to rounding.
    for (std::size_t i = 0; i < serial.size(); ++i) {
      INFO("result " << i);
      if (i < 6) {
        CHECK(nst_test::max_relative_error(parallel[i], serial[i]) == 0.0);
      } else {
        double largest = 0;
        for (float v : serial[i]) largest = std::max(largest, std::abs(static_cast<double>(v)));
        CHECK(nst_test::max_relative_error(parallel[i], serial[i], 1e-3 * largest) < 1e-5);
      }
    }
  }
}
