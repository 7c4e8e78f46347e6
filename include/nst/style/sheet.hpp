// nst/style/sheet.hpp — a contact sheet: images side by side at one height, for showing a run.
//
//   auto sheet = nst::contact_sheet<float>({content, style, result}, result.dim(2));
//   nst::save_image("sheet.jpg", sheet);                   // content | style | result
//
// Each image is resized (nst::resize, linear) to `height` rows, keeping its aspect ratio, and
// placed left to right with `gap` columns of the background colour between neighbours.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/error.hpp"
#include "../core/limits.hpp"
#include "../core/tensor.hpp"
#include "../ops/resize.hpp"

namespace nst {

// The images (each RGB [1,3,H,W]) resized to `height` and laid side by side with `gap` pixels of
// `background` (a grey level in [0,1]) between them: [1,3,height,Σ widths + gaps]. An image of
// h x w becomes height x round(w * height / h) (at least 1 column). Throws value_error 277 (no
// images, height < 1, gap outside 0..max_image_side), 278 (an image not [1,3,H,W] or empty), 279 (the sheet beyond
// max_image_side / max_image_pixels).
template <class T>
tensor<T> contact_sheet(const std::vector<tensor<T>>& images, index_t height, index_t gap = 8, T background = T(1)) {
  NST_CHECK(!images.empty(), value_error, 277, "contact_sheet: no images given");
  NST_CHECK(height >= 1 && gap >= 0 && gap <= max_image_side, value_error, 277,
            "contact_sheet: height must be >= 1 and gap in 0..", max_image_side, ", got height ", height, " and gap ",
            gap);
  std::vector<index_t> widths;
  index_t total_width = 0;
  for (std::size_t i = 0; i < images.size(); ++i) {
    const tensor<T>& image = images[i];
    NST_CHECK(image.rank() == 4 && image.dim(0) == 1 && image.dim(1) == 3 && image.dim(2) > 0 && image.dim(3) > 0,
              value_error, 278, "contact_sheet: image ", i, " must be RGB [1,3,H,W] and not empty, got ",
              image.shape());
    const double scaled = std::round(static_cast<double>(image.dim(3)) * static_cast<double>(height) /
                                     static_cast<double>(image.dim(2)));
    widths.push_back(static_cast<index_t>(std::min(std::max(scaled, 1.0), static_cast<double>(max_image_side) + 1)));
    total_width += widths.back() + (i > 0 ? gap : 0);
    NST_CHECK(image_size_allowed(height, total_width), value_error, 279, "contact_sheet: a sheet of height ", height,
              " would be at least ", total_width, " pixels wide, beyond the image limits (", max_image_side,
              " per side, ", max_image_pixels, " pixels)");
  }

  tensor<T> sheet({1, 3, height, total_width}, background);
  index_t left = 0;
  for (std::size_t i = 0; i < images.size(); ++i) {
    const tensor<T> scaled = resize(images[i], height, widths[i]);
    for (index_t c = 0; c < 3; ++c)
      for (index_t y = 0; y < height; ++y)
        std::copy_n(&scaled.at(0, c, y, 0), widths[i], &sheet.at(0, c, y, left));
    left += widths[i] + gap;
  }
  return sheet;
}

}  // namespace nst
