#include <cmath>
#include <cstring>
#include <limits>
#include <nst/core/allocator.hpp>
#include <nst/ops/activation.hpp>
#include <nst/ops/conv2d.hpp>
#include <nst/ops/winograd.hpp>
#include <sstream>
#include <type_traits>
#include <vector>

#include "../support/support.hpp"
#include "ops_testing.hpp"

namespace {

using nst_test::error_of_largest;

using nst::index_t;

// Measured (inputs and weights uniform in [-1, 1], up to 37 channels): float F(6x6) up to 7e-6
// of the largest output, F(4x4) 1e-6 .. 4.8e-6, F(2x2) up to 2.8e-7; double below 1e-14. The
// bounds leave headroom.
template <class T, int M>
double tolerance() {
  if (!std::is_same<T, float>::value) return 1e-12;
  return M == 6 ? 5e-5 : M == 4 ? 3e-5 : 3e-6;
}

// Same shape and the same bytes (not merely equal values: -0 and 0 differ).
bool same_bits(const nst::tensor<float>& a, const nst::tensor<float>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0;
}

struct shape_case {
  index_t n, c, h, w, o;
};

// A random layer for `input` [N,C,H,W] and `outs` output channels: x, a kernel with values in
// ±weight_scale, a bias and an output gradient dy, from seeds seed .. seed+3.
struct random_layer {
  nst::tensor<float> x, weight, bias, dy;
  random_layer(const nst::shape& input, index_t outs, int seed, float weight_scale)
      : x(nst_test::random_tensor<float>(input, seed)),
        weight(nst_test::random_tensor<float>({outs, input[1], 3, 3}, seed + 1, -weight_scale, weight_scale)),
        bias(nst_test::random_tensor<float>({outs}, seed + 2)),
        dy(nst_test::random_tensor<float>({input[0], outs, input[2], input[3]}, seed + 3)) {}
};

// Odd sizes (partial tiles on both edges), N > 1, channel counts that divide nothing, images
// smaller than one tile (lane groups across tile rows); the wide ones (16 tiles or more a row:
// one-row groups, vectorised row-run loads and stores) have groups of 16 tiles, partial groups
// at a row's end, groups that touch both edges of the image (64 px for F(4x4), 96 for F(6x6)).
const std::vector<shape_case> cases = {{1, 1, 1, 1, 1},   {2, 3, 7, 10, 5},   {1, 5, 4, 4, 3},   {3, 2, 2, 9, 4},
                                       {1, 13, 11, 6, 7}, {2, 37, 9, 13, 19}, {1, 4, 14, 79, 5}, {2, 3, 9, 150, 2},
                                       {2, 3, 13, 64, 2}, {1, 2, 7, 96, 3}};

template <class T, int M>
void check_against_reference() {
  for (const shape_case& s : cases) {
    INFO("input [" << s.n << "," << s.c << "," << s.h << "," << s.w << "], " << s.o << " outputs, F(" << M << "x" << M
                   << ")");
    const auto x = nst_test::random_tensor<T>({s.n, s.c, s.h, s.w}, 1);
    const auto weight = nst_test::random_tensor<T>({s.o, s.c, 3, 3}, 2);
    const auto bias = nst_test::random_tensor<T>({s.o}, 3);
    const nst::winograd_weights<T, M> forward(weight);
    const auto want = nst::conv2d_reference(x, weight, bias, {1, 1});
    CHECK(error_of_largest(nst::winograd_conv3x3(x, forward, bias), want) < tolerance<T, M>());
    CHECK(error_of_largest(nst::winograd_conv3x3(x, forward, bias, true), nst::relu(want)) < tolerance<T, M>());

    // The input gradient uses the same transformed weights; with relu_output, the ReLU's mask too.
    const auto dy = nst_test::random_tensor<T>({s.n, s.o, s.h, s.w}, 4);
    CHECK(error_of_largest(nst::winograd_conv3x3_backward_input(dy, forward),
                           nst::conv2d_backward_input_reference(dy, weight, x.shape(), {1, 1})) < tolerance<T, M>());
    const auto y = nst::relu(want);
    CHECK(error_of_largest(nst::winograd_conv3x3_backward_input(dy, forward, nst::relu_mask(y)),
                           nst::conv2d_backward_input_reference(nst::relu_backward(dy, y), weight, x.shape(), {1, 1})) <
          tolerance<T, M>());
  }
}

// transform_line (the pairs of rows or columns computed together) against the plain product
// out = X·in (Xᵀ·in when Transposed), in double, for `Matrix` of R x C.
template <bool Transposed, const auto& Matrix, int R, int C>
void check_line_transform(const double (&matrix)[R][C]) {
  constexpr int rows = Transposed ? C : R, cols = Transposed ? R : C,
                width = nst::detail::panel_gemm_traits<double>::width;
  double in[cols][width], out[rows][width];
  for (int k = 0; k < cols; ++k)
    for (int l = 0; l < width; ++l) in[k][l] = std::sin(1.0 + 7 * k + l);
  nst::detail::transform_line<Transposed, Matrix>(&in[0][0], width, &out[0][0], width);
  for (int i = 0; i < rows; ++i)
    for (int l = 0; l < width; ++l) {
      double want = 0;
      for (int k = 0; k < cols; ++k) want += (Transposed ? matrix[k][i] : matrix[i][k]) * in[k][l];
      CHECK(std::abs(out[i][l] - want) <= 1e-12 * (1 + std::abs(want)));
    }
}

}  // namespace

