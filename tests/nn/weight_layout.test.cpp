#include <nst/nn/weight_layout.hpp>

#include "../support/support.hpp"

#include <fstream>
#include <sstream>

namespace {

std::vector<std::string> torchvision_names() {
  return {"features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias", "classifier.0.weight"};
}
std::vector<std::string> caffe_names() { return {"conv1_1.weight", "conv1_1.bias", "conv1_2.weight"}; }

// A hash function that records whether it was called.
struct fake_hash {
  std::string value;
  int* calls;
  std::string operator()() const {
    ++*calls;
    return value;
  }
};

}  // namespace

TEST_CASE("weight_layout: tensor names map to canonical conv names", "[nn][weight_layout]") {
  const auto first = nst::parse_vgg19_key("features.0.weight");
  REQUIRE(first);
  CHECK(first->conv == 0);
  CHECK(first->is_weight);
  CHECK(first->canonical() == "conv1_1.weight");
  CHECK(nst::parse_vgg19_key("features.19.bias")->canonical() == "conv4_1.bias");
  CHECK(nst::parse_vgg19_key("features.34.weight")->canonical() == "conv5_4.weight");
  CHECK(nst::parse_vgg19_key("conv3_4.bias")->canonical() == "conv3_4.bias");
  CHECK(nst::parse_vgg19_key("conv3_4.bias")->feature_index == 16);
  CHECK(nst::parse_vgg19_key("conv3_4.bias")->scheme == nst::vgg19_key::naming::caffe_name);

  // A parameter where VGG19 has none is still recognised (so the loader can reject the file).
  const auto relu = nst::parse_vgg19_key("features.17.weight");
  REQUIRE(relu);
  CHECK(relu->conv == -1);
  CHECK(nst::parse_vgg19_key("features.40.bias")->conv == -1);

  CHECK_FALSE(nst::parse_vgg19_key("classifier.0.weight"));
  CHECK_FALSE(nst::parse_vgg19_key("conv3_5.weight"));
  CHECK_FALSE(nst::parse_vgg19_key("features.x.weight"));
  CHECK_FALSE(nst::parse_vgg19_key("features.0.running_mean"));
  CHECK_FALSE(nst::parse_vgg19_key("conv1_1"));
  CHECK(nst::is_vgg19_feature_key("features.2.bias"));
  CHECK_FALSE(nst::is_vgg19_feature_key("classifier.6.bias"));
}

TEST_CASE("weight_layout: caffe-style names mean caffe preprocessing, without hashing", "[nn][weight_layout]") {
  int calls = 0;
  const auto id = nst::identify_vgg19_weights(caffe_names(), {}, std::nullopt, fake_hash{"d01eb7cb00", &calls});
  CHECK(id.layout == nst::weight_layout::caffe_names);
  CHECK(id.input == nst::preprocessing::caffe);
  CHECK(id.input_source == nst::preprocessing_source::layout);
  CHECK(calls == 0);
  CHECK(id.sha256.empty());
}

TEST_CASE("weight_layout: features.N names are told apart by the file's hash", "[nn][weight_layout]") {
  int calls = 0;
  SECTION("neural-style-pt's Caffe conversion") {
    const auto id = nst::identify_vgg19_weights(torchvision_names(), {}, std::nullopt,
                                                fake_hash{"d01eb7cb" + std::string(56, '0'), &calls});
    CHECK(id.layout == nst::weight_layout::neural_style_pt);
    CHECK(id.input == nst::preprocessing::caffe);
    CHECK(id.input_source == nst::preprocessing_source::hash);
    CHECK(id.known_file.find("vgg19-d01eb7cb.pth") != std::string::npos);
  }
  SECTION("torchvision's own file") {
    const auto id = nst::identify_vgg19_weights(
        torchvision_names(), {}, std::nullopt,
        fake_hash{"dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44", &calls});
    CHECK(id.layout == nst::weight_layout::torchvision);
    CHECK(id.input == nst::preprocessing::torch);
    CHECK(id.input_source == nst::preprocessing_source::hash);
    CHECK(id.known_file.find("vgg19-dcbb9e9d.pth") != std::string::npos);
  }
  SECTION("a full digest is matched exactly, not by its prefix") {
    const auto id = nst::identify_vgg19_weights(torchvision_names(), {}, std::nullopt,
                                                fake_hash{"dcbb9e9d" + std::string(56, '1'), &calls});
    CHECK(id.input_source == nst::preprocessing_source::layout);
    CHECK(id.known_file.empty());
  }
  SECTION("an unknown file is assumed torchvision") {
    const auto id = nst::identify_vgg19_weights(torchvision_names(), {}, std::nullopt,
                                                fake_hash{std::string(64, 'a'), &calls});
    CHECK(id.layout == nst::weight_layout::torchvision);
    CHECK(id.input == nst::preprocessing::torch);
    CHECK(id.input_source == nst::preprocessing_source::layout);
    CHECK(id.sha256 == std::string(64, 'a'));
    CHECK(id.reason.find("not a known file") != std::string::npos);
  }
  CHECK(calls == 1);
}

