#include <nst/ops/resize.hpp>

#include "../support/support.hpp"

TEST_CASE("resize: same size is the identity, constant images stay constant", "[ops][resize]") {
  auto img = nst_test::random_tensor<float>({2, 3, 7, 9}, 11);
  auto same = nst::resize(img, 7, 9);
  CHECK(nst_test::max_relative_error(same, img) < 1e-6);
  nst::tensor<double> flat({1, 1, 13, 5}, 0.25);
  for (auto [h, w] : {std::pair<int, int>{4, 3}, {26, 11}, {1, 1}, {13, 2}}) {
    auto r = nst::resize(flat, h, w);
    for (double v : r) CHECK(v == Approx(0.25).epsilon(1e-12));
  }
}

TEST_CASE("resize: upsampling interpolates linearly between pixel centres", "[ops][resize]") {
  nst::tensor<double> ramp(nst::shape{1, 1, 1, 2}, std::vector<double>{0.0, 1.0});
  auto up = nst::resize(ramp, 1, 4);  // centres at -0.25, 0.25, 0.75, 1.25 in input pixels
  CHECK(up[0] == Approx(0.0));
  CHECK(up[1] == Approx(0.25));
  CHECK(up[2] == Approx(0.75));
  CHECK(up[3] == Approx(1.0));
}

TEST_CASE("resize: downsampling averages every input pixel (antialiasing)", "[ops][resize]") {
  // A checkerboard of 0/1 halves to a flat 0.5 grey, where point sampling would alias to 0 or 1.
  nst::tensor<double> board({1, 1, 8, 8});
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) board.at(0, 0, y, x) = (x + y) % 2;
  auto half = nst::resize(board, 4, 4);
  for (double v : half) CHECK(v == Approx(0.5).margin(0.13));
  // The mean of a smooth image is kept when halving it.
  auto img = nst_test::random_tensor<double>({1, 2, 32, 48}, 3, 0.0, 1.0);
  auto small = nst::resize(img, 16, 24);
  CHECK(small.vector().mean() == Approx(img.vector().mean()).epsilon(0.02));
}

TEST_CASE("resize_to_longer_side keeps the aspect ratio and validates", "[ops][resize]") {
  auto img = nst_test::random_tensor<float>({1, 3, 768, 1024}, 5);
  auto r = nst::resize_to_longer_side(img, 512);
  CHECK(r.shape() == nst::shape({1, 3, 384, 512}));
  auto tall = nst::resize_to_longer_side(nst_test::random_tensor<float>({1, 3, 30, 20}, 6), 15);
  CHECK(tall.shape() == nst::shape({1, 3, 15, 10}));
  auto unchanged = nst::resize_to_longer_side(img, 1024);
  CHECK(std::equal(unchanged.begin(), unchanged.end(), img.begin()));
  CHECK_THROWS_AS(nst::resize(img, 0, 5), nst::value_error);
  CHECK_THROWS_WITH(nst::resize(img, 70000, 5), Catch::Contains("65535 per side"));
  CHECK_THROWS_AS(nst::resize(img, 40000, 40000), nst::value_error);  // refused before allocating
  CHECK_THROWS_AS(nst::resize(nst::tensor<float>({3, 4}), 2, 2), nst::shape_error);
}
