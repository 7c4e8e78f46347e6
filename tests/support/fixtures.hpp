// Reads the reference tensors in tests/fixtures/ (written from PyTorch by generator scripts such
// as tests/fixtures/make_fixtures.py), so tests compare nst with PyTorch without Python at run time.
//
// Format of a .nstf file: the line "nst-fixture 1", then for each tensor a text line
// "<name> <rank> <dim0> ... <dim(rank-1)>" directly followed by its values, float32
// little-endian, row-major. A rank-0 tensor holds one value.
//
//   nst_test::fixture f("ops/conv2d_3x3_pad1.nstf");   // relative to tests/fixtures/
//   auto x = f.get<double>("input");                   // converted to the scalar type asked for
//   CHECK(nst_test::fixture_error(nst::relu(x), f.get<double>("output")) < 1e-5);
//
// Writing one from Python (numpy):  f.write(b"nst-fixture 1\n");
//   f.write(f"{name} {a.ndim} {' '.join(map(str, a.shape))}".rstrip().encode() + b"\n")
//   f.write(np.asarray(a, dtype="<f4").tobytes())
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <nst/core/tensor.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"

namespace nst_test {

class fixture {
 public:
  // Reads tests/fixtures/<relative_path>; a missing or malformed file fails the current test.
  explicit fixture(const std::string& relative_path) : path_(fixture_path(relative_path)) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) FAIL("fixture " << path_ << " cannot be opened");
    std::string line;
    if (!std::getline(in, line) || line != "nst-fixture 1")
      FAIL("fixture " << path_ << " lacks the nst-fixture 1 header");
    while (std::getline(in, line)) {
      std::istringstream header(line);
      std::string name;
      int rank = -1;
      header >> name >> rank;
      if (name.empty() || rank < 0 || rank > nst::shape::max_rank)
        FAIL("fixture " << path_ << ": bad header line '" << line << "'");
      nst::shape s;
      for (int i = 0; i < rank; ++i) {
        nst::index_t d = -1;
        if (!(header >> d) || d < 0) FAIL("fixture " << path_ << ": bad shape in '" << line << "'");
        s.push_back(d);
      }
      std::vector<unsigned char> bytes(static_cast<std::size_t>(s.numel()) * 4);
      if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
        FAIL("fixture " << path_ << ": tensor " << name << " is truncated");
      std::vector<float> values(static_cast<std::size_t>(s.numel()));
      for (std::size_t i = 0; i < values.size(); ++i) {  // little-endian on any host
        const std::uint32_t bits = std::uint32_t(bytes[4 * i]) | std::uint32_t(bytes[4 * i + 1]) << 8 |
                                   std::uint32_t(bytes[4 * i + 2]) << 16 | std::uint32_t(bytes[4 * i + 3]) << 24;
        std::memcpy(&values[i], &bits, 4);
      }
      tensors_.emplace(name, nst::tensor<float>(s, values));
    }
  }

  bool has(const std::string& name) const { return tensors_.count(name) > 0; }

  // The tensor `name` as tensor<T>; fails the current test when it is absent.
  template <class T>
  nst::tensor<T> get(const std::string& name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) FAIL("fixture " << path_ << " has no tensor named " << name);
    return it->second.template cast<T>();
  }

  // The single value of the tensor `name` (rank 0 or one element).
  template <class T>
  T scalar(const std::string& name) const {
    const nst::tensor<T> t = get<T>(name);
    if (t.size() != 1) FAIL("fixture " << path_ << ": " << name << " is not a scalar");
    return t[0];
  }

 private:
  std::string path_;
  std::map<std::string, nst::tensor<float>> tensors_;
};

// The error of `actual` against `expected` (a fixture, or any more exact result): the largest
// |a - e| / max(|e|, rms(e)). Elements smaller than the tensor's root-mean-square value are judged
// against that typical magnitude instead of against themselves: near zero, float round-off of a
// sum is set by the size of its terms, not by the (cancelled) result.
template <class T>
double fixture_error(const nst::tensor<T>& actual, const nst::tensor<T>& expected) {
  double squares = 0;
  for (T v : expected) squares += static_cast<double>(v) * static_cast<double>(v);
  const double rms = expected.empty() ? 0.0 : std::sqrt(squares / static_cast<double>(expected.size()));
  return max_relative_error(actual, expected, std::max(rms, 1e-30));
}

}  // namespace nst_test
