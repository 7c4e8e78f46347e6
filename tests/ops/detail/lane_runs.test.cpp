#include <cstdint>
#include <cstring>
#include <limits>
#include <nst/ops/detail/lane_runs.hpp>
#include <vector>

#include "../../support/support.hpp"

namespace {

constexpr int lanes = 16;

// Random floats with their sign bits and a few zeros of both signs, so that a swapped, lost or
// re-added value shows in the bits.
std::vector<float> random_values(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    v[i] = static_cast<float>(static_cast<std::int32_t>(seed >> 8) - (1 << 23)) / 1024.0f;
    if (i % 37 == 5) v[i] = (i % 2) ? 0.0f : -0.0f;
  }
  return v;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The three run moves against their definitions, value by value, for one tile width M and
// column count Cols (M + 2: windows of the input transform and the gradient's scatter; M: output
// rows and dy). Whatever path the build takes (AVX-512 permutes or loops), the bits must be these.
template <int M, int Cols>
void check_runs() {
  constexpr int length = M * lanes + (Cols - M);
  INFO("M = " << M << ", " << Cols << " columns");
  const std::vector<float> row = random_values(length, 7 * M + Cols);

  float loaded[Cols][lanes];
  nst::detail::load_row_run<M>(row.data(), loaded);
  int wrong = 0;
  for (int j = 0; j < Cols; ++j)
    for (int l = 0; l < lanes; ++l) wrong += !same_bits(loaded[j][l], row[static_cast<std::size_t>(M * l + j)]);
  CHECK(wrong == 0);

  if constexpr (Cols == M) {
    std::vector<float> stored(length, 1.5f);
    nst::detail::store_row_run<M>(loaded, stored.data());
    wrong = 0;
    for (int l = 0; l < lanes; ++l)
      for (int j = 0; j < M; ++j) wrong += !same_bits(stored[static_cast<std::size_t>(M * l + j)], loaded[j][l]);
    CHECK(wrong == 0);
  }

  // Adds: the columns M.. of every lane first, then columns 0..M-1, each place in that order.
  const std::vector<float> values = random_values(Cols * lanes, 11 * M + Cols);
  float in[Cols][lanes];
  for (int j = 0; j < Cols; ++j)
    for (int l = 0; l < lanes; ++l) in[j][l] = values[static_cast<std::size_t>(j * lanes + l)];
  std::vector<float> want = row, got = row;
  for (int l = 0; l < lanes; ++l)
    for (int j = M; j < Cols; ++j) want[static_cast<std::size_t>(M * l + j)] += in[j][l];
  for (int l = 0; l < lanes; ++l)
    for (int j = 0; j < M; ++j) want[static_cast<std::size_t>(M * l + j)] += in[j][l];
  nst::detail::add_row_run<M>(in, got.data());
  wrong = 0;
  for (int k = 0; k < length; ++k)
    wrong += !same_bits(got[static_cast<std::size_t>(k)], want[static_cast<std::size_t>(k)]);
  CHECK(wrong == 0);
}

// The masked overloads: a range of places (as at the image's edges) through a gate (a ReLU's
// mask bits): only the places with a bit are read, written or added; the others read as +0 and
// keep their values. Places without a bit hold NaN, so a value read from one shows.
template <int M, int Cols>
void check_masked_runs(std::int64_t begin, std::int64_t end) {
  constexpr int length = M * lanes + (Cols - M);
  INFO("M = " << M << ", " << Cols << " columns, places " << begin << " .. " << end);
  const nst::detail::run_mask valid =
      nst::detail::run_mask::values(begin, end).gated(0xF0F0'FF00'7777'FFFEu, 0xFFFF'FFFF'3CC3'FFFFu);
  std::vector<float> row = random_values(length, 5 * M + Cols);
  int with_bit = 0;
  for (int k = 0; k < length; ++k) {
    const bool bit =
        k >= begin && k < end && ((k < 64 ? 0xF0F0'FF00'7777'FFFEu >> k : 0xFFFF'FFFF'3CC3'FFFFu >> (k - 64)) & 1u);
    REQUIRE(valid[k] == bit);
    with_bit += bit;
    if (!bit) row[static_cast<std::size_t>(k)] = std::numeric_limits<float>::quiet_NaN();
  }
  REQUIRE(with_bit > 0);

  float loaded[Cols][lanes];
  nst::detail::load_row_run<M>(row.data(), valid, loaded);
  int wrong = 0;
  for (int j = 0; j < Cols; ++j)
    for (int l = 0; l < lanes; ++l) {
      const int k = M * l + j;
      wrong += !same_bits(loaded[j][l], valid[k] ? row[static_cast<std::size_t>(k)] : 0.0f);
    }
  CHECK(wrong == 0);

  const std::vector<float> values = random_values(Cols * lanes, 13 * M + Cols);
  float in[Cols][lanes];
  for (int j = 0; j < Cols; ++j)
    for (int l = 0; l < lanes; ++l) in[j][l] = values[static_cast<std::size_t>(j * lanes + l)];
  if constexpr (Cols == M) {
    std::vector<float> stored = row;
    float run[M][lanes];
    std::memcpy(run, in, sizeof run);
    nst::detail::store_row_run<M>(run, valid, stored.data());
    wrong = 0;
    for (int l = 0; l < lanes; ++l)
      for (int j = 0; j < M; ++j) {
        const auto k = static_cast<std::size_t>(M * l + j);
        wrong += !same_bits(stored[k], valid[static_cast<int>(k)] ? in[j][l] : row[k]);
      }
    CHECK(wrong == 0);
  }

  std::vector<float> want = row, got = row;
  for (int l = 0; l < lanes; ++l)
    for (int j = M; j < Cols; ++j)
      if (valid[M * l + j]) want[static_cast<std::size_t>(M * l + j)] += in[j][l];
  for (int l = 0; l < lanes; ++l)
    for (int j = 0; j < M; ++j)
      if (valid[M * l + j]) want[static_cast<std::size_t>(M * l + j)] += in[j][l];
  nst::detail::add_row_run<M>(in, valid, got.data());
  wrong = 0;
  for (int k = 0; k < length; ++k)
    wrong += !same_bits(got[static_cast<std::size_t>(k)], want[static_cast<std::size_t>(k)]);
  CHECK(wrong == 0);
}

}  // namespace

