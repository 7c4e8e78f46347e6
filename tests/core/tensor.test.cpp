#include <nst/core/tensor.hpp>

#include "../support/support.hpp"

TEST_CASE("shape: rank, element count, equality and printing", "[core][tensor]") {
  nst::shape s{1, 3, 4, 5};
  CHECK(s.rank() == 4);
  CHECK(s.numel() == 60);
  CHECK(s == nst::shape({1, 3, 4, 5}));
  CHECK(s != nst::shape({1, 3, 5, 4}));
  CHECK(s.str() == "[1,3,4,5]");
  CHECK(nst::shape{}.numel() == 1);
  CHECK_THROWS_WITH(nst::shape({2, -1}), Catch::Contains("value_error.202") && Catch::Contains("negative"));
  CHECK_THROWS_AS(nst::shape({1, 1, 1, 1, 1, 1, 1}), nst::value_error);
}

TEST_CASE("tensor: NCHW layout is row-major and contiguous", "[core][tensor]") {
  nst::tensor<float> t({2, 3, 4, 5});
  CHECK(t.size() == 120);
  for (nst::index_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i);
  CHECK(t.at(1, 2, 3, 4) == 119.0f);
  CHECK(t.at(1, 0, 0, 0) == 60.0f);
  CHECK(t.at(0, 1, 2, 3) == 20.0f + 10.0f + 3.0f);
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 16 == 0);
}

TEST_CASE("tensor: Eigen views share the tensor's memory", "[core][tensor]") {
  nst::tensor<double> t({2, 3});
  auto m = t.matrix(2, 3);
  m(1, 2) = 7.0;
  CHECK(t[5] == 7.0);
  t.vector().setConstant(2.0);
  CHECK(t.matrix(3, 2).sum() == 12.0);
  CHECK_THROWS_WITH(t.matrix(4, 2), Catch::Contains("shape_error.104") && Catch::Contains("[2,3]"));
}

TEST_CASE("tensor: reshape keeps data, refuses a different element count", "[core][tensor]") {
  auto t = nst_test::random_tensor<float>({2, 6}, 1);
  const float last = t[11];
  t.reshape({3, 4});
  CHECK(t.shape() == nst::shape({3, 4}));
  CHECK(t[11] == last);
  CHECK_THROWS_AS(t.reshape({5, 5}), nst::shape_error);
}

TEST_CASE("tensor: construction from values and casting", "[core][tensor]") {
  nst::tensor<float> t(nst::shape{2, 2}, std::vector<float>{1.5f, -2.f, 3.f, 4.f});
  auto d = t.cast<double>();
  CHECK(d[0] == 1.5);
  CHECK(d.shape() == t.shape());
  CHECK_THROWS_WITH((nst::tensor<float>(nst::shape{2, 2}, std::vector<float>{1.f})),
                    Catch::Contains("1 values do not fill shape [2,2]"));
}

TEST_CASE("tensor: an uninitialised tensor has its shape, and resize keeps the values it keeps", "[core][tensor]") {
  nst::tensor<float> t(nst::shape{2, 3}, nst::uninitialized);  // values unspecified until written
  CHECK(t.shape() == (nst::shape{2, 3}));
  CHECK(t.size() == 6);
  for (nst::index_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i);
  const nst::tensor<float> copy = t;  // copies still copy values
  CHECK(copy[5] == 5.0f);
  t.resize({2, 4});
  CHECK(t[5] == 5.0f);
  CHECK(nst::tensor<float>(nst::shape{4}).vector().isZero());  // the plain constructor still zero-fills
}
