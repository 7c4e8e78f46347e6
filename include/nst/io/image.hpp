// nst/io/image.hpp — read, write and resize images through Debian's compiled stb (libstb).
//
// Images are tensors [1,3,H,W] of RGB values in [0,1] (8-bit sRGB code values / 255, no gamma
// decoding, as torchvision's ToTensor gives them):
//
//   auto photo = nst::load_image<float>("tubingen.jpg");          // [1,3,768,1024]
//   auto small = nst::resize_image_to_longer_side(photo, 512);   // [1,3,384,512]
//   nst::save_image("out.png", small);                            // format from the extension
//
// load_image reads what stb reads (PNG, JPEG, BMP, TGA, GIF, PSD, HDR, PNM); grey images get
// three equal channels and an alpha channel is dropped. It reads the header first and refuses
// images larger than max_image_side per side or max_image_pixels in all before allocating.
// save_image writes .png, .jpg/.jpeg (quality jpeg_quality), .bmp or .tga, clamping to [0,1]
// and rounding to 8 bits; it writes a temporary file and renames it, so an existing file is
// replaced whole or not at all. resize_image filters with stb_image_resize (Mitchell when
// shrinking, Catmull-Rom when enlarging, in float; both may overshoot [0,1] slightly at edges).
//
// Needs libstb: the nst CMake target links it and defines NST_HAVE_STB=1 when it finds it.
#pragma once

#if !defined(NST_HAVE_STB)
#error "nst/io/image.hpp needs Debian's libstb (apt install libstb-dev): link the nst::nst CMake target, which defines NST_HAVE_STB=1 when it finds the library"
#endif

#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "detail/atomic_file.hpp"