TEST_CASE("lane runs: a run_mask holds the places of a range, through a gate", "[ops][winograd]") {
  using nst::detail::run_mask;
  const run_mask range = run_mask::values(1, 98);  // F(6x6)'s window row at the left edge: column -1 lies outside
  CHECK(range.bits[0] == ~std::uint64_t(1));
  CHECK(range.bits[1] == 0x3'FFFF'FFFFu);  // places 64 .. 97
  CHECK(range.sixteen(0) == 0xFFFEu);
  CHECK(range.sixteen(5) == 0xFFFFu);
  CHECK(range.sixteen(6) == 0b11u);
  CHECK(range[97]);
  CHECK_FALSE(range[98]);
  CHECK(run_mask::values(-5, 200).bits[1] == ~std::uint64_t(0));
  CHECK(run_mask::values(64, 64).bits[0] == 0);
  CHECK(run_mask::values(64, 64).bits[1] == 0);
  CHECK(run_mask::values(0, 70).gated(0, 0b100).bits[1] == 0b100);
  CHECK_FALSE(run_mask{}[0]);
}

TEST_CASE("lane runs: loads, stores and adds of 16 tiles' row runs are exactly the indexed moves", "[ops][winograd]") {
  check_runs<6, 8>();
  check_runs<6, 6>();
  check_runs<4, 6>();
  check_runs<4, 4>();
  check_runs<2, 4>();  // a width the permutes do not cover: the loops
}

TEST_CASE("lane runs: the masked loads, stores and adds touch only the places with a bit", "[ops][winograd]") {
  for (auto range : {std::pair<int, int>{1, 98}, {0, 83}, {1, 40}, {0, 128}}) {
    check_masked_runs<6, 8>(range.first, range.second);  // window rows: a left or right edge
    check_masked_runs<6, 6>(range.first, range.second);  // output rows and dy
    check_masked_runs<4, 6>(range.first, range.second);
    check_masked_runs<4, 4>(range.first, range.second);
    check_masked_runs<2, 4>(range.first, range.second);  // the loops
  }
}

TEST_CASE("lane runs: a partial tile group moves its used lanes only", "[ops][winograd]") {
  const std::vector<float> from = random_values(lanes, 3);
  for (int used = 1; used < lanes; ++used) {
    INFO("used = " << used);
    std::vector<float> source(from);
    for (int l = used; l < lanes; ++l) source[static_cast<std::size_t>(l)] = std::numeric_limits<float>::quiet_NaN();
    float loaded[lanes];
    nst::detail::load_used_lanes(source.data(), used, loaded);
    int wrong = 0;
    for (int l = 0; l < lanes; ++l) wrong += !same_bits(loaded[l], l < used ? from[static_cast<std::size_t>(l)] : 0.0f);
    CHECK(wrong == 0);

    std::vector<float> stored(lanes, -2.5f);
    nst::detail::store_used_lanes(loaded, used, stored.data());
    wrong = 0;
    for (int l = 0; l < lanes; ++l)
      wrong += !same_bits(stored[static_cast<std::size_t>(l)], l < used ? from[static_cast<std::size_t>(l)] : -2.5f);
    CHECK(wrong == 0);
  }
}
