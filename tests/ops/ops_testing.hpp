// Helpers shared by the ops tests: error ids, a scalar loss that weighs every output element,
// and a scoped thread count.
#pragma once

#include <catch2/catch.hpp>
#include <nst/core/error.hpp>
#include <nst/core/parallel.hpp>
#include <nst/core/tensor.hpp>

namespace ops_test {

// The id of the `Error` that f() raises, or 0 when it raises nothing (another error type
// escapes and fails the test).
template <class Error, class F>
int error_id(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.id();
  }
  return 0;
}

// Σ output * weights: a scalar whose gradient with respect to `output` is `weights`, so one
// gradient check exercises every output element with a different factor.
template <class T>
T weighted_sum(const nst::tensor<T>& output, const nst::tensor<T>& weights) {
  REQUIRE(output.shape() == weights.shape());
  double s = 0;
  for (nst::index_t i = 0; i < output.size(); ++i)
    s += static_cast<double>(output[i]) * static_cast<double>(weights[i]);
  return static_cast<T>(s);
}

// Sets nst's thread count for the lifetime of the object (tiling and band splits depend on it).
class thread_count {
 public:
  explicit thread_count(int n) : saved_(nst::num_threads()) { nst::set_num_threads(n); }
  ~thread_count() { nst::set_num_threads(saved_); }
  thread_count(const thread_count&) = delete;
  thread_count& operator=(const thread_count&) = delete;

 private:
  int saved_;
};

}  // namespace ops_test