TEST_CASE("winograd: the paired line transforms equal the plain matrix products", "[ops][winograd]") {
  using F4 = nst::detail::winograd_matrices<4>;
  using F6 = nst::detail::winograd_matrices<6>;
  check_line_transform<false, F6::BT>(F6::BT);
  check_line_transform<true, F6::BT>(F6::BT);
  check_line_transform<false, F6::AT>(F6::AT);
  check_line_transform<true, F6::AT>(F6::AT);
  check_line_transform<false, F6::G>(F6::G);
  check_line_transform<false, F4::BT>(F4::BT);
  check_line_transform<true, F4::BT>(F4::BT);
  check_line_transform<false, F4::AT>(F4::AT);
  check_line_transform<true, F4::AT>(F4::AT);
  check_line_transform<false, F4::G>(F4::G);
  // The pairs found: the points ±1, ±2, ±1/2 are rows 1-2, 3-4, 5-6 of Bᵀ (and of G) and
  // columns 1-2, 3-4, 5-6 of Aᵀ.
  constexpr auto bt = nst::detail::make_line_plan<false>(F6::BT);
  constexpr auto at = nst::detail::make_line_plan<false>(F6::AT);
  CHECK(!bt.paired_columns);
  CHECK(at.paired_columns);
  for (int b : {2, 4, 6}) {
    CHECK(bt.row_partner[b] == b - 1);
    CHECK(at.column_partner[b] == b - 1);
  }
  CHECK(bt.row_partner[7] == -1);
  CHECK(at.column_partner[7] == -1);
}

TEST_CASE("winograd: F(6x6), F(4x4) and F(2x2) equal the reference convolution and its input gradient",
          "[ops][winograd]") {
  check_against_reference<float, 6>();
  check_against_reference<float, 4>();
  check_against_reference<float, 2>();
  check_against_reference<double, 6>();
  check_against_reference<double, 4>();
  check_against_reference<double, 2>();
}

TEST_CASE("winograd: VGG-sized layers match conv2d at every thread count", "[ops][winograd]") {
  // Enough tiles for several parallel blocks; conv2d is the im2col + GEMM path.
  const auto x = nst_test::random_tensor<float>({1, 64, 45, 38}, 5);
  const auto weight = nst_test::random_tensor<float>({96, 64, 3, 3}, 6, -0.1f, 0.1f);
  const auto bias = nst_test::random_tensor<float>({96}, 7);
  const auto want = nst::conv2d(x, weight, bias, {1, 1});
  const nst::winograd_weights<float> u(weight);
  const auto dy = nst_test::random_tensor<float>({2, 96, 45, 38}, 8);
  const auto x2 = nst_test::random_tensor<float>({2, 64, 45, 38}, 9);
  const auto want_dx = nst::conv2d_backward_input(dy, weight, x2.shape(), {1, 1});
  const int threads = nst::num_threads();
  for (int t : {1, 2, 3}) {
    INFO(t << " threads");
    nst::set_num_threads(t);
    CHECK(error_of_largest(nst::winograd_conv3x3(x, u, bias), want) < tolerance<float, 4>());
    CHECK(error_of_largest(nst::winograd_conv3x3_backward_input(dy, u), want_dx) < tolerance<float, 4>());
  }
  nst::set_num_threads(threads);
}

