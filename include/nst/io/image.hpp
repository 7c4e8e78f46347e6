// nst/io/image.hpp — read and write images through Debian's compiled stb (libstb).
//
// Images are tensors [1,3,H,W] of RGB values in [0,1] (8-bit sRGB code values / 255, no gamma
// decoding, as torchvision's ToTensor gives them):
//
//   auto photo = nst::load_image<float>("tubingen.jpg");          // [1,3,768,1024]
//   nst::save_image("out.png", photo);                            // format from the extension
//
// load_image reads PNG, JPEG, BMP and TGA (the formats save_image writes; stb's other decoders
// are refused, see refused_image_format); grey images get three equal channels and an alpha
// channel is dropped. It reads the header first and refuses images larger than max_image_side
// per side or max_image_pixels in all before allocating.
// save_image writes .png, .jpg/.jpeg (quality jpeg_quality), .bmp or .tga, clamping to [0,1]
// and rounding to 8 bits; it writes a temporary file and renames it, so an existing file is
// replaced whole or not at all. The size limits are in core/limits.hpp; resizing is
// nst::resize (ops/resize.hpp), which needs no image library.
//
// Needs libstb: the nst CMake target links it and defines NST_HAVE_STB=1 when it finds it.
#pragma once

#if !defined(NST_HAVE_STB)
#error "nst/io/image.hpp needs Debian's libstb (apt install libstb-dev): link the nst::nst CMake target, which defines NST_HAVE_STB=1 when it finds the library"
#endif

#include <stb_image.h>
#include <stb_image_write.h>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
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
#include "../core/limits.hpp"
#include "../core/tensor.hpp"
#include "detail/atomic_file.hpp"
#include "detail/file_name.hpp"

namespace nst {

// The quality (1..100, stb's scale) save_image writes JPEG files with.
constexpr int jpeg_quality = 95;

namespace detail {

template <class T>
constexpr bool is_image_scalar = std::is_floating_point<T>::value;

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

// stb_image 2.27 (Debian 12's libstb) builds a JPEG Huffman table from a DHT segment without
// checking that its 16 code-length counts add up to at most 256 symbols: a hostile file with more
// writes past the table's arrays (stb 2.28 checks it). This tells whether every DHT segment stb
// could parse fits, setting `symbols` to the count of one that does not; other files pass. It
// walks the markers as stb does: a segment is skipped by its length, and any other byte is
// passed over one at a time (entropy-coded data, padding), so no marker stb could reach is missed.
inline bool jpeg_huffman_tables_fit(const unsigned char* bytes, std::size_t size, unsigned& symbols) {
  const auto at = [&](std::size_t i) -> unsigned { return i < size ? bytes[i] : 0u; };  // stb reads 0 past the end
  std::size_t pos = 0;
  while (pos < size && bytes[pos] == 0xFF) ++pos;  // stb skips fill bytes before the SOI marker too
  if (pos == 0 || pos == size || bytes[pos] != 0xD8) return true;
  for (++pos; pos + 1 < size;) {
    const unsigned marker = bytes[pos + 1];
    if (bytes[pos] != 0xFF || marker == 0xFF) {  // data, padding or a fill byte
      ++pos;
      continue;
    }
    if (marker == 0x00 || (marker >= 0xD0 && marker <= 0xD7)) {  // a stuffed 0 or a restart marker
      pos += 2;
      continue;
    }
    if (marker == 0xD9) return true;  // end of image
    const std::size_t length = at(pos + 2) << 8 | at(pos + 3);
    if (length < 2) return true;  // stb refuses the segment
    if (marker == 0xC4) {  // DHT: tables of a class/id byte, 16 counts, then that many symbols
      for (std::size_t table = pos + 4, left = length - 2; left > 0;) {
        symbols = 0;
        for (std::size_t i = 1; i <= 16; ++i) symbols += at(table + i);
        if (symbols > 256) return false;
        if (17 + symbols > left) return true;  // the tables do not tile the segment: stb refuses it
        left -= 17 + symbols;
        table += 17 + symbols;
      }
    }
    pos += 2 + length;
  }
  return true;
}

// stb_image 2.27 also decodes GIF, PSD, PIC, HDR and PNM, which style transfer does not need and
// where its decoders have known memory-safety bugs (the image fuzzer found a heap over-read in its
// 16-bit PNM path), so nst hands stb only PNG, JPEG, BMP and TGA. Returns the name of a refused
// format when `bytes` start with its signature, as stb's own format tests read it, else nullptr.
inline const char* refused_image_format(const unsigned char* bytes, std::size_t size) {
  const auto starts_with = [&](std::size_t offset, const char* signature) {
    const std::size_t n = std::strlen(signature);
    return size >= offset + n && std::memcmp(bytes + offset, signature, n) == 0;
  };
  if (starts_with(0, "GIF87a") || starts_with(0, "GIF89a")) return "GIF";
  if (starts_with(0, "8BPS")) return "PSD";
  if (starts_with(0, "\x53\x80\xF6\x34") && starts_with(88, "PICT")) return "Softimage PIC";
  if (starts_with(0, "P5") || starts_with(0, "P6")) return "PNM";
  if (starts_with(0, "#?RADIANCE\n") || starts_with(0, "#?RGBE\n")) return "Radiance HDR";
  return nullptr;
}

// stb's reason for the last failure, with every byte outside printable ASCII shown as '?': stb
// copies an unknown PNG chunk's four type bytes into the reason, so a hostile file could otherwise
// put control characters (terminal escape sequences) into nst's error messages.
inline std::string stb_failure_reason() {
  const char* reason = stbi_failure_reason();
  std::string text = reason ? reason : "no reason given";
  for (char& c : text) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7E) c = '?';
  }
  return text;
}

