// Test problems for the optim tests (quadratics, Rosenbrock), an objective wrapper that records
// every evaluation, and the reader of the torch trajectory fixtures in tests/fixtures/optim/.
#pragma once

#include <nst/core/tensor.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../support/support.hpp"

namespace optim_test {

// f(x) = 1/2 sum_i a_i (x_i - c_i)^2, gradient a_i (x_i - c_i); minimum 0 at c.
struct quadratic {
  std::vector<double> a, c;

  // Curvatures spaced geometrically from 1 to `condition` (the Hessian's condition number), and
  // a minimum at c_i = sin(i).
  static quadratic with_condition(int n, double condition) {
    quadratic q;
    for (int i = 0; i < n; ++i) {
      q.a.push_back(std::pow(condition, n > 1 ? static_cast<double>(i) / (n - 1) : 0.0));
      q.c.push_back(std::sin(static_cast<double>(i)));
    }
    return q;
  }

  template <class T>
  T operator()(const nst::tensor<T>& x, nst::tensor<T>& g) const {
    double f = 0;
    for (nst::index_t i = 0; i < x.size(); ++i) {
      const std::size_t k = static_cast<std::size_t>(i);
      const double r = static_cast<double>(x[i]) - c[k];
      f += 0.5 * a[k] * r * r;
      g[i] = static_cast<T>(a[k] * r);
    }
    return static_cast<T>(f);
  }
};

// The chained Rosenbrock function sum_i b (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 (b = 100 is the
// classic one); minimum 0 at x = (1, ..., 1). Its gradient:
//   df/dx_i = -4b x_i (x_{i+1} - x_i^2) - 2 (1 - x_i)   [i < n-1]   + 2b (x_i - x_{i-1}^2)   [i > 0]
// In 2-D its Hessian at the minimum, [[2 + 8b, -4b], [-4b, 2b]], has condition number ~25b.
struct rosenbrock {
  double b = 100;

  template <class T>
  T operator()(const nst::tensor<T>& x, nst::tensor<T>& g) const {
    const nst::index_t n = x.size();
    T f = 0;
    for (nst::index_t i = 0; i < n; ++i) g[i] = 0;
    for (nst::index_t i = 0; i + 1 < n; ++i) {
      const T valley = x[i + 1] - x[i] * x[i];
      const T offset = 1 - x[i];
      f += static_cast<T>(b) * valley * valley + offset * offset;
      g[i] += -4 * static_cast<T>(b) * x[i] * valley - 2 * offset;
      g[i + 1] += 2 * static_cast<T>(b) * valley;
    }
    return f;
  }
};

// (-1.2, 1, -1.2, 1, ...), the classic Rosenbrock start, as the fixtures use it.
template <class T>
nst::tensor<T> rosenbrock_start(nst::index_t n) {
  nst::tensor<T> x({n});
  for (nst::index_t i = 0; i < n; ++i) x[i] = static_cast<T>(i % 2 == 0 ? -1.2 : 1.0);
  return x;
}

// Wraps an objective and keeps the loss of every evaluation, in order.
template <class Objective>
struct recorder {
  Objective objective;
  std::vector<double> losses;

  template <class T>
  T operator()(const nst::tensor<T>& x, nst::tensor<T>& g) {
    const T f = objective(x, g);
    losses.push_back(static_cast<double>(f));
    return f;
  }
};
template <class Objective>
recorder<Objective> record(Objective objective) {
  return recorder<Objective>{objective, {}};
}

// A fixture of lines `key value...` ('#' comments), written by make_optim_fixtures.py.
class fixture {
 public:
  explicit fixture(const std::string& name) {
    std::ifstream in(nst_test::fixture_path("optim/" + name));
    REQUIRE(in.good());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream words(line);
      std::string key, word;
      words >> key;
      while (words >> word) entries_[key].push_back(word);
    }
  }

  std::string word(const std::string& key) const { return words(key).at(0); }
  double number(const std::string& key) const { return numbers(key).at(0); }
  int integer(const std::string& key) const { return static_cast<int>(number(key)); }
  std::vector<double> numbers(const std::string& key) const {
    std::vector<double> values;
    for (const std::string& w : words(key)) values.push_back(std::stod(w));
    return values;
  }
  nst::tensor<double> tensor(const std::string& key) const {
    const std::vector<double> values = numbers(key);
    return nst::tensor<double>(nst::shape{static_cast<nst::index_t>(values.size())}, values);
  }

 private:
  const std::vector<std::string>& words(const std::string& key) const {
    const auto it = entries_.find(key);
    INFO("fixture key " << key);
    REQUIRE(it != entries_.end());
    return it->second;
  }
  std::map<std::string, std::vector<std::string>> entries_;
};

// Largest |a_i - b_i| / max(|b_i|, 1e-300) over two equally long sequences.
inline double max_relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]) / std::max(std::abs(b[i]), 1e-300));
  return worst;
}

}  // namespace optim_test