// The forward (with ReLU) and both input gradients at 1 thread, then at 2 and 3: the same bits.
template <int M>
void check_thread_counts_agree(const nst::shape& input, index_t outs, int seed) {
  INFO("input " << input << ", " << outs << " outputs, F(" << M << "x" << M << ")");
  const random_layer layer(input, outs, seed, 0.2f);
  const auto &x = layer.x, &weight = layer.weight, &bias = layer.bias, &dy = layer.dy;
  const nst::winograd_weights<float, M> u(weight);
  const int threads = nst::num_threads();
  nst::set_num_threads(1);
  const auto y = nst::winograd_conv3x3(x, u, bias, true);
  const nst::relu_mask mask(y);
  const auto dx = nst::winograd_conv3x3_backward_input(dy, u);
  const auto dx_masked = nst::winograd_conv3x3_backward_input(dy, u, mask);
  CHECK(error_of_largest(y, nst::relu(nst::conv2d(x, weight, bias, {1, 1}))) < tolerance<float, M>());
  CHECK(error_of_largest(dx, nst::conv2d_backward_input(dy, weight, x.shape(), {1, 1})) < tolerance<float, M>());
  for (int t : {2, 3}) {
    INFO(t << " threads");
    nst::set_num_threads(t);
    CHECK(same_bits(nst::winograd_conv3x3(x, u, bias, true), y));
    CHECK(same_bits(nst::winograd_conv3x3_backward_input(dy, u), dx));
    CHECK(same_bits(nst::winograd_conv3x3_backward_input(dy, u, mask), dx_masked));
  }
  nst::set_num_threads(threads);
}

TEST_CASE("winograd: every thread count gives the same bits", "[ops][winograd]") {
  // The block sizes the shapes below are chosen for: one block for 8x38 tiles (F(4x4)) and 7x26
  // (F(6x6)) of 24 -> 20 channels, several for 3x4x38 and 3x4x25 of 192 -> 160.
  CHECK(nst::detail::winograd_block_tiles(36, 24, 20) >= 8 * 38);
  CHECK(nst::detail::winograd_block_tiles(64, 24, 20) >= 7 * 26);
  CHECK(2 * nst::detail::winograd_block_tiles(36, 192, 160) < 3 * 4 * 38);
  CHECK(2 * nst::detail::winograd_block_tiles(64, 192, 160) < 3 * 4 * 25);
  // One block of tiles (its steps split among the threads), wide enough for row runs, partial
  // tiles at the right and bottom edges.
  check_thread_counts_agree<4>({1, 24, 30, 150}, 20, 10);
  check_thread_counts_agree<6>({1, 24, 40, 152}, 20, 10);
  // Several blocks (whole blocks per thread) and, for the input gradient, several bands of tile
  // rows, the second starting inside an item (its top window rows go through the halo) and
  // running into the next; a partial tile row at the bottom of each item.
  check_thread_counts_agree<4>({3, 192, 13, 150}, 160, 20);
  check_thread_counts_agree<6>({3, 192, 19, 150}, 160, 20);
}

// The input gradient writes every value of dx, whatever its memory held before: each band zeroes
// the rows it adds onto just before it adds. In a memory plan the second scope's dx lands where
// the first scope's dx was, here overwritten with NaN before it was freed.
template <int M>
void check_gradient_on_dirty_memory(const nst::shape& input, index_t outs, int seed) {
  INFO("input " << input << ", " << outs << " outputs, F(" << M << "x" << M << ")");
  const random_layer layer(input, outs, seed, 0.2f);
  const auto &weight = layer.weight, &dy = layer.dy;
  const nst::winograd_weights<float, M> u(weight);
  const auto want = nst::winograd_conv3x3_backward_input(dy, u);
  const int threads = nst::num_threads();
  for (int t : {1, 2}) {
    INFO(t << " threads");
    nst::set_num_threads(t);
    nst::memory_plan plan;
    for (int scope = 0; scope < 2; ++scope) {
      const nst::planned_memory planned(plan);
      auto dx = nst::winograd_conv3x3_backward_input(dy, u);
      CHECK(same_bits(dx, want));
      std::fill(dx.data(), dx.data() + dx.size(), std::numeric_limits<float>::quiet_NaN());
    }
    CHECK(plan.planned_tensors() > 0);
  }
  nst::set_num_threads(threads);
}

