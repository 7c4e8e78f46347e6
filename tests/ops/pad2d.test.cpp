#include <nst/autodiff/check_gradient.hpp>
#include <nst/ops/pad2d.hpp>

#include "../support/support.hpp"
#include "ops_testing.hpp"

namespace {
using nst::index_t;
using nst::padding_mode;
}  // namespace

TEST_CASE("pad2d: the border of each mode, by hand", "[ops][pad2d]") {
  // One 3x4 plane 1..12, padded by 1 and by 2.
  nst::tensor<float> x({1, 1, 3, 4});
  for (index_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i + 1);
  const auto zeros = nst::pad2d(x, 1, padding_mode::zeros);
  const auto reflect = nst::pad2d(x, 1, padding_mode::reflect);
  const auto replicate = nst::pad2d(x, 2, padding_mode::replicate);
  REQUIRE(zeros.shape() == nst::shape({1, 1, 5, 6}));
  REQUIRE(replicate.shape() == nst::shape({1, 1, 7, 8}));
  CHECK(zeros.at(0, 0, 0, 0) == 0);
  CHECK(zeros.at(0, 0, 1, 1) == 1);
  CHECK(zeros.at(0, 0, 4, 5) == 0);
  // Reflect: row -1 is row 1, column -1 is column 1; row 3 is row 1, column 4 is column 2.
  CHECK(reflect.at(0, 0, 0, 0) == x.at(0, 0, 1, 1));
  CHECK(reflect.at(0, 0, 0, 2) == x.at(0, 0, 1, 1));
  CHECK(reflect.at(0, 0, 4, 5) == x.at(0, 0, 1, 2));
  CHECK(reflect.at(0, 0, 2, 3) == x.at(0, 0, 1, 2));
  // Replicate: the corner value fills the corner block.
  CHECK(replicate.at(0, 0, 0, 0) == 1);
  CHECK(replicate.at(0, 0, 1, 1) == 1);
  CHECK(replicate.at(0, 0, 6, 7) == 12);
  CHECK(replicate.at(0, 0, 3, 0) == x.at(0, 0, 1, 0));
  CHECK(nst::parse_padding_mode("reflect") == padding_mode::reflect);
  CHECK(nst::to_string(padding_mode::replicate) == std::string("replicate"));
}

TEST_CASE("pad2d: the gradient matches finite differences in every mode", "[ops][pad2d]") {
  const auto x = nst_test::random_tensor<double>({2, 3, 5, 4}, 21);
  for (const padding_mode mode : {padding_mode::zeros, padding_mode::reflect, padding_mode::replicate})
    for (const index_t p : {0, 1, 3}) {
      INFO(nst::to_string(mode) << " padding " << p);
      const auto r = nst_test::random_tensor<double>({2, 3, 5 + 2 * p, 4 + 2 * p}, 22);
      const auto loss = [&](const nst::tensor<double>& v) { return ops_test::weighted_sum(nst::pad2d(v, p, mode), r); };
      const auto check = nst::check_gradient(loss, x, nst::pad2d_backward(r, p, mode));
      INFO("worst relative error " << check.max_relative_error);
      CHECK(check.ok(1e-6));
    }
}

TEST_CASE("pad2d: bad shapes and paddings are refused", "[ops][pad2d]") {
  CHECK(ops_test::error_id<nst::shape_error>([] { nst::pad2d(nst::tensor<float>({3, 4}), 1, padding_mode::zeros); }) ==
        160);
  CHECK(ops_test::error_id<nst::value_error>([] { nst::pad2d(nst::tensor<float>({1, 1, 3, 3}), -1, padding_mode::zeros); }) ==
        261);
  CHECK(ops_test::error_id<nst::value_error>(
            [] { nst::pad2d(nst::tensor<float>({1, 1, 3, 3}), 3, padding_mode::reflect); }) == 262);
  CHECK(ops_test::error_id<nst::shape_error>(
            [] { nst::pad2d_backward(nst::tensor<float>({1, 1, 2, 5}), 1, padding_mode::zeros); }) == 161);
  CHECK(ops_test::error_id<nst::value_error>([] { nst::parse_padding_mode("mirror"); }) == 260);
}
