#include <nst/io/image.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "../support/support.hpp"

namespace fs = std::filesystem;

namespace {

// A fresh empty directory, removed with its contents at the end of the test.
struct scratch_directory {
  fs::path path;
  scratch_directory() {
    path = fs::temp_directory_path() / ("nst-image-test-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~scratch_directory() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::size_t entries() const { return static_cast<std::size_t>(std::distance(fs::directory_iterator(path), {})); }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// An image whose values are exact 8-bit levels k / 255, so a lossless format must give it back.
template <class T>
nst::tensor<T> quantised_image(nst::index_t h, nst::index_t w, unsigned seed) {
  std::mt19937 rng(seed);
  nst::tensor<T> image({1, 3, h, w});
  for (T& v : image) v = static_cast<T>(rng() % 256) / T(255);
  return image;
}

// A smooth colour ramp, which JPEG compresses with little error.
nst::tensor<float> smooth_image(nst::index_t h, nst::index_t w) {
  nst::tensor<float> image({1, 3, h, w});
  for (nst::index_t c = 0; c < 3; ++c)
    for (nst::index_t y = 0; y < h; ++y)
      for (nst::index_t x = 0; x < w; ++x)
        image.at(0, c, y, x) = 0.5f + 0.4f * std::sin(0.05f * static_cast<float>(x + 2 * y + 20 * c));
  return image;
}

// PNG chunks carry a CRC-32 (polynomial 0xEDB88320) of their type and data.
std::uint32_t crc32(const std::string& bytes) {
  std::uint32_t crc = 0xffffffffu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}
std::string big_endian(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string png_chunk(const std::string& type, const std::string& data) {
  return big_endian(static_cast<std::uint32_t>(data.size())) + type + data + big_endian(crc32(type + data));
}
// A well-formed PNG header (signature, IHDR, IEND) claiming width x height pixels of 8-bit
// `colour_type` (0 grey, 2 RGB), with no pixel data at all.
std::string png_header(std::uint32_t width, std::uint32_t height, char colour_type) {
  const std::string ihdr = big_endian(width) + big_endian(height) + std::string{8, colour_type, 0, 0, 0};
  return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IEND", "");
}

}  // namespace

TEST_CASE("save_image/load_image: PNG, BMP and TGA round trips are exact", "[io][image]") {
  scratch_directory dir;
  const auto image = quantised_image<float>(17, 23, 1);
  for (const char* name : {"a.png", "b.bmp", "c.tga", "d.PNG"}) {
    nst::save_image(dir.file(name), image);
    const auto back = nst::load_image<float>(dir.file(name));
    INFO(name);
    REQUIRE(back.shape() == image.shape());
    CHECK(std::equal(back.begin(), back.end(), image.begin()));
  }
  const auto doubles = quantised_image<double>(5, 4, 2);
  nst::save_image(dir.file("e.png"), doubles);
  const auto back = nst::load_image<double>(dir.file("e.png"));
  CHECK(std::equal(back.begin(), back.end(), doubles.begin()));
  CHECK(dir.entries() == 5);  // no temporary files left behind
}

TEST_CASE("save_image clamps to [0,1] and rounds to the nearest 8-bit level", "[io][image]") {
  scratch_directory dir;
  const std::vector<double> values{-0.5, 0.0, 0.3, 0.5 / 255, 0.49 / 255, 1.0, 1.7, 254.6 / 255, -1e30,
                                   1e30, 0.25, 0.75};
  nst::tensor<double> image(nst::shape{1, 3, 2, 2}, values);
  nst::save_image(dir.file("clamped.png"), image);
  const auto back = nst::load_image<double>(dir.file("clamped.png"));
  for (nst::index_t i = 0; i < image.size(); ++i) {
    const double expected = std::round(std::min(1.0, std::max(0.0, values[static_cast<std::size_t>(i)])) * 255) / 255;
    CHECK(back[i] == Approx(expected).margin(1e-12));
  }
}

TEST_CASE("save_image/load_image: JPEG (quality 95) comes back close", "[io][image]") {
  scratch_directory dir;
  const auto image = smooth_image(48, 64);
  nst::save_image(dir.file("smooth.jpg"), image);
  nst::save_image(dir.file("smooth.jpeg"), image);
  CHECK(read_bytes(dir.file("smooth.jpg")) == read_bytes(dir.file("smooth.jpeg")));
  CHECK(read_bytes(dir.file("smooth.jpg")).substr(0, 2) == "\xff\xd8");  // a JPEG stream
  const auto back = nst::load_image<float>(dir.file("smooth.jpg"));
  REQUIRE(back.shape() == image.shape());
  double total = 0, worst = 0;
  for (nst::index_t i = 0; i < image.size(); ++i) {
    const double error = std::abs(static_cast<double>(back[i]) - image[i]);
    total += error;
    worst = std::max(worst, error);
  }
  CHECK(total / static_cast<double>(image.size()) < 0.01);
  CHECK(worst < 0.06);
}

TEST_CASE("load_image: grey images get three equal channels, alpha is dropped", "[io][image]") {
  scratch_directory dir;
  const int w = 5, h = 3;
  std::vector<unsigned char> grey(w * h), rgba(w * h * 4);
  for (int i = 0; i < w * h; ++i) {
    grey[static_cast<std::size_t>(i)] = static_cast<unsigned char>(i * 17);
    for (int c = 0; c < 4; ++c) rgba[static_cast<std::size_t>(i * 4 + c)] = static_cast<unsigned char>(i * 10 + c * 50);
  }
  REQUIRE(stbi_write_png(dir.file("grey.png").c_str(), w, h, 1, grey.data(), w));
  REQUIRE(stbi_write_png(dir.file("rgba.png").c_str(), w, h, 4, rgba.data(), w * 4));

  const auto g = nst::load_image<float>(dir.file("grey.png"));
  REQUIRE(g.shape() == nst::shape({1, 3, h, w}));
  const auto c = nst::load_image<float>(dir.file("rgba.png"));
  REQUIRE(c.shape() == nst::shape({1, 3, h, w}));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int i = y * w + x;
      for (int ch = 0; ch < 3; ++ch) {
        CHECK(g.at(0, ch, y, x) == static_cast<float>(i * 17) / 255.0f);
        CHECK(c.at(0, ch, y, x) == static_cast<float>(i * 10 + ch * 50) / 255.0f);
      }
    }
}

TEST_CASE("load_image: tubingen.jpg from ../shared is [1,3,768,1024]", "[io][image]") {
  NST_REQUIRE_SHARED("images/tubingen.jpg");
  const auto photo = nst::load_image<float>(nst_test::shared_path("images/tubingen.jpg"));
  CHECK(photo.shape() == nst::shape({1, 3, 768, 1024}));
  const auto [lo, hi] = std::minmax_element(photo.begin(), photo.end());
  CHECK(*lo >= 0.0f);
  CHECK(*hi <= 1.0f);
  CHECK(*hi - *lo > 0.5f);  // a real photo, not a blank
}

TEST_CASE("load_image: missing files and directories are io_errors naming the path", "[io][image]") {
  scratch_directory dir;
  CHECK_THROWS_WITH(nst::load_image<float>(dir.file("absent.png")),
                    Catch::Contains("io_error.420") && Catch::Contains("absent.png") &&
                        Catch::Contains("No such file or directory"));
  CHECK_THROWS_WITH(nst::load_image<float>(dir.path.string()),
                    Catch::Contains("io_error.420") && Catch::Contains("directory"));
}

TEST_CASE("load_image: empty, random, truncated and corrupt files are format_errors", "[io][image]") {
  scratch_directory dir;
  write_bytes(dir.file("empty.png"), "");
  write_bytes(dir.file("text.jpg"), "this is not an image, just some text\n");
  std::mt19937 rng(7);
  std::string noise(4096, '\0');
  for (char& b : noise) b = static_cast<char>(rng() & 0xff);
  write_bytes(dir.file("noise.png"), noise);
  for (const char* name : {"empty.png", "text.jpg", "noise.png"}) {
    INFO(name);
    CHECK_THROWS_WITH(nst::load_image<float>(dir.file(name)),
                      Catch::Contains("format_error.350") && Catch::Contains(name));
  }
  CHECK_THROWS_WITH(nst::load_image<float>(dir.file("empty.png")), Catch::Contains("is empty"));

  nst::save_image(dir.file("good.png"), quantised_image<float>(64, 64, 3));
  const std::string png = read_bytes(dir.file("good.png"));
  write_bytes(dir.file("truncated.png"), png.substr(0, png.size() / 2));
  CHECK_THROWS_WITH(nst::load_image<float>(dir.file("truncated.png")),
                    Catch::Contains("format_error.352") && Catch::Contains("truncated.png"));
  nst::save_image(dir.file("good.jpg"), smooth_image(64, 64));
  const std::string jpeg = read_bytes(dir.file("good.jpg"));
  write_bytes(dir.file("truncated.jpg"), jpeg.substr(0, jpeg.size() * 3 / 4));
  CHECK_THROWS_WITH(nst::load_image<float>(dir.file("truncated.jpg")), Catch::Contains("format_error.352"));
  // The first IDAT chunk starts after the signature (8 bytes) and IHDR (25): its type at 37, its
  // zlib stream at 41. A broken zlib header fails the decoding; a bad IHDR fails already the header.
  REQUIRE(png.substr(37, 4) == "IDAT");
  std::string damaged = png;
  damaged[41] = '\xff';
  write_bytes(dir.file("damaged.png"), damaged);
  CHECK_THROWS_WITH(nst::load_image<float>(dir.file("damaged.png")), Catch::Contains("format_error.352"));
  damaged = png;
  damaged[8 + 8 + 9] = 5;  // colour type 5 does not exist
  write_bytes(dir.file("bad_header.png"), damaged);
  CHECK_THROWS_WITH(nst::load_image<float>(dir.file("bad_header.png")), Catch::Contains("format_error.350"));
}

TEST_CASE("load_image: absurd dimensions are refused from the header, before any allocation", "[io][image]") {
  scratch_directory dir;
  // 100000 x 100000 RGB (30 GB): stb's own header check already refuses it.
  write_bytes(dir.file("huge.png"), png_header(100000, 100000, 2));
  CHECK_THROWS_WITH(nst::load_image<float>(dir.file("huge.png")),
                    Catch::Contains("format_error") && Catch::Contains("huge.png"));
  // Headers stb accepts but nst's limits refuse: a side over 65535, or over 2^28 pixels.
  write_bytes(dir.file("wide.png"), png_header(70000, 16, 0));
  CHECK_THROWS_WITH(nst::load_image<float>(dir.file("wide.png")),
                    Catch::Contains("format_error.351") && Catch::Contains("70000x16"));
  write_bytes(dir.file("many.png"), png_header(20000, 15000, 0));
  CHECK_THROWS_WITH(nst::load_image<float>(dir.file("many.png")),
                    Catch::Contains("format_error.351") && Catch::Contains("20000x15000"));
  // The same kind of header at a sane size passes the checks and fails only for lack of pixels.
  write_bytes(dir.file("small.png"), png_header(64, 16, 0));
  CHECK_THROWS_WITH(nst::load_image<float>(dir.file("small.png")), Catch::Contains("format_error.352"));
}

TEST_CASE("save_image refuses bad shapes, NaN and unknown extensions without touching the file", "[io][image]") {
  scratch_directory dir;
  const std::string target = dir.file("keep.png");
  nst::save_image(target, quantised_image<float>(8, 8, 4));
  const std::string before = read_bytes(target);

  auto with_nan = quantised_image<float>(8, 8, 5);
  with_nan.at(0, 2, 3, 5) = std::nanf("");
  CHECK_THROWS_WITH(nst::save_image(target, with_nan), Catch::Contains("value_error.231") &&
                                                           Catch::Contains("channel 2, row 3, column 5") &&
                                                           Catch::Contains("keep.png"));
  CHECK_THROWS_WITH(nst::save_image(target, nst::tensor<float>({3, 8, 8})), Catch::Contains("value_error.230"));
  CHECK_THROWS_WITH(nst::save_image(target, nst::tensor<float>({2, 3, 8, 8})), Catch::Contains("[2,3,8,8]"));
  CHECK_THROWS_AS(nst::save_image(target, nst::tensor<float>({1, 4, 8, 8})), nst::value_error);
  CHECK_THROWS_AS(nst::save_image(target, nst::tensor<float>({1, 3, 0, 8})), nst::value_error);
  CHECK_THROWS_WITH(nst::save_image(dir.file("out.gif"), quantised_image<float>(8, 8, 6)),
                    Catch::Contains("value_error.232") && Catch::Contains("'gif'"));
  CHECK_THROWS_AS(nst::save_image(dir.file("no_extension"), quantised_image<float>(8, 8, 6)), nst::value_error);
  CHECK_THROWS_AS(nst::save_image(dir.file("dotted.dir/file"), quantised_image<float>(8, 8, 6)), nst::value_error);
  // The target cannot be written (a missing directory; a directory in the way).
  CHECK_THROWS_AS(nst::save_image(dir.file("missing/out.png"), quantised_image<float>(8, 8, 6)), nst::io_error);
  fs::create_directories(dir.path / "in_the_way.png");
  CHECK_THROWS_AS(nst::save_image(dir.file("in_the_way.png"), quantised_image<float>(8, 8, 6)), nst::io_error);

  CHECK(read_bytes(target) == before);
  CHECK(dir.entries() == 2);  // keep.png and in_the_way.png: no temporary files
}