TEST_CASE("winograd: the input gradient overwrites whatever dx's memory held", "[ops][winograd]") {
  check_gradient_on_dirty_memory<4>({1, 24, 30, 150}, 20, 30);    // one band
  check_gradient_on_dirty_memory<4>({3, 192, 13, 150}, 160, 40);  // bands across items, halos
  check_gradient_on_dirty_memory<6>({3, 192, 19, 150}, 160, 50);
}

// The transient functions (kernel transformed inside the call, in chunks of rows of U for an
// image of one block) give the bits of the functions with the whole kernel transformed first, at
// 1, 2 and 3 threads.
template <int M>
void check_transient_chunks(const nst::shape& input, index_t outs, int seed) {
  constexpr int positions = nst::winograd_weights<float, M>::positions;
  const index_t channels = input[1];
  const nst::detail::winograd_tiling<M> tiling(input[0], input[2], input[3]);
  INFO("input " << input << ", " << outs << " outputs, F(" << M << "x" << M << ")");
  // One block (one band), and more than one chunk each way.
  REQUIRE(tiling.count() <= nst::detail::winograd_block_tiles(positions, channels, outs));
  REQUIRE(nst::detail::transient_chunk(positions, tiling.count(),
                                       nst::detail::winograd_block_tiles(positions, channels, outs), outs,
                                       channels) > 0);
  REQUIRE(nst::detail::transient_chunk(positions, tiling.count(),
                                       nst::detail::winograd_band_tiles(positions, channels, outs), channels,
                                       outs) > 0);
  const random_layer layer(input, outs, seed, 0.1f);
  const auto &x = layer.x, &weight = layer.weight, &bias = layer.bias, &dy = layer.dy;
  const nst::winograd_weights<float, M> u(weight);
  const auto y = nst::winograd_conv3x3(x, u, bias, true);
  const nst::relu_mask mask(y);
  const auto dx = nst::winograd_conv3x3_backward_input(dy, u, mask);
  const int threads = nst::num_threads();
  for (int t : {1, 2, 3}) {
    INFO(t << " threads");
    nst::set_num_threads(t);
    CHECK(same_bits(nst::winograd_conv3x3_transient<float, M>(x, weight, bias, true), y));
    CHECK(same_bits(nst::winograd_conv3x3_backward_input_transient<float, M>(dy, weight, mask), dx));
  }
  nst::set_num_threads(threads);
}

// The _add functions add the input gradient onto a gradient in place: that gradient plus the
// input gradient (to rounding: each value is added in another order), the same bits at every
// thread count, and the transient kernel's the same bits as the whole kernel's.
template <int M>
void check_gradient_added(const nst::shape& input, index_t outs, int seed) {
  INFO("input " << input << ", " << outs << " outputs, F(" << M << "x" << M << ")");
  const random_layer layer(input, outs, seed, 0.1f);
  const auto &x = layer.x, &weight = layer.weight, &dy = layer.dy;
  const auto earlier = nst_test::random_tensor<float>(input, seed + 4, -3.0f, 3.0f);
  const nst::winograd_weights<float, M> u(weight);
  const nst::relu_mask mask(nst::winograd_conv3x3(x, u, {}, true));
  nst::tensor<float> want = earlier;
  want.vector() += nst::winograd_conv3x3_backward_input(dy, u, mask).vector();
  nst::tensor<float> sum = earlier;
  nst::winograd_conv3x3_backward_input_add(dy, u, mask, sum);
  CHECK(error_of_largest(sum, want) < 1e-6);
  CHECK(error_of_largest(sum, earlier) > 0.1);  // the input gradient is not negligible beside it
  const int threads = nst::num_threads();
  for (int t : {1, 2, 3}) {
    INFO(t << " threads");
    nst::set_num_threads(t);
    nst::tensor<float> again = earlier, transient = earlier;
    nst::winograd_conv3x3_backward_input_add(dy, u, mask, again);
    nst::winograd_conv3x3_backward_input_transient_add<float, M>(dy, weight, mask, transient);
    CHECK(same_bits(again, sum));
    CHECK(same_bits(transient, sum));
  }
  nst::set_num_threads(threads);
  nst::tensor<float> other(nst::shape{input[0], input[1], input[2], input[3] + 1});
  CHECK(ops_test::error_id<nst::shape_error>([&] { nst::winograd_conv3x3_backward_input_add(dy, u, mask, other); }) ==
        166);
  std::ostringstream shapes;
  shapes << other.shape() << ", expected the input's shape " << input;
  CHECK_THROWS_WITH((nst::winograd_conv3x3_backward_input_transient_add<float, M>(dy, weight, mask, other)),
                    Catch::Contains(shapes.str()));
}

