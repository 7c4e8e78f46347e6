// nst/core/limits.hpp — the largest images nst accepts, in one place.
//
// Image files are refused from their header before anything is allocated, and resizing refuses
// targets beyond the same bounds: 65535 per side (JPEG's own limit) and 2^28 pixels (256 Mpixel,
// 3 GiB as RGB float). Define NST_MAX_IMAGE_SIDE / NST_MAX_IMAGE_PIXELS before including nst to
// change them.
#pragma once

#include "tensor.hpp"

#ifndef NST_MAX_IMAGE_SIDE
#define NST_MAX_IMAGE_SIDE 65535
#endif
#ifndef NST_MAX_IMAGE_PIXELS
#define NST_MAX_IMAGE_PIXELS (index_t(1) << 28)
#endif

namespace nst {

constexpr index_t max_image_side = NST_MAX_IMAGE_SIDE;      // pixels per side, at most
constexpr index_t max_image_pixels = NST_MAX_IMAGE_PIXELS;  // height * width, at most

// True when a height x width image is within the limits above (and not empty).
inline bool image_size_allowed(index_t height, index_t width) {
  return height >= 1 && width >= 1 && height <= max_image_side && width <= max_image_side &&
         height * width <= max_image_pixels;
}

}  // namespace nst
