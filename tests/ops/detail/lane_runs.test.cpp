#include <cstdint>
#include <cstring>
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

}  // namespace

TEST_CASE("lane runs: loads, stores and adds of 16 tiles' row runs are exactly the indexed moves", "[ops][winograd]") {
  check_runs<6, 8>();
  check_runs<6, 6>();
  check_runs<4, 6>();
  check_runs<4, 4>();
  check_runs<2, 4>();  // a width the permutes do not cover: the loops
}