TEST_CASE("winograd: the input gradient added in place onto another gradient", "[ops][winograd]") {
  check_gradient_added<4>({1, 24, 30, 150}, 20, 60);    // one band
  check_gradient_added<6>({3, 192, 19, 150}, 160, 70);  // bands across items, halos
  check_gradient_added<6>({1, 200, 20, 17}, 400, 80);   // one band, the transient kernel in chunks
}

// The ReLU mask built by the forward pass as it writes the output has the bits of the mask built
// from the output afterwards, at every thread count (tile groups of one row, across rows, at the
// image's edges; whole blocks and steps split; the transient kernel whole and in chunks).
template <int M>
void check_mask_from_forward(const nst::shape& input, index_t outs, int seed) {
  INFO("input " << input << ", " << outs << " outputs, F(" << M << "x" << M << ")");
  const random_layer layer(input, outs, seed, 0.1f);
  const auto &x = layer.x, &weight = layer.weight, &bias = layer.bias;
  const nst::winograd_weights<float, M> u(weight);
  const int threads = nst::num_threads();
  for (int t : {1, 2, 3}) {
    INFO(t << " threads");
    nst::set_num_threads(t);
    nst::relu_mask kept, transient;
    const auto y = nst::winograd_conv3x3(x, u, bias, true, &kept);
    const auto y_transient = nst::winograd_conv3x3_transient<float, M>(x, weight, bias, true, &transient);
    const nst::relu_mask want(y);
    REQUIRE(kept.shape() == y.shape());
    REQUIRE(transient.shape() == y.shape());
    bool same = true, any = false;
    for (index_t i = 0; i < y.size(); ++i) {
      same = same && kept[i] == want[i] && transient[i] == want[i];
      any = any || want[i];
    }
    CHECK(same);
    CHECK(any);
    CHECK(same_bits(y_transient, y));
  }
  nst::set_num_threads(threads);
}

TEST_CASE("winograd: the forward pass builds the ReLU mask of its output", "[ops][winograd]") {
  check_mask_from_forward<6>({2, 24, 40, 150}, 20, 90);    // groups of one tile row, blocks
  check_mask_from_forward<4>({1, 16, 21, 9}, 24, 100);     // narrow: groups across rows, edges
  check_mask_from_forward<4>({2, 16, 9, 10}, 24, 120);     // narrow: groups across items
  check_mask_from_forward<6>({1, 200, 20, 17}, 400, 110);  // the transient kernel in chunks
}

TEST_CASE("winograd: input-gradient bands waste few product columns and share evenly", "[ops][winograd]") {
  using nst::detail::winograd_band_rows;
  // conv1_2 at 256 px, F(6x6): 43 rows of 43 tiles, target 128 tiles. The target's 3 rows (129
  // tiles) would compute 160 columns, 15 bands that two threads split 7 and 8; 2 rows compute 96
  // for 86 tiles, 22 bands.
  CHECK(winograd_band_rows(43, 43, 128, 32) == 2);
  // conv2_2 at 256 px: 22 rows of 22 tiles, target 64. 3 rows are 66 tiles in 96 columns; 4 rows
  // fill the same columns with 88.
  CHECK(winograd_band_rows(22, 22, 64, 32) == 4);
  // conv3_1 at 256 px, F(4x4): 4 rows of 16 tiles fill 64 columns exactly; taller bands would
  // need more scratch than the target's.
  CHECK(winograd_band_rows(16, 16, 84, 32) == 4);
  // An image within the target is one band; a row longer than the target is a band alone.
  CHECK(winograd_band_rows(8, 8, 256, 32) == 8);
  CHECK(winograd_band_rows(10, 1000, 128, 32) == 1);
  CHECK(winograd_band_rows(1, 5, 128, 32) == 1);
}

