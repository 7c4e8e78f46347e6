#include <nst/style/tiles.hpp>

#include <algorithm>
#include <vector>

#include "../support/support.hpp"

TEST_CASE("tile_grid: tiles cover the image, stay inside it and share at least the overlap", "[style][tiles]") {
  for (const auto& [height, width, size, overlap] :
       std::vector<std::array<nst::index_t, 4>>{{3072, 4096, 1024, 64}, {300, 217, 96, 24}, {97, 96, 96, 0},
                                                 {1000, 130, 128, 64}, {50, 40, 64, 16}}) {
    const std::vector<nst::tile> tiles = nst::tile_grid(height, width, size, overlap);
    std::vector<int> covered(static_cast<std::size_t>(height * width), 0);
    for (std::size_t i = 0; i < tiles.size(); ++i) {
      const nst::tile& t = tiles[i];
      REQUIRE(t.top >= 0);
      REQUIRE(t.left >= 0);
      REQUIRE(t.bottom <= height);
      REQUIRE(t.right <= width);
      CHECK(t.height() == std::min(size, height));
      CHECK(t.width() == std::min(size, width));
      for (nst::index_t y = t.top; y < t.bottom; ++y)
        for (nst::index_t x = t.left; x < t.right; ++x) covered[static_cast<std::size_t>(y * width + x)] = 1;
      if (t.left > 0) {  // the tile before it in the row ends overlap_left columns into it
        const nst::tile& before = tiles[i - 1];
        CHECK(before.top == t.top);
        CHECK(before.right - t.left == t.overlap_left);
        CHECK(t.overlap_left >= overlap);
      } else {
        CHECK(t.overlap_left == 0);
      }
      if (t.top > 0) CHECK(t.overlap_top >= overlap);
      else CHECK(t.overlap_top == 0);
    }
    CHECK(std::count(covered.begin(), covered.end(), 0) == 0);
  }
  // As few as needed: 4096 columns in tiles of 1024 sharing 64 need 5 (4 would share none).
  CHECK(nst::tile_grid(1024, 4096, 1024, 64).size() == 5);
  CHECK(nst::tile_grid(100, 100, 128, 64).size() == 1);
  CHECK_THROWS_WITH(nst::tile_grid(100, 100, 8, 0), Catch::Contains("tile size must be >= 16"));
  CHECK_THROWS_WITH(nst::tile_grid(100, 100, 64, 33), Catch::Contains("overlap 0..size/2, got size 64, overlap 33"));
}

TEST_CASE("crop and blend_tile: a tile goes back where it came from, ramped across the overlaps", "[style][tiles]") {
  const auto image = nst_test::random_tensor<double>({1, 2, 40, 50}, 3, -1.0, 1.0);
  const std::vector<nst::tile> tiles = nst::tile_grid(40, 50, 24, 8);
  REQUIRE(tiles.size() == 6);
  // Putting every crop back unchanged leaves the image as it was (up to rounding).
  nst::tensor<double> canvas = image;
  for (const nst::tile& t : tiles) {
    const nst::tensor<double> piece = nst::crop(image, t);
    CHECK(piece.shape() == nst::shape{1, 2, 24, 24});
    CHECK(piece.data()[0] == image.data()[t.top * 50 + t.left]);
    nst::blend_tile(canvas, piece, t);
  }
  CHECK(nst_test::max_relative_error(canvas, image) < 1e-15);

  // A piece of ones over zeros: the weight rises from 1/(2n) at the tile's first column to 1 past
  // the n shared columns, and the rows above / columns left of the tile keep the canvas.
  const nst::tile& t = tiles[4];  // second row, second column: neighbours on the left and above
  REQUIRE(t.overlap_left > 0);
  REQUIRE(t.overlap_top > 0);
  nst::tensor<double> zeros({1, 1, 40, 50});
  nst::tensor<double> ones({1, 1, t.height(), t.width()});
  for (double& v : ones) v = 1;
  nst::blend_tile(zeros, ones, t);
  auto at = [&](nst::index_t y, nst::index_t x) { return zeros.data()[y * 50 + x]; };
  const double n = static_cast<double>(t.overlap_left), m = static_cast<double>(t.overlap_top);
  CHECK(at(t.top + t.overlap_top, t.left) == Approx(0.5 / n));
  CHECK(at(t.top, t.left + t.overlap_left) == Approx(0.5 / m));
  CHECK(at(t.top, t.left) == Approx(0.25 / (n * m)));
  CHECK(at(t.bottom - 1, t.right - 1) == 1.0);
  for (nst::index_t x = t.left + 1; x < t.left + t.overlap_left; ++x)
    CHECK(at(t.bottom - 1, x) > at(t.bottom - 1, x - 1));
  CHECK(at(t.top - 1, t.left + 5) == 0.0);
  CHECK(at(t.top + 5, t.left - 1) == 0.0);

  CHECK_THROWS_WITH(nst::crop(image, nst::tile{30, 50, 0, 10}), Catch::Contains("are not inside an image"));
  CHECK_THROWS_WITH(nst::blend_tile(canvas, ones, t), Catch::Contains("blend_tile: a piece [1,1,"));
}
