#include <nst/io/weights.hpp>

#include "detail/weight_test_support.hpp"

namespace {
using namespace nst_test;
const char* const vgg_tiny_files[] = {"vgg_tiny.safetensors", "vgg_tiny.zip.pth", "vgg_tiny.legacy.pth",
                                      "vgg_tiny.legacy_v1.pth"};
}  // namespace

TEST_CASE("weights: load_weights recognises every format by content and all agree", "[io][weights]") {
  scratch_dir dir;
  const std::vector<std::string> formats{"safetensors", "pth-zip", "pth-legacy", "pth-legacy"};
  const auto reference = nst::load_weights<float>(weight_fixture("vgg_tiny.safetensors"));
  for (std::size_t i = 0; i < 4; ++i) {
    INFO(vgg_tiny_files[i]);
    // Under a misleading name: the format comes from the bytes, not the extension.
    const std::string path = dir.write("weights.bin", read_file_bytes(weight_fixture(vgg_tiny_files[i])));
    const auto f = nst::load_weights<float>(path);
    CHECK(f.format == formats[i]);
    check_matches_expected(f, "vgg_tiny");
    CHECK(f.names == reference.names);
    for (const auto& name : f.names) CHECK(max_relative_error(f.at(name), reference.at(name)) == 0.0);
    const auto d = nst::load_weights<double>(path, [](const std::string& n) { return n.find(".bias") != std::string::npos; });
    CHECK(d.names.size() == 19);
    for (const auto& name : d.names) CHECK(max_relative_error(d.at(name), reference.at(name)) == 0.0);
  }
  check_matches_expected(nst::load_weights<double>(weight_fixture("views.legacy.pth")), "views");
}

TEST_CASE("weights: inspect_weights lists names, dtypes and shapes of every format", "[io][weights]") {
  const auto expected = expected_tensors("vgg_tiny");
  for (const char* file : vgg_tiny_files) {
    INFO(file);
    std::map<std::string, std::string> metadata{{"stale", "entry"}};
    const auto infos = nst::inspect_weights(weight_fixture(file), &metadata);
    REQUIRE(infos.size() == expected.size());
    for (std::size_t i = 0; i < infos.size(); ++i) {
      CHECK(infos[i].name == expected[i].first);
      CHECK(infos[i].dims == expected[i].second.shape());
      CHECK(infos[i].type == nst::dtype::f32);
    }
    if (std::string(file) == "vgg_tiny.safetensors")
      CHECK(metadata.at("format") == "pt");
    else
      CHECK(metadata.empty());
  }
  const auto views = nst::inspect_weights(weight_fixture("views.legacy.pth"));
  CHECK(views[8].name == "bf16");
  CHECK(views[8].type == nst::dtype::bf16);
  CHECK(views[8].dims == nst::shape({2, 7}));
  CHECK(std::string(nst::dtype_name(views[6].type)) == "F16");
}

TEST_CASE("weights: unknown, missing and unreadable files", "[io][weights]") {
  scratch_dir dir;
  CHECK_THROWS_WITH(nst::load_weights<float>(dir.write("x.pth", "GIF89a...")),
                    Catch::Contains("format_error.300") && Catch::Contains("[47 49 46 38 39 61 2e 2e 2e]"));
  CHECK_THROWS_WITH(nst::inspect_weights(dir.write("e.pth", "")), Catch::Contains("format_error.300"));
  CHECK_THROWS_WITH(nst::load_weights<float>(dir.file("none.pth")),
                    Catch::Contains("io_error.400") && Catch::Contains("none.pth") && Catch::Contains("no such file"));
  std::filesystem::create_directories(dir.file("folder"));
  CHECK_THROWS_WITH(nst::load_weights<float>(dir.file("folder")), Catch::Contains("io_error.400") && Catch::Contains("not a regular file"));
  CHECK_THROWS_WITH(nst::sha256_file(dir.file("none")), Catch::Contains("io_error.400"));
}

TEST_CASE("weights: sha256_file agrees with known digests and with Python's hashlib", "[io][weights][sha256]") {
  scratch_dir dir;
  CHECK(nst::sha256_file(dir.write("abc", "abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(nst::sha256_file(dir.write("empty", "")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::ifstream sums(weight_fixture("SHA256SUMS"));
  int checked = 0;
  for (std::string digest, name; sums >> digest >> name; ++checked) {
    INFO(name);
    CHECK(nst::sha256_file(weight_fixture(name)) == digest);
  }
  CHECK(checked >= 14);
}

TEST_CASE("weights: the shared VGG19 safetensors through load_weights and inspect_weights", "[io][weights][shared]") {
  NST_REQUIRE_SHARED("weights/vgg19-conv1_1-conv3_4.safetensors");
  const std::string path = shared_path("weights/vgg19-conv1_1-conv3_4.safetensors");
  std::map<std::string, std::string> metadata;
  const auto infos = nst::inspect_weights(path, &metadata);
  REQUIRE(infos.size() == 16);
  CHECK(infos.front().name == "conv1_1.weight");
  CHECK(infos.front().dims == nst::shape({64, 3, 3, 3}));
  CHECK(infos.back().name == "conv3_4.bias");
  CHECK(metadata.at("architecture") == "vgg19");
  const auto w = nst::load_weights<double>(path, [](const std::string& n) { return n.rfind("conv1_", 0) == 0; });
  CHECK(w.format == "safetensors");
  CHECK(w.names == std::vector<std::string>{"conv1_1.weight", "conv1_1.bias", "conv1_2.weight", "conv1_2.bias"});
  CHECK(w.data_bytes_read == (64 * 3 * 9 + 64 + 64 * 64 * 9 + 64) * 4);
}

TEST_CASE("weights: random corruption of any fixture gives values or a format error, never a crash",
          "[io][weights]") {
  scratch_dir dir;
  std::mt19937 rng(2024);
  for (const char* name : {"vgg_tiny.safetensors", "vgg_tiny.zip.pth", "vgg_tiny.legacy.pth", "views.zip.pth",
                           "views.legacy.pth", "dtypes.safetensors", "nested.zip.pth"}) {
    const std::string good = read_file_bytes(weight_fixture(name));
    // Corrupt the structure more often than the tensor data: half the flips hit the first 2 KB.
    std::uniform_int_distribution<std::size_t> anywhere(0, good.size() - 1), early(0, std::min<std::size_t>(good.size(), 2048) - 1);
    // The bytes are changed in place and put back after each trial: no file is rewritten.
    const std::string path = dir.write("mutant", good);
    const auto overwrite = [&](std::size_t at, char byte) {
      std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
      file.seekp(static_cast<std::streamoff>(at));
      file.put(byte);
    };
    int loaded = 0, refused = 0;
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<std::size_t> positions;
      for (int flip = 0; flip < 1 + trial % 4; ++flip) {
        positions.push_back(trial % 2 ? anywhere(rng) : early(rng));
        overwrite(positions.back(), static_cast<char>(rng()));
      }
      INFO(name << " trial " << trial);
      try {
        nst::load_weights<float>(path);
        nst::inspect_weights(path);
        ++loaded;
      } catch (const nst::format_error&) {
        ++refused;
      }
      for (std::size_t at : positions) overwrite(at, good[at]);
    }
    CHECK(loaded + refused == 300);
    CHECK(refused > 0);
  }
}