struct stbi_deleter {
  void operator()(unsigned char* pixels) const noexcept { stbi_image_free(pixels); }
};
struct file_closer {
  void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};

}  // namespace detail

// Reads an image file (PNG, JPEG, BMP, TGA) as a [1,3,H,W] tensor of RGB values in [0,1].
// Throws io_error 420 (cannot open or read, a directory), format_error 350 (empty, or not an
// image stb reads), 351 (over the size limits), 352 (truncated or corrupt), 390/391/392 (a
// hostile JPEG, over 2 GiB, a refused format).
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

  NST_CHECK(status.st_size <= INT_MAX, format_error, 391, "load_image: ", path, " has ", status.st_size,
            " bytes, more than stb reads (2 GiB)");
  std::vector<unsigned char> bytes(static_cast<std::size_t>(status.st_size));
  NST_CHECK(std::fread(bytes.data(), 1, bytes.size(), file.get()) == bytes.size(), io_error, 420, "load_image: cannot read ",
            path, ": ", std::strerror(errno));
  const int size = static_cast<int>(bytes.size());
  const char* refused = detail::refused_image_format(bytes.data(), bytes.size());
  NST_CHECK(!refused, format_error, 392, "load_image: ", path, " is a ", refused,
            " image; nst reads PNG, JPEG, BMP and TGA (convert it to PNG first)");
  unsigned symbols = 0;
  NST_CHECK(detail::jpeg_huffman_tables_fit(bytes.data(), bytes.size(), symbols), format_error, 390, "load_image: ",
            path, " is a corrupt JPEG: a Huffman table declares ", symbols,
            " symbols, more than the 256 a byte can name (refused before decoding)");

  int width = 0, height = 0, channels = 0;
  NST_CHECK(stbi_info_from_memory(bytes.data(), size, &width, &height, &channels), format_error, 350, "load_image: ", path,
            " is not an image stb can read (stb: ", detail::stb_failure_reason(),
            "; nst reads PNG, JPEG, BMP and TGA)");
  NST_CHECK(image_size_allowed(height, width), format_error, 351, "load_image: ", path, " claims ", width, "x",
            height, " pixels, more than nst reads (at most ", max_image_side, " per side and ", max_image_pixels,
            " in all)");

  std::unique_ptr<unsigned char, detail::stbi_deleter> rgb(stbi_load_from_memory(bytes.data(), size, &width, &height, &channels, 3));
  NST_CHECK(rgb, format_error, 352, "load_image: cannot decode ", path, " (", detail::stb_failure_reason(),
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
// Throws value_error 232 (unknown extension), 230 (not [1,3,H,W] or beyond the size limits), 231
// (a NaN, naming its place), io_error 421-424 (cannot create, write, rename or encode).
template <class T>
void save_image(const std::string& path, const tensor<T>& image) {
  static_assert(detail::is_image_scalar<T>, "save_image: the image must hold float or double");
  const detail::image_format format = detail::image_format_for(path);
  NST_CHECK(image.rank() == 4 && image.dim(0) == 1 && image.dim(1) == 3, value_error, 230,
            "save_image: expected an RGB image of shape [1,3,H,W], got ", image.shape(), " (writing ", path, ")");
  const index_t h = image.dim(2), w = image.dim(3), plane = h * w;
  NST_CHECK(image_size_allowed(h, w), value_error, 230, "save_image: cannot write a ", w, "x", h,
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

}  // namespace nst
