// nst/style/tiles.hpp — cutting a large image into overlapping tiles and putting them back
// together without seams.
//
//   for (const nst::tile& t : nst::tile_grid(3072, 4096, 1024, 64)) {   // raster order
//     nst::tensor<float> piece = nst::crop(canvas, t);
//     ... work on piece ...
//     nst::blend_tile(canvas, piece, t);
//   }
//
// tile_grid spreads tiles of side `size` evenly over each axis so that neighbours share at
// least `overlap` pixels. blend_tile writes a tile back over the canvas, which already holds the
// tiles before it in raster order: across the strip it shares with the tile on its left (and the
// one above) the weight of the new tile rises linearly from 0 to 1,
//   canvas = (1 - w) canvas + w piece,   w = ramp(x - left, overlap_left) * ramp(y - top, overlap_top),
// with ramp(d, n) = min(1, (d + 1/2) / n) (1 when n = 0: no neighbour there), so the result is
// continuous across every tile border, and a tile's own border pixels (where the network saw
// zero padding) are replaced by its neighbour's interior.
#pragma once

#include <algorithm>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace nst {

// Rows [top, bottom) and columns [left, right) of an image, and how many of them it shares with
// the tile before it on the left and above (0 for the first column / row).
struct tile {
  index_t top = 0, bottom = 0, left = 0, right = 0;
  index_t overlap_left = 0, overlap_top = 0;
  index_t height() const { return bottom - top; }
  index_t width() const { return right - left; }
};

namespace detail {

// Starts of tiles of `size` along an axis of `extent` pixels: as few as cover it with neighbours
// sharing at least `overlap` pixels, spread evenly (the first at 0, the last ending at extent).
inline std::vector<index_t> tile_starts(index_t extent, index_t size, index_t overlap) {
  if (extent <= size) return {0};
  for (index_t count = 2;; ++count) {
    std::vector<index_t> starts;
    for (index_t i = 0; i < count; ++i) starts.push_back(i * (extent - size) / (count - 1));
    bool shares_enough = true;
    for (std::size_t i = 1; i < starts.size(); ++i) shares_enough = shares_enough && starts[i] - starts[i - 1] <= size - overlap;
    if (shares_enough) return starts;
  }
}

// ramp(d, n) of the overview: the weight of a new tile `d` pixels into an overlap of `n`.
inline double overlap_ramp(index_t d, index_t n) {
  return n == 0 ? 1.0 : std::min(1.0, (static_cast<double>(d) + 0.5) / static_cast<double>(n));
}

}  // namespace detail

// The tiles of side at most `size` covering height x width, in raster order (row by row);
// value_error 282 unless size >= 16 and 0 <= overlap <= size / 2.
inline std::vector<tile> tile_grid(index_t height, index_t width, index_t size, index_t overlap) {
  NST_CHECK(size >= 16 && overlap >= 0 && overlap <= size / 2, value_error, 282, "tile_grid: the tile size must be >= 16 "
            "and the overlap 0..size/2, got size ", size, ", overlap ", overlap);
  NST_CHECK(height > 0 && width > 0, value_error, 282, "tile_grid: the image is ", height, " x ", width);
  const std::vector<index_t> rows = detail::tile_starts(height, size, overlap);
  const std::vector<index_t> columns = detail::tile_starts(width, size, overlap);
  std::vector<tile> tiles;
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t c = 0; c < columns.size(); ++c) {
      tile t;
      t.top = rows[r];
      t.bottom = std::min(height, rows[r] + size);
      t.left = columns[c];
      t.right = std::min(width, columns[c] + size);
      t.overlap_top = r > 0 ? std::min(height, rows[r - 1] + size) - t.top : 0;
      t.overlap_left = c > 0 ? std::min(width, columns[c - 1] + size) - t.left : 0;
      tiles.push_back(t);
    }
  return tiles;
}

// The part of `image` [N,C,H,W] under tile `t`, as [N,C,t.height(),t.width()]; shape_error 172
// when the tile is not inside the image.
template <class T>
tensor<T> crop(const tensor<T>& image, const tile& t) {
  NST_CHECK(image.rank() == 4 && t.top >= 0 && t.left >= 0 && t.top < t.bottom && t.left < t.right &&
                t.bottom <= image.dim(2) && t.right <= image.dim(3),
            shape_error, 172, "crop: rows ", t.top, "..", t.bottom, ", columns ", t.left, "..", t.right,
            " are not inside an image ", image.shape());
  const index_t planes = image.dim(0) * image.dim(1), height = image.dim(2), width = image.dim(3);
  tensor<T> piece({image.dim(0), image.dim(1), t.height(), t.width()});
  for (index_t p = 0; p < planes; ++p)
    for (index_t y = 0; y < t.height(); ++y)
      std::copy_n(image.data() + (p * height + t.top + y) * width + t.left, t.width(),
                  piece.data() + (p * t.height() + y) * t.width());
  return piece;
}

// Writes `piece` (what crop(canvas, t) gave, worked on) back into `canvas`, blended with what is
// there across the overlaps with the tiles before it (see the overview); shape_error 173 when the
// piece's shape is not the tile's.
template <class T>
void blend_tile(tensor<T>& canvas, const tensor<T>& piece, const tile& t) {
  NST_CHECK(canvas.rank() == 4 && piece.rank() == 4 && piece.dim(0) == canvas.dim(0) && piece.dim(1) == canvas.dim(1) &&
                piece.dim(2) == t.height() && piece.dim(3) == t.width() && t.bottom <= canvas.dim(2) &&
                t.right <= canvas.dim(3),
            shape_error, 173, "blend_tile: a piece ", piece.shape(), " for rows ", t.top, "..", t.bottom, ", columns ",
            t.left, "..", t.right, " of a canvas ", canvas.shape());
  const index_t planes = canvas.dim(0) * canvas.dim(1), height = canvas.dim(2), width = canvas.dim(3);
  for (index_t p = 0; p < planes; ++p)
    for (index_t y = 0; y < t.height(); ++y) {
      const double row_weight = detail::overlap_ramp(y, t.overlap_top);
      T* out = canvas.data() + (p * height + t.top + y) * width + t.left;
      const T* in = piece.data() + (p * t.height() + y) * t.width();
      for (index_t x = 0; x < t.width(); ++x) {
        const T w = static_cast<T>(row_weight * detail::overlap_ramp(x, t.overlap_left));
        out[x] = (T(1) - w) * out[x] + w * in[x];
      }
    }
}

}  // namespace nst
