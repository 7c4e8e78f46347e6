// regressions.test.cpp — every input the fuzzers (tests/fuzz/run.sh) ever found, kept in
// tests/fixtures/fuzz/<harness>/, must now end in a clean nst::error: each is loaded the way its
// harness loads it, and any other outcome (a crash, a sanitizer report, another exception type,
// success) fails the test. Plus the checks that the fixes refuse nothing valid.
#include <nst/io/pth.hpp>
#include <nst/io/safetensors.hpp>
#include <nst/nn/vgg19.hpp>
#if defined(NST_HAVE_STB)
#include <nst/io/image.hpp>
#endif

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "../io/detail/weight_test_support.hpp"

namespace {
using namespace nst_test;

// The files in tests/fixtures/fuzz/<harness>/, sorted (none when the directory is absent).
std::vector<std::string> findings(const std::string& harness) {
  std::vector<std::string> paths;
  const std::string dir = fixture_path("fuzz/" + harness);
  if (!std::filesystem::is_directory(dir)) return paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file()) paths.push_back(entry.path().string());
  std::sort(paths.begin(), paths.end());
  return paths;
}

// Runs `load` and returns the message of the nst::error it throws ("" when it throws none);
// any other exception escapes and fails the test.
template <class Load>
std::string nst_error_of(Load&& load) {
  try {
    load();
  } catch (const nst::error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("fuzz regressions: weight-file findings end in an nst::error", "[fuzz][io]") {
  // Each file is loaded as its harness loads it; inspecting may succeed (it reads no tensor data).
  const std::vector<std::string> safetensors = findings("safetensors"), pth = findings("pth");
  REQUIRE(safetensors.size() + pth.size() > 0);
  for (const std::string& path : safetensors) {
    INFO(path);
    nst_error_of([&] { nst::inspect_safetensors(path); });
    CHECK_FALSE(nst_error_of([&] { nst::vgg19<float> net(nst::load_safetensors<float>(path)); }).empty());
  }
  for (const std::string& path : pth) {
    INFO(path);
    nst_error_of([&] { nst::inspect_pth(path); });
    CHECK_FALSE(nst_error_of([&] { nst::load_pth<float>(path); }).empty());
  }
  // A tensor of 2^40 elements whose storage holds 24 bytes: load_pth allocated 4 TiB before it
  // looked at the storage (std::bad_alloc; ASan's allocation-size-too-big in the fuzzer).
  for (const char* name : {"zip-tensor-2e40-elements-storage-24-bytes.pth", "legacy-tensor-2e40-elements-storage-24-bytes.pth"}) {
    INFO(name);
    CHECK_THROWS_WITH(nst::load_pth<float>(fixture_path(std::string("fuzz/pth/") + name)),
                      Catch::Contains("format_error.337") && Catch::Contains("holds 24 bytes"));
  }
}

#if defined(NST_HAVE_STB)
TEST_CASE("fuzz regressions: image findings end in an nst::error", "[fuzz][io][image]") {
  const std::vector<std::string> paths = findings("image");
  REQUIRE_FALSE(paths.empty());
  for (const std::string& path : paths) {
    INFO(path);
    CHECK_FALSE(nst_error_of([&] { nst::load_image<float>(path); }).empty());
  }
  // Each finding's own refusal (stb itself may fail on them too, after the damage is done).
  const std::pair<const char*, const char*> refusals[] = {
      // SOI, a DHT whose 16 counts add up to 472 (stb 2.27 writes past its tables), EOI.
      {"jpeg-dht-472-symbols.jpg", "format_error.390"},
      // The same after two 0xFF fill bytes, which stb skips before the SOI marker.
      {"jpeg-dht-after-fill-bytes.jpg", "format_error.390"},
      // A 16-bit PGM: stb 2.27 converts it with its 8-bit routine and reads past its buffer.
      {"pnm-16bit-over-read.pgm", "format_error.392"},
      // A JPEG whose scan data stops at a marker: stb 2.27 shifts a zero by 33 bits (undefined,
      // harmless: tests/fuzz/ubsan.supp), then fails to decode the rest.
      {"jpeg-bits-after-marker.jpg", "format_error.352"},
      // An empty first IDAT chunk (stb copies 0 bytes from a null pointer: undefined, harmless),
      // then a chunk whose type bytes are not letters.
      {"png-empty-idat-binary-chunk-type.png", "format_error.352"},
  };
  for (const auto& [name, error] : refusals) {
    INFO(name);
    CHECK_THROWS_WITH(nst::load_image<float>(fixture_path(std::string("fuzz/image/") + name)), Catch::Contains(error));
  }
  // stb puts an unknown chunk's type bytes into its failure reason; nst shows them only as
  // printable ASCII, so a file cannot write control characters (terminal escapes) to stderr.
  const std::string message =
      nst_error_of([] { nst::load_image<float>(fixture_path("fuzz/image/png-empty-idat-binary-chunk-type.png")); });
  CHECK_THAT(message, Catch::Contains("PNG chunk not known"));
  CHECK(std::all_of(message.begin(), message.end(), [](char c) { return c >= 0x20 && c <= 0x7E; }));
}

TEST_CASE("fuzz regressions: the format and JPEG checks refuse what they should and nothing valid", "[fuzz][io][image]") {
  scratch_dir dir;
  nst::tensor<float> image({1, 3, 24, 40});
  for (nst::index_t i = 0; i < image.size(); ++i) image[i] = static_cast<float>((i * 37) % 256) / 255.0f;
  nst::save_image(dir.file("good.jpg"), image);
  const std::string jpeg = read_file_bytes(dir.file("good.jpg"));
  const nst::tensor<float> decoded = nst::load_image<float>(dir.file("good.jpg"));
  // The bytes of a too-large DHT inside an APP1 segment (as EXIF or ICC data may hold any bytes)
  // are skipped with the segment, as stb skips them.
  const std::string fake_dht = std::string("\xFF\xC4\x01\x01\x11", 5) + std::string(16, '\xFF');
  const std::string app1 = std::string("\xFF\xE1", 2) + le_bytes(0, 1) + le_bytes(2 + fake_dht.size(), 1) + fake_dht;
  const std::string with_app1 = jpeg.substr(0, 2) + app1 + jpeg.substr(2);
  const nst::tensor<float> again = nst::load_image<float>(dir.write("app1.jpg", with_app1));
  CHECK(std::equal(again.begin(), again.end(), decoded.begin(), decoded.end()));
  // The same bytes as a real segment are refused.
  CHECK_THROWS_WITH(nst::load_image<float>(dir.write("dht.jpg", jpeg.substr(0, 2) + fake_dht + jpeg.substr(2))),
                    Catch::Contains("format_error.390") && Catch::Contains("4080 symbols"));
  // stb's other formats are refused by their signature, named.
  const std::pair<const char*, std::string> other_formats[] = {
      {"GIF", "GIF89a\x01\x00\x01\x00"}, {"PSD", "8BPS\x00\x01"}, {"PNM", "P6\n1 1\n255\nabc"},
      {"Radiance HDR", "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 1\nabcd"},
      {"Softimage PIC", "\x53\x80\xF6\x34" + std::string(84, ' ') + "PICT"}};
  for (const auto& [format, bytes] : other_formats) {
    INFO(format);
    CHECK_THROWS_WITH(nst::load_image<float>(dir.write("other", bytes)),
                      Catch::Contains("format_error.392") && Catch::Contains(std::string("is a ") + format + " image"));
  }
  if (file_exists(shared_path("images/tubingen.jpg")))
    for (const char* name : {"tubingen.jpg", "golden_gate.jpg", "starry_night.jpg", "the_scream.jpg", "shipwreck.jpg"})
      CHECK(nst::load_image<float>(shared_path(std::string("images/") + name)).dim(1) == 3);
}
#endif
