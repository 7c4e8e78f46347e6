#include <nst/io/detail/zip.hpp>

#include "weight_test_support.hpp"

namespace {
using namespace nst_test;

std::vector<zip_item> sample_items() {
  return {{"archive/data.pkl", "pickle bytes"}, {"archive/data/0", std::string(1000, '\x42')},
          {"archive/empty", ""}, {"archive/version", "3\n"}};
}

void check_sample(const std::string& path) {
  nst::detail::input_file file(path, "test");
  nst::detail::zip_archive zip(file);
  const auto items = sample_items();
  REQUIRE(zip.entries().size() == items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    CHECK(zip.entries()[i].name == items[i].name);
    CHECK(zip.entries()[i].size == items[i].data.size());
    CHECK(zip.read(zip.entries()[i], 1 << 20) == items[i].data);
  }
  CHECK(zip.find("archive/data/0") == &zip.entries()[1]);
  CHECK(zip.find("archive/data/1") == nullptr);
  CHECK_THROWS_WITH(zip.read(zip.entries()[1], 999), Catch::Contains("format_error.319") && Catch::Contains("1000 bytes"));
}

// The offset of the central directory header of entry `index` in a make_zip archive.
std::size_t central_header(const std::string& zip, int index) {
  std::size_t at = zip.find("\x50\x4b\x01\x02");
  for (int i = 0; i < index; ++i) at = zip.find("\x50\x4b\x01\x02", at + 4);
  REQUIRE(at != std::string::npos);
  return at;
}
}  // namespace

TEST_CASE("zip: lists stored entries and reads them, plain and zip64", "[io][weights][zip]") {
  scratch_dir dir;
  check_sample(dir.write("plain.zip", make_zip(sample_items())));
  check_sample(dir.write("zip64.zip", make_zip(sample_items(), true)));
  // A comment after the end record is skipped when looking for it.
  std::string commented = make_zip(sample_items());
  commented[commented.size() - 2] = 5;
  check_sample(dir.write("comment.zip", commented + "hello"));
}

TEST_CASE("zip: reads torch.save's own archive", "[io][weights][zip]") {
  nst::detail::input_file file(weight_fixture("vgg_tiny.zip.pth"), "test");
  nst::detail::zip_archive zip(file);
  const nst::detail::zip_entry* pickle = zip.find("vgg_tiny.zip/data.pkl");
  REQUIRE(pickle != nullptr);
  const std::string bytes = zip.read(*pickle, 1 << 20);
  CHECK(bytes.substr(0, 2) == "\x80\x02");
  CHECK(bytes.back() == '.');
  CHECK(zip.find("vgg_tiny.zip/data/0") != nullptr);
}

TEST_CASE("zip: compressed, encrypted and corrupt archives are refused", "[io][weights][zip]") {
  scratch_dir dir;
  const std::string good = make_zip(sample_items());
  const auto open_entry = [&](const std::string& bytes, int index) {
    nst::detail::input_file file(dir.write("x.zip", bytes), "test");
    nst::detail::zip_archive zip(file);
    return zip.data_offset(zip.entries()[static_cast<std::size_t>(index)]);
  };
  std::string deflated = good;
  deflated[central_header(good, 1) + 10] = 8;  // method 8 = deflate
  CHECK_THROWS_WITH(open_entry(deflated, 1), Catch::Contains("format_error.316") && Catch::Contains("compressed (method 8)") &&
                                                 Catch::Contains("archive/data/0"));
  std::string encrypted = good;
  encrypted[central_header(good, 1) + 8] = 1;
  CHECK_THROWS_WITH(open_entry(encrypted, 1), Catch::Contains("format_error.316") && Catch::Contains("encrypted"));
  std::string bad_offset = good;
  bad_offset[central_header(good, 1) + 42] = 3;  // local header offset points into the data
  CHECK_THROWS_WITH(open_entry(bad_offset, 1), Catch::Contains("format_error.315") && Catch::Contains("no local header"));
  std::string too_big = good;
  too_big[central_header(good, 1) + 21] = 0x7f;  // compressed size and size grow past the file
  too_big[central_header(good, 1) + 25] = 0x7f;
  CHECK_THROWS_WITH(open_entry(too_big, 1), Catch::Contains("format_error.319") && Catch::Contains("runs past the end"));

  const auto refuses = [&](const std::string& bytes, const std::string& why) {
    nst::detail::input_file file(dir.write("y.zip", bytes), "test");
    CHECK_THROWS_WITH(nst::detail::zip_archive(file), Catch::Contains("format_error.315") && Catch::Contains(why));
  };
  refuses("PK\x03\x04", "too short");
  refuses(good.substr(0, good.size() - 1), "no end-of-central-directory record");
  std::string lying_count = good;
  lying_count[lying_count.size() - 12] = 100;  // 100 entries in a directory that holds 4
  refuses(lying_count, "cannot fit");
  std::string lying_directory = good;
  lying_directory[lying_directory.size() - 5] = 0x70;  // directory offset far past the end
  refuses(lying_directory, "lies outside the archive");
  std::string zip64 = make_zip(sample_items(), true);
  zip64[zip64.size() - 22 - 20 + 8] ^= 0x10;  // the locator points elsewhere
  refuses(zip64, "zip64 end-of-central-directory");
  for_each_truncation(dir, good, 200, 7, [](const std::string& path, std::size_t n) {
    INFO("prefix of " << n << " bytes");
    try {
      nst::detail::input_file file(path, "test");
      nst::detail::zip_archive zip(file);
      for (const auto& e : zip.entries()) zip.read(e, 1 << 20);
      FAIL("a truncated archive was accepted");
    } catch (const nst::format_error&) {
    }
  });
}
