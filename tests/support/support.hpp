// Shared helpers for nst's tests: seeded random tensors, closeness checks, paths to fixtures and
// to ../shared (with a clean skip when it is absent).
#pragma once

#include <nst/core/tensor.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <random>
#include <string>

namespace nst_test {

// A tensor of shape `s` with values uniform in [lo, hi), reproducible from `seed`.
template <class T>
nst::tensor<T> random_tensor(const nst::shape& s, unsigned seed, T lo = T(-1), T hi = T(1)) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(static_cast<double>(lo), static_cast<double>(hi));
  nst::tensor<T> t(s);
  for (auto& v : t) v = static_cast<T>(dist(rng));
  return t;
}

// Largest |a-b| / max(|b|, floor) over all elements: a relative error that stays meaningful
// near zero. Shapes must match.
template <class T, class U>
double max_relative_error(const nst::tensor<T>& a, const nst::tensor<U>& b, double floor = 1e-3) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0;
  for (nst::index_t i = 0; i < a.size(); ++i) {
    const double x = static_cast<double>(a[i]), y = static_cast<double>(b[i]);
    worst = std::max(worst, std::abs(x - y) / std::max(std::abs(y), floor));
  }
  return worst;
}

// max |got - want| / max |want|: for fast convolutions (Winograd), whose round-off scales with
// the layer's magnitude, not with each output (an output that cancels to ~0 carries the error of
// its large terms). Shapes must match.
template <class T>
double error_of_largest(const nst::tensor<T>& got, const nst::tensor<T>& want) {
  REQUIRE(got.shape() == want.shape());
  double largest = 0, worst = 0;
  for (nst::index_t i = 0; i < want.size(); ++i) {
    largest = std::max(largest, std::abs(static_cast<double>(want[i])));
    worst = std::max(worst, std::abs(static_cast<double>(got[i]) - static_cast<double>(want[i])));
  }
  return largest > 0 ? worst / largest : worst;
}

inline std::string fixture_path(const std::string& name) { return std::string(NST_TEST_FIXTURES) + "/" + name; }
inline std::string shared_path(const std::string& name) { return std::string(NST_SHARED_DIR) + "/" + name; }

inline bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

}  // namespace nst_test

// Ends the current test case as skipped (with a message) when ../shared/<name> is missing.
#define NST_REQUIRE_SHARED(name)                                                        \
  do {                                                                                  \
    if (!nst_test::file_exists(nst_test::shared_path(name))) {                          \
      WARN("skipped: " << nst_test::shared_path(name) << " is absent (../shared missing)"); \
      return;                                                                           \
    }                                                                                   \
  } while (false)