TEST_CASE("weight_layout: no file to hash means torchvision by layout", "[nn][weight_layout]") {
  const auto id = nst::identify_vgg19_weights(torchvision_names(), {}, std::nullopt);
  CHECK(id.layout == nst::weight_layout::torchvision);
  CHECK(id.input == nst::preprocessing::torch);
  CHECK(id.input_source == nst::preprocessing_source::layout);
}

TEST_CASE("weight_layout: a user override or metadata decides before any hashing", "[nn][weight_layout]") {
  int calls = 0;
  const fake_hash hash{"dcbb9e9d" + std::string(56, '0'), &calls};
  const auto user = nst::identify_vgg19_weights(torchvision_names(), {}, nst::preprocessing::caffe, hash);
  CHECK(user.input == nst::preprocessing::caffe);
  CHECK(user.input_source == nst::preprocessing_source::user);

  const auto declared =
      nst::identify_vgg19_weights(torchvision_names(), {{"preprocessing", "Caffe"}}, std::nullopt, hash);
  CHECK(declared.input == nst::preprocessing::caffe);
  CHECK(declared.input_source == nst::preprocessing_source::metadata);

  // The metadata of the shared safetensors file describes its input in words.
  const std::map<std::string, std::string> shared_metadata = {
      {"architecture", "vgg19"},
      {"input", "BGR, 0..255, minus mean B=103.939 G=116.779 R=123.68 (Caffe VGG preprocessing)"}};
  const auto described = nst::identify_vgg19_weights(torchvision_names(), shared_metadata, std::nullopt, hash);
  CHECK(described.input == nst::preprocessing::caffe);
  CHECK(described.input_source == nst::preprocessing_source::metadata);

  const auto torch_words = nst::identify_vgg19_weights(
      caffe_names(), {{"input", "RGB in 0..1, ImageNet mean/std normalised"}}, std::nullopt, hash);
  CHECK(torch_words.input == nst::preprocessing::torch);
  CHECK(torch_words.input_source == nst::preprocessing_source::metadata);

  // The user beats the metadata.
  const auto both = nst::identify_vgg19_weights(caffe_names(), {{"preprocessing", "caffe"}},
                                                nst::preprocessing::torch, hash);
  CHECK(both.input == nst::preprocessing::torch);
  CHECK(calls == 0);
}

TEST_CASE("weight_layout: files that are not VGG19 feature weights are refused", "[nn][weight_layout]") {
  CHECK_THROWS_WITH(nst::identify_vgg19_weights({"classifier.0.weight", "fc.bias"}, {}, std::nullopt),
                    Catch::Contains("lookup_error.512") && Catch::Contains("classifier.0.weight"));
  CHECK_THROWS_WITH(nst::identify_vgg19_weights({"features.0.weight", "conv1_2.weight"}, {}, std::nullopt),
                    Catch::Contains("format_error.372"));
  CHECK_THROWS_WITH(
      nst::identify_vgg19_weights(caffe_names(), {{"preprocessing", "yuv"}}, std::nullopt),
      Catch::Contains("format_error.371") && Catch::Contains("'yuv'"));
}

TEST_CASE("weight_layout: the known-file table agrees with weights/README.md", "[nn][weight_layout]") {
  const std::string readme_path = std::string(NST_SOURCE_DIR) + "/weights/README.md";
  std::ifstream in(readme_path);
  if (!in) {
    WARN("skipped: " << readme_path << " is absent");
    return;
  }
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  for (const auto& file : nst::known_vgg19_files()) {
    INFO(file.file_name);
    const std::string digest = file.sha256;
    // The name carries the digest's first 8 hex digits; the README lists the name and the digest
    // (or, where only the prefix is known, the prefix).
    CHECK(std::string(file.file_name).find(digest.substr(0, 8)) != std::string::npos);
    CHECK(readme.find(file.file_name) != std::string::npos);
    CHECK(readme.find(digest) != std::string::npos);
    CHECK(nst::find_known_vgg19_file(digest + std::string(64 - digest.size(), '0')) == &file);
  }
}
