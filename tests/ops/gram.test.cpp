#include <nst/autodiff/check_gradient.hpp>
#include <nst/ops/gram.hpp>
#include <cstring>

#include "../support/fixtures.hpp"
#include "../support/support.hpp"
#include "ops_testing.hpp"

using nst::index_t;

// G[n,i,j] = Σ_p F[n,i,p] F[n,j,p] / (C*H*W), by the definition, in double.
static nst::tensor<double> gram_by_definition(const nst::tensor<double>& f) {
  const index_t n = f.dim(0), c = f.dim(1), pixels = f.dim(2) * f.dim(3);
  nst::tensor<double> g({n, c, c});
  for (index_t b = 0; b < n; ++b)
    for (index_t i = 0; i < c; ++i)
      for (index_t j = 0; j < c; ++j) {
        double s = 0;
        for (index_t p = 0; p < pixels; ++p) s += f[(b * c + i) * pixels + p] * f[(b * c + j) * pixels + p];
        g[(b * c + i) * c + j] = s / static_cast<double>(c * pixels);
      }
  return g;
}

TEST_CASE("gram: validation errors", "[ops][gram]") {
  using ops_test::error_id;
  CHECK(error_id<nst::shape_error>([] { nst::gram(nst::tensor<float>({3, 4, 4})); }) == 131);
  CHECK(error_id<nst::shape_error>([] { nst::gram(nst::tensor<float>({1, 3, 0, 4})); }) == 132);
  const nst::tensor<float> f({2, 3, 4, 4});
  CHECK(error_id<nst::shape_error>([&] { nst::gram_backward(nst::tensor<float>({1, 3, 3}), f); }) == 133);
  CHECK(error_id<nst::shape_error>([&] {
          nst::gram_backward(nst::tensor<float>({2, 3, 3}), nst::tensor<float>({2, 3}));
        }) == 131);
}

TEMPLATE_TEST_CASE("gram: equals the definition per batch item, symmetric", "[ops][gram]", float, double) {
  using T = TestType;
  const double tolerance = std::is_same<T, float>::value ? 1e-5 : 1e-12;
  for (int threads : {1, 2, 3}) {
    const ops_test::thread_count scoped(threads);
    for (const nst::shape& s :
         {nst::shape{1, 1, 1, 1}, nst::shape{2, 5, 4, 3}, nst::shape{3, 40, 9, 11}, nst::shape{1, 67, 6, 5},
          nst::shape{2, 20, 40, 53}}) {  // the last in 4 pixel ranges of unequal widths
      INFO(s << ", " << threads << " threads");
      const auto f = nst_test::random_tensor<T>(s, 21);
      const auto g = nst::gram(f);
      CHECK(nst_test::fixture_error(g.template cast<double>(), gram_by_definition(f.template cast<double>())) <
            tolerance);
      const index_t c = s[1];
      nst::tensor<T> transposed(g.shape());
      for (index_t b = 0; b < s[0]; ++b)
        for (index_t i = 0; i < c; ++i)
          for (index_t j = 0; j < c; ++j) transposed[(b * c + i) * c + j] = g[(b * c + j) * c + i];
      CHECK(nst_test::fixture_error(g, transposed) == 0);  // mirrored from one triangle
    }
  }
}

TEST_CASE("gram: gradient matches central finite differences", "[ops][gram]") {
  for (const nst::shape& s : {nst::shape{2, 5, 4, 3}, nst::shape{1, 3, 1, 7}, nst::shape{3, 40, 3, 2}}) {
    INFO(s);
    const auto f = nst_test::random_tensor<double>(s, 31);
    const auto r = nst_test::random_tensor<double>({s[0], s[1], s[1]}, 32);  // not symmetric
    auto loss = [&](const nst::tensor<double>& v) { return ops_test::weighted_sum(nst::gram(v), r); };
    CHECK(nst::check_gradient(loss, f, nst::gram_backward(r, f)).ok(1e-6));
  }
}

TEMPLATE_TEST_CASE("gram: matches PyTorch", "[ops][gram]", float, double) {
  using T = TestType;
  const nst_test::fixture f("ops/gram.nstf");
  const auto features = f.get<T>("features");
  CHECK(nst_test::fixture_error(nst::gram(features), f.get<T>("gram")) < 1e-5);
  CHECK(nst_test::fixture_error(nst::gram_backward(f.get<T>("grad_gram"), features), f.get<T>("grad_features")) < 1e-5);
}

TEST_CASE("gram: forward and backward give the same bits with 1, 2 and 3 threads over pixel ranges", "[ops][gram]") {
  const auto f = nst_test::random_tensor<float>({2, 24, 61, 50}, 23);  // 3050 pixels: 5 ranges per item
  const auto dg = nst_test::random_tensor<float>({2, 24, 24}, 24);
  nst::tensor<float> g1, df1;
  for (int threads : {1, 2, 3}) {
    const ops_test::thread_count scoped(threads);
    INFO(threads << " threads");
    const auto g = nst::gram(f);
    const auto df = nst::gram_backward(dg, f);
    if (threads == 1) {
      g1 = g;
      df1 = df;
      // dF = (dG + dGᵀ) F / (C*H*W) per item, in double.
      nst::tensor<double> expected(f.shape());
      const index_t c = f.dim(1), pixels = f.dim(2) * f.dim(3);
      for (index_t n = 0; n < f.dim(0); ++n) {
        const Eigen::MatrixXd d = dg.template cast<double>().matrix(2 * c, c).middleRows(n * c, c);
        expected.matrix(2 * c, pixels).middleRows(n * c, c) =
            (d + d.transpose()) * f.template cast<double>().matrix(2 * c, pixels).middleRows(n * c, c) /
            static_cast<double>(c * pixels);
      }
      CHECK(nst_test::fixture_error(df.template cast<double>(), expected) < 1e-5);
      continue;
    }
    CHECK(std::memcmp(g.data(), g1.data(), g.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(df.data(), df1.data(), df.size() * sizeof(float)) == 0);
  }
}