namespace nst {

// The largest images nst reads, writes or resizes to: 65535 per side (JPEG's own limit) and
// 2^28 pixels (256 Mpixel, 3 GiB as RGB float). Larger headers are refused before allocating.
constexpr index_t max_image_side = 65535;
constexpr index_t max_image_pixels = index_t(1) << 28;
constexpr int jpeg_quality = 95;

namespace detail {

template <class T>
constexpr bool is_image_scalar = std::is_floating_point<T>::value;

inline bool image_size_allowed(index_t height, index_t width) {
  return height >= 1 && width >= 1 && height <= max_image_side && width <= max_image_side &&
         height * width <= max_image_pixels;
}

// The extension of `path` after its last dot, lower-cased ("" if none).
inline std::string lowercase_extension(const std::string& path) {
  const std::size_t dot = path.find_last_of('.');
  const std::size_t slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

enum class image_format { png, jpeg, bmp, tga };

inline image_format image_format_for(const std::string& path) {
  const std::string ext = lowercase_extension(path);
  if (ext == "png") return image_format::png;
  if (ext == "jpg" || ext == "jpeg") return image_format::jpeg;
  if (ext == "bmp") return image_format::bmp;
  if (ext == "tga") return image_format::tga;
  NST_THROW(value_error, 232, "save_image: cannot tell the format of ", path, " from its extension '", ext,
            "' (use .png, .jpg, .jpeg, .bmp or .tga)");
}

// stb's write callback: hands the encoded bytes to the byte_sink in `context`.
inline void write_to_sink(void* context, void* data, int size) {
  static_cast<byte_sink*>(context)->write(data, static_cast<std::size_t>(size));
}

struct stbi_deleter {
  void operator()(unsigned char* pixels) const noexcept { stbi_image_free(pixels); }
};
struct file_closer {
  void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};

}  // namespace detail

// Reads an image file as a [1,3,H,W] tensor of RGB values in [0,1].
template <class T>
tensor<T> load_image(const std::string& path) {
  static_assert(detail::is_image_scalar<T>, "load_image<T>: T must be float or double");
  std::unique_ptr<std::FILE, detail::file_closer> file(std::fopen(path.c_str(), "rb"));
  NST_CHECK(file, io_error, 420, "load_image: cannot open ", path, ": ", std::strerror(errno));
  struct ::stat status {};
  NST_CHECK(::fstat(fileno(file.get()), &status) == 0, io_error, 420, "load_image: cannot read ", path, ": ",
            std::strerror(errno));
  NST_CHECK(!S_ISDIR(status.st_mode), io_error, 420, "load_image: cannot read ", path, ": it is a directory");
  NST_CHECK(status.st_size > 0, format_error, 350, "load_image: ", path, " is empty");

  int width = 0, height = 0, channels = 0;
  NST_CHECK(stbi_info_from_file(file.get(), &width, &height, &channels), format_error, 350, "load_image: ", path,
            " is not an image stb can read (stb: ", stbi_failure_reason(),
            "; it reads PNG, JPEG, BMP, TGA, GIF, PSD, HDR, PIC and PNM)");
  NST_CHECK(detail::image_size_allowed(height, width), format_error, 351, "load_image: ", path, " claims ", width, "x",
            height, " pixels, more than nst reads (at most ", max_image_side, " per side and ", max_image_pixels,
            " in all)");

  std::unique_ptr<unsigned char, detail::stbi_deleter> rgb(stbi_load_from_file(file.get(), &width, &height, &channels, 3));
  NST_CHECK(rgb, format_error, 352, "load_image: cannot decode ", path, " (", stbi_failure_reason(),
            "): the file is truncated or corrupt");

  const index_t h = height, w = width, plane = h * w;
  tensor<T> image({1, 3, h, w});
  const unsigned char* interleaved = rgb.get();
  parallel_for(0, h, [&](index_t first, index_t last) {
    for (index_t y = first; y < last; ++y)
      for (index_t x = 0; x < w; ++x)
        for (index_t c = 0; c < 3; ++c)
          image[c * plane + y * w + x] = static_cast<T>(interleaved[(y * w + x) * 3 + c]) / T(255);
  });
  return image;
}

// Writes a [1,3,H,W] image to `path` in the format its extension names, values clamped to [0,1]
// and rounded to 8 bits. Atomic: `path` is replaced whole, or left as it was if anything fails.
template <class T>
void save_image(const std::string& path, const tensor<T>& image) {
  static_assert(detail::is_image_scalar<T>, "save_image: the image must hold float or double");
  const detail::image_format format = detail::image_format_for(path);
  NST_CHECK(image.rank() == 4 && image.dim(0) == 1 && image.dim(1) == 3, value_error, 230,
            "save_image: expected an RGB image of shape [1,3,H,W], got ", image.shape(), " (writing ", path, ")");
  const index_t h = image.dim(2), w = image.dim(3), plane = h * w;
  NST_CHECK(detail::image_size_allowed(h, w), value_error, 230, "save_image: cannot write a ", w, "x", h,
            " image (1 to ", max_image_side, " per side, at most ", max_image_pixels, " pixels) to ", path);
  const auto nan = std::find_if(image.begin(), image.end(), [](T v) { return std::isnan(v); });
  if (nan != image.end()) {
    const index_t at = nan - image.begin();
    NST_THROW(value_error, 231, "save_image: the image ", image.shape(), " has NaN at channel ", at / plane, ", row ",
              at % plane / w, ", column ", at % w, "; not writing ", path);
  }

  std::vector<unsigned char> rgb(static_cast<std::size_t>(plane * 3));
  parallel_for(0, h, [&](index_t first, index_t last) {
    for (index_t y = first; y < last; ++y)
      for (index_t x = 0; x < w; ++x)
        for (index_t c = 0; c < 3; ++c) {
          const double v = std::min(1.0, std::max(0.0, static_cast<double>(image[c * plane + y * w + x])));
          rgb[static_cast<std::size_t>((y * w + x) * 3 + c)] = static_cast<unsigned char>(std::lround(v * 255));
        }
  });

  detail::write_file_atomically(path, "save_image", [&](detail::byte_sink& sink) {
    const int iw = static_cast<int>(w), ih = static_cast<int>(h);
    int encoded = 0;
    switch (format) {
      case detail::image_format::png:
        encoded = stbi_write_png_to_func(detail::write_to_sink, &sink, iw, ih, 3, rgb.data(), iw * 3);
        break;
      case detail::image_format::jpeg:
        encoded = stbi_write_jpg_to_func(detail::write_to_sink, &sink, iw, ih, 3, rgb.data(), jpeg_quality);
        break;
      case detail::image_format::bmp:
        encoded = stbi_write_bmp_to_func(detail::write_to_sink, &sink, iw, ih, 3, rgb.data());
        break;
      case detail::image_format::tga:
        encoded = stbi_write_tga_to_func(detail::write_to_sink, &sink, iw, ih, 3, rgb.data());
        break;
    }
    NST_CHECK(encoded, io_error, 424, "save_image: stb could not encode the ", w, "x", h, " image for ", path);
  });
}

// Resamples the planes of an [N,C,H,W] tensor (any N and C) to height x width with stb's filters,
// computed in float. A tensor already of that size is returned as an exact copy.
template <class T>
tensor<T> resize_image(const tensor<T>& image, index_t height, index_t width) {
  static_assert(detail::is_image_scalar<T>, "resize_image: the image must hold float or double");
  expect_rank(image, 4, "resize_image (image)");
  NST_CHECK(detail::image_size_allowed(height, width), value_error, 233, "resize_image: cannot resize ",
            image.shape(), " to ", height, "x", width, " (1 to ", max_image_side, " per side, at most ",
            max_image_pixels, " pixels)");
  const index_t in_h = image.dim(2), in_w = image.dim(3);
  NST_CHECK(detail::image_size_allowed(in_h, in_w), value_error, 233, "resize_image: cannot resize an image of shape ",
            image.shape(), " (1 to ", max_image_side, " per side, at most ", max_image_pixels, " pixels)");
  if (in_h == height && in_w == width) return image;

  const index_t planes = image.dim(0) * image.dim(1);
  tensor<T> out({image.dim(0), image.dim(1), height, width});
  std::vector<char> failed(static_cast<std::size_t>(planes), 0);
  parallel_for(0, planes, [&](index_t first, index_t last) {
    std::vector<float> source(static_cast<std::size_t>(in_h * in_w)), target(static_cast<std::size_t>(height * width));
    for (index_t p = first; p < last; ++p) {
      std::transform(image.data() + p * in_h * in_w, image.data() + (p + 1) * in_h * in_w, source.begin(),
                     [](T v) { return static_cast<float>(v); });
      const int ok = stbir_resize_float_generic(source.data(), static_cast<int>(in_w), static_cast<int>(in_h), 0,
                                                target.data(), static_cast<int>(width), static_cast<int>(height), 0, 1,
                                                STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP, STBIR_FILTER_DEFAULT,
                                                STBIR_COLORSPACE_LINEAR, nullptr);
      failed[static_cast<std::size_t>(p)] = !ok;
      std::transform(target.begin(), target.end(), out.data() + p * height * width,
                     [](float v) { return static_cast<T>(v); });
    }
  });
  NST_CHECK(std::find(failed.begin(), failed.end(), 1) == failed.end(), value_error, 234, "resize_image: stb could not resize ",
            image.shape(), " to ", height, "x", width, " (out of memory?)");
  return out;
}

// Resizes an [N,C,H,W] tensor so that its longer side is `size`, keeping the aspect ratio
// (the shorter side rounded, at least 1). An image already of that size is returned unchanged.
template <class T>
tensor<T> resize_image_to_longer_side(const tensor<T>& image, index_t size) {
  expect_rank(image, 4, "resize_image_to_longer_side (image)");
  NST_CHECK(size > 0, value_error, 233, "resize_image_to_longer_side: the longer side must be positive, got ", size);
  const index_t h = image.dim(2), w = image.dim(3);
  NST_CHECK(h > 0 && w > 0, value_error, 233, "resize_image_to_longer_side: the image ", image.shape(), " is empty");
  const auto shorter = [size](index_t short_side, index_t long_side) {
    return std::max<index_t>(1, static_cast<index_t>(std::lround(static_cast<double>(short_side) * size / long_side)));
  };
  return h >= w ? resize_image(image, size, shorter(w, h)) : resize_image(image, shorter(h, w), size);
}

}  // namespace nst