TEST_CASE("winograd: transient kernels in chunks give the bits of the whole transformed kernel", "[ops][winograd]") {
  check_transient_chunks<4>({2, 200, 13, 20}, 400, 30);
  check_transient_chunks<6>({1, 200, 20, 17}, 400, 40);
  // A part of U is those rows and columns of the whole, bit for bit.
  const auto weight = nst_test::random_tensor<float>({40, 50, 3, 3}, 50);
  const nst::winograd_weights<float, 6> whole(weight), part(weight, 7, 29, 16, 45);
  REQUIRE(part.out_channels() == 22);
  REQUIRE(part.in_channels() == 29);
  bool same = true;
  for (int xi = 0; xi < 64; ++xi)
    for (index_t o = 0; o < 22; ++o)
      same = same && std::memcmp(part.position(xi) + o * 29, whole.position(xi) + (o + 7) * 50 + 16,
                                 29 * sizeof(float)) == 0;
  CHECK(same);
  CHECK_THROWS_AS(nst::winograd_weights<float>(weight, 7, 7, 0, 50), nst::value_error);
  CHECK_THROWS_WITH(nst::winograd_weights<float>(weight, 0, 40, 30, 51),
                    Catch::Contains("[30,51)") && Catch::Contains("[40,50,3,3]"));
}

TEST_CASE("winograd: bad shapes are reported with the shapes involved", "[ops][winograd]") {
  const auto weight = nst_test::random_tensor<float>({4, 3, 3, 3}, 8);
  const nst::winograd_weights<float> u(weight);
  CHECK_THROWS_AS(nst::winograd_weights<float>(nst::tensor<float>({4, 3, 5, 5})), nst::shape_error);
  CHECK_THROWS_AS(nst::winograd_weights<float>(nst::tensor<float>({4, 3, 3})), nst::shape_error);
  CHECK_THROWS_WITH(nst::winograd_conv3x3(nst::tensor<float>({1, 2, 8, 8}), u),
                    Catch::Contains("[1,2,8,8]") && Catch::Contains("[4,3,3,3]"));
  CHECK_THROWS_AS(nst::winograd_conv3x3(nst::tensor<float>({1, 3, 8, 8}), u, nst::tensor<float>({3})),
                  nst::shape_error);
  CHECK_THROWS_AS(nst::winograd_conv3x3(nst::tensor<float>({1, 3, 8, 8}), nst::winograd_weights<float>()),
                  nst::value_error);
  CHECK_THROWS_WITH(nst::winograd_conv3x3_backward_input(nst::tensor<float>({1, 3, 8, 8}), u),
                    Catch::Contains("[1,3,8,8]") && Catch::Contains("[4,3,3,3]"));
  CHECK_THROWS_AS(nst::winograd_conv3x3_backward_input(nst::tensor<float>({1, 4, 8, 8}), u,
                                                       nst::relu_mask(nst::tensor<float>({1, 4, 8, 9}))),
                  nst::shape_error);
  CHECK_THROWS_AS(
      (nst::winograd_conv3x3_transient<float, 4>(nst::tensor<float>({1, 3, 8, 8}), nst::tensor<float>({4, 3, 3}))),
      nst::shape_error);
  CHECK_THROWS_WITH((nst::winograd_conv3x3_transient<float, 4>(nst::tensor<float>({1, 2, 8, 8}), weight)),
                    Catch::Contains("[1,2,8,8]") && Catch::Contains("[4,3,3,3]"));
  CHECK_THROWS_WITH(
      (nst::winograd_conv3x3_backward_input_transient<float, 4>(nst::tensor<float>({1, 3, 8, 8}), weight)),
      Catch::Contains("[1,3,8,8]") && Catch::Contains("[4,3,3,3]"));
}
