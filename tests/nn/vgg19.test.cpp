#include <nst/autodiff.hpp>
#include <nst/io/weights.hpp>
#include <nst/nn/vgg19.hpp>

#include "../support/support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#if defined(NST_HAVE_STB)
#include <stb_image.h>
#endif

// Fixtures from tests/fixtures/make_vgg_fixtures.py (PyTorch, float64 reference):
//   nn/narrow_vgg19.safetensors           VGG19 with widths 4,6,8,10,12 per block, features.N names
//   nn/narrow_vgg19_partial.pth           its conv1_1..conv3_4 plus a classifier tensor (zip .pth)
//   nn/narrow_vgg19_expected.safetensors  input [2,3,20,28], activations, input gradients
//   nn/tubingen_vgg19_stats.safetensors   statistics of the real weights on a crop of tubingen.jpg

namespace {

using nst_test::fixture_path;

const std::vector<std::string> fixture_layers = {"relu1_1", "relu2_1", "relu3_1", "pool3", "relu4_2", "relu5_1"};

const nst::weight_file<double>& expected() {
  static const auto file = nst::load_weights<double>(fixture_path("nn/narrow_vgg19_expected.safetensors"));
  return file;
}

// The fixture key of `layer` under `pool` (relu1_1 comes before any pooling and is stored once).
std::string expected_key(const std::string& pool, const std::string& layer) {
  return layer == "relu1_1" ? layer : pool + "/" + layer;
}

// Relative error with a floor at a tenth of the reference's largest magnitude: values that are
// near zero because of cancellation are judged against the layer's scale.
template <class T>
double scaled_error(const nst::tensor<T>& got, const nst::tensor<double>& want) {
  double largest = 0;
  for (double v : want) largest = std::max(largest, std::abs(v));
  return nst_test::max_relative_error(got, want, 0.1 * largest);
}

// The reference values are float64 results stored as float32 (relative rounding 6e-8); float
// computations measured ~2e-6 from them, double ones ~6e-8.
template <class T>
double tolerance() {
  return std::is_same<T, float>::value ? 1e-5 : 2e-7;
}

template <class T>
nst::vgg19<T> narrow_network(nst::pooling pool = nst::pooling::max) {
  nst::vgg19_options options;
  options.pool = pool;
  return nst::vgg19<T>::from_file(fixture_path("nn/narrow_vgg19.safetensors"), options);
}

// sum(f^2) on the tape, as numel * mean((f - 0)^2).
template <class T>
nst::var<T> sum_of_squares(nst::tape<T>& tp, const nst::var<T>& f) {
  return static_cast<T>(f.value().size()) * nst::ad::mse(f, tp.constant(nst::tensor<T>(f.shape())));
}

// Renames every features.N tensor of `file` to its canonical conv1_1-style name.
template <class T>
nst::weight_file<T> with_caffe_names(nst::weight_file<T> file) {
  nst::weight_file<T> renamed;
  renamed.format = file.format;
  for (auto& entry : file.tensors) {
    const std::string name = nst::parse_vgg19_key(entry.first)->canonical();
    renamed.names.push_back(name);
    renamed.tensors[name] = std::move(entry.second);
  }
  return renamed;
}

// A tiny VGG19 in memory (caffe-style names), seeded, for finite differences.
nst::weight_file<double> tiny_weights() {
  nst::weight_file<double> file;
  file.format = "memory";
  const std::vector<nst::index_t> widths = {2, 3, 3, 4, 3};
  nst::index_t in = 3;
  unsigned seed = 100;
  for (int conv = 0; conv < nst::vgg19_conv_count; ++conv) {
    const int block = nst::vgg19_layers()[nst::vgg19_conv_layer_index(conv)].block;
    const nst::index_t out = widths[static_cast<std::size_t>(block - 1)];
    const double he = std::sqrt(6.0 / static_cast<double>(9 * in));  // keeps activations alive
    const std::string name = nst::vgg19_conv_names()[static_cast<std::size_t>(conv)];
    file.tensors[name + ".weight"] = nst_test::random_tensor<double>({out, in, 3, 3}, seed++, -he, he);
    file.tensors[name + ".bias"] = nst_test::random_tensor<double>({out}, seed++, 0.0, 0.2);
    in = out;
  }
  for (const auto& entry : file.tensors) file.names.push_back(entry.first);
  return file;
}

// The tape's gradient of L = sum over `layers` of mean(f^2) against finite differences. L is
// piecewise quadratic in x, so a large step is exact away from ReLU/max kinks and keeps round-off
// small (1e-6 measured ~5e-6 from round-off alone, 1e-4 ~2e-8).
nst::gradient_check_result mean_square_gradient_check(const nst::vgg19<double>& net, const nst::tensor<double>& input,
                                                      const std::vector<std::string>& layers) {
  const auto loss = [&](const nst::tensor<double>& x) {
    double total = 0;
    for (const auto& entry : net.features(x, layers))
      total += entry.second.vector().squaredNorm() / static_cast<double>(entry.second.size());
    return total;
  };
  nst::tape<double> tp;
  const auto x = tp.variable(input);
  const auto f = net.features(tp, x, layers);
  const auto mean_square = [&](const std::string& layer) {
    return nst::ad::mse(f.at(layer), tp.constant(nst::tensor<double>(f.at(layer).shape())));
  };
  nst::var<double> total = mean_square(layers.front());
  for (std::size_t i = 1; i < layers.size(); ++i) total = total + mean_square(layers[i]);
  tp.backward(total);
  return nst::check_gradient(loss, input, x.grad(), 1e-4, 150);
}

}  // namespace

TEMPLATE_TEST_CASE("vgg19: a narrow VGG19 matches PyTorch at six layers, max and avg pooling", "[nn][vgg19]", float,
                   double) {
  const auto input = expected().at("input").cast<TestType>();
  REQUIRE(input.shape() == nst::shape({2, 3, 20, 28}));
  for (const auto pool : {nst::pooling::max, nst::pooling::average}) {
    const std::string pool_name = pool == nst::pooling::max ? "max" : "avg";
    const auto net = narrow_network<TestType>(pool);
    const auto features = net.features(input, fixture_layers);
    REQUIRE(features.size() == fixture_layers.size());
    for (const std::string& layer : fixture_layers) {
      INFO(pool_name << " " << layer);
      const auto& want = expected().at(expected_key(pool_name, layer));
      REQUIRE(features.at(layer).shape() == want.shape());
      const double error = scaled_error(features.at(layer), want);
      CHECK(error < tolerance<TestType>());
    }
  }
}

TEMPLATE_TEST_CASE("vgg19: the tape version back-propagates to the input as PyTorch does", "[nn][vgg19]", float,
                   double) {
  const auto input = expected().at("input").cast<TestType>();
  for (const auto pool : {nst::pooling::max, nst::pooling::average}) {
    const std::string pool_name = pool == nst::pooling::max ? "max" : "avg";
    INFO(pool_name);
    const auto net = narrow_network<TestType>(pool);
    nst::tape<TestType> tp;
    const auto x = tp.variable(input);
    const auto f = net.features(tp, x, {"relu5_1", "relu2_1"});
    REQUIRE(f.size() == 2);
    tp.backward(sum_of_squares(tp, f.at("relu2_1")) + sum_of_squares(tp, f.at("relu5_1")));
    CHECK(scaled_error(x.grad(), expected().at(pool_name + "/input_gradient")) < tolerance<TestType>());
    // The recorded values are the plain forward pass's.
    const auto plain = net.features(input, {"relu2_1", "relu5_1"});
    CHECK(nst_test::max_relative_error(f.at("relu5_1").value(), plain.at("relu5_1")) == 0);
    CHECK(nst_test::max_relative_error(f.at("relu2_1").value(), plain.at("relu2_1")) == 0);
  }
}

TEST_CASE("vgg19: runs only as deep as the deepest requested layer", "[nn][vgg19]") {
  const auto net = narrow_network<float>();
  nst::tape<float> tp;
  const auto x = tp.variable(expected().at("input").cast<float>());
  const auto f = net.features(tp, x, {"relu1_1", "conv1_1"});
  // image, conv1_1 (weights used by reference, not recorded), relu1_1: nothing deeper was recorded.
  CHECK(tp.size() == 3);
  CHECK(f.at("conv1_1").value().dim(1) == 4);
  CHECK(net.features(expected().at("input").cast<float>(), {}).empty());
}

TEST_CASE("vgg19: layout detection, canonical names and the preprocessing choice", "[nn][vgg19]") {
  const auto input = expected().at("input").cast<float>();
  SECTION("torchvision names: torch preprocessing; the unknown file was hashed") {
    const auto net = narrow_network<float>();
    CHECK(net.identity().layout == nst::weight_layout::torchvision);
    CHECK(net.input_preprocessing() == nst::preprocessing::torch);
    CHECK(net.identity().input_source == nst::preprocessing_source::layout);
    CHECK(net.identity().sha256.size() == 64);
    CHECK(net.identity().known_file.empty());
  }
  SECTION("caffe-style names: caffe preprocessing, same network") {
    const auto file = nst::load_weights<float>(fixture_path("nn/narrow_vgg19.safetensors"));
    const nst::vgg19<float> net(with_caffe_names(file));
    CHECK(net.identity().layout == nst::weight_layout::caffe_names);
    CHECK(net.input_preprocessing() == nst::preprocessing::caffe);
    CHECK(net.identity().sha256.empty());
    const auto f = net.features(input, {"relu4_2"});
    CHECK(scaled_error(f.at("relu4_2"), expected().at("max/relu4_2")) < 1e-5);
  }
  SECTION("metadata decides, the user decides last") {
    auto file = nst::load_weights<float>(fixture_path("nn/narrow_vgg19.safetensors"));
    file.metadata["preprocessing"] = "caffe";
    const nst::vgg19<float> from_metadata(file);
    CHECK(from_metadata.input_preprocessing() == nst::preprocessing::caffe);
    CHECK(from_metadata.identity().input_source == nst::preprocessing_source::metadata);
    CHECK(from_metadata.identity().sha256.empty());  // no hashing needed
    nst::vgg19_options options;
    options.input = nst::preprocessing::torch;
    const nst::vgg19<float> from_user(file, options);
    CHECK(from_user.input_preprocessing() == nst::preprocessing::torch);
    CHECK(from_user.identity().input_source == nst::preprocessing_source::user);
  }
}

TEST_CASE("vgg19: partial weights serve the layers they cover", "[nn][vgg19]") {
  const auto net = nst::vgg19<float>::from_file(fixture_path("nn/narrow_vgg19_partial.pth"));
  const auto layers = net.available_layers();
  REQUIRE(layers.size() == 19);
  CHECK(layers.front() == "conv1_1");
  CHECK(layers.back() == "pool3");
  CHECK(net.has_layer("pool3"));
  CHECK_FALSE(net.has_layer("conv4_1"));
  CHECK_FALSE(net.has_layer("conv9_9"));
  CHECK(net.channels("relu3_1") == 8);

  const auto input = expected().at("input").cast<float>();
  const auto f = net.features(input, {"pool3", "relu2_1"});
  CHECK(scaled_error(f.at("pool3"), expected().at("max/pool3")) < 1e-5);
  CHECK(scaled_error(f.at("relu2_1"), expected().at("max/relu2_1")) < 1e-5);

  CHECK_THROWS_WITH(net.features(input, {"relu1_1", "relu4_2"}),
                    Catch::Contains("lookup_error.511") && Catch::Contains("relu4_2") &&
                        Catch::Contains("conv4_1.weight, conv4_1.bias, conv4_2.weight, conv4_2.bias") &&
                        Catch::Contains("conv1_1 .. pool3"));
  CHECK_THROWS_AS(net.channels("relu4_1"), nst::lookup_error);

  // The classifier tensor in the file was never read: only the conv tensors' bytes were.
  const auto description = net.describe();
  const auto all = nst::load_weights<float>(fixture_path("nn/narrow_vgg19_partial.pth"));
  std::uint64_t conv_bytes = 0;
  for (const auto& entry : all.tensors)
    if (entry.first.rfind("features.", 0) == 0) conv_bytes += 4 * static_cast<std::uint64_t>(entry.second.size());
  CHECK(all.tensors.count("classifier.0.weight") == 1);
  CHECK(description.data_bytes_read == conv_bytes);
  CHECK(description.loaded_convs.size() == 8);
  CHECK(description.missing_tensors.size() == 16);
  CHECK(description.str().find("conv1_1 .. pool3") != std::string::npos);
}

TEST_CASE("vgg19: unknown layers and unusable inputs are refused before any work", "[nn][vgg19]") {
  const auto net = narrow_network<float>();
  const auto input = expected().at("input").cast<float>();
  CHECK_THROWS_WITH(net.features(input, {"relu1_1", "relu_4_2"}),
                    Catch::Contains("lookup_error.510") && Catch::Contains("'relu_4_2'") &&
                        Catch::Contains("relu4_2, conv4_3"));
  CHECK_THROWS_WITH(net.features(nst::tensor<float>({1, 1, 32, 32}), {"relu1_1"}),
                    Catch::Contains("shape_error.150") && Catch::Contains("[1,1,32,32]"));
  CHECK_THROWS_WITH(net.features(nst::tensor<float>({1, 3, 7, 40}), {"relu4_1"}),
                    Catch::Contains("shape_error.152") && Catch::Contains("8x8") && Catch::Contains("[1,3,7,40]"));
  CHECK_NOTHROW(net.features(nst::tensor<float>({1, 3, 7, 40}), {"relu3_4"}));

  nst::tape<float> one, other;
  const auto x = other.variable(input);
  CHECK_THROWS_WITH(net.features(one, x, {"relu1_1"}), Catch::Contains("value_error.270"));
  CHECK(one.size() == 0);
}

TEST_CASE("vgg19: weights that do not fit VGG19 are refused with the tensor's name", "[nn][vgg19]") {
  const auto original = nst::load_weights<float>(fixture_path("nn/narrow_vgg19.safetensors"));
  auto broken = original;
  SECTION("conv1_1 must read 3 channels") {
    broken.tensors["features.0.weight"] = nst::tensor<float>({4, 4, 3, 3});
    CHECK_THROWS_WITH(nst::vgg19<float>(broken),
                      Catch::Contains("shape_error.153") && Catch::Contains("conv1_1.weight") &&
                          Catch::Contains("'features.0.weight' in the file") && Catch::Contains("[4,4,3,3]") &&
                          Catch::Contains("[out,3,3,3]"));
  }
  SECTION("channel counts must agree between layers") {
    broken.tensors["features.5.weight"] = nst::tensor<float>({6, 5, 3, 3});  // conv1_2 gives 4
    CHECK_THROWS_WITH(nst::vgg19<float>(broken), Catch::Contains("conv2_1.weight") && Catch::Contains("[6,5,3,3]") &&
                                                     Catch::Contains("[out,4,3,3]") && Catch::Contains("conv1_2"));
  }
  SECTION("kernels are 3x3") {
    broken.tensors["features.7.weight"] = nst::tensor<float>({6, 6, 5, 5});
    CHECK_THROWS_WITH(nst::vgg19<float>(broken), Catch::Contains("conv2_2.weight") && Catch::Contains("[6,6,5,5]"));
  }
  SECTION("a bias has one value per output channel") {
    broken.tensors["features.10.bias"] = nst::tensor<float>({7});
    CHECK_THROWS_WITH(nst::vgg19<float>(broken), Catch::Contains("shape_error.154") &&
                                                     Catch::Contains("conv3_1.bias") && Catch::Contains("[7]") &&
                                                     Catch::Contains("expected [8]"));
  }
  SECTION("a parameter where VGG19 has none (VGG16's features.17)") {
    broken.tensors["features.17.weight"] = nst::tensor<float>({8, 8, 3, 3});
    CHECK_THROWS_WITH(nst::vgg19<float>(broken), Catch::Contains("format_error.370") &&
                                                     Catch::Contains("features.17.weight") &&
                                                     Catch::Contains("relu3_4"));
  }
  SECTION("a missing tensor in the middle cuts the network there") {
    broken.tensors.erase("features.12.bias");  // conv3_2
    const nst::vgg19<float> net(broken);
    CHECK(net.available_layers().back() == "relu3_1");
    CHECK_THROWS_WITH(net.features(expected().at("input").cast<float>(), {"relu3_2"}),
                      Catch::Contains("lookup_error.511") && Catch::Contains("needs conv3_2.bias, missing"));
  }
}

TEST_CASE("vgg19: tape gradients agree with finite differences", "[nn][vgg19][gradient]") {
  const auto input = nst_test::random_tensor<double>({1, 3, 32, 34}, 9);
  const std::vector<std::string> layers = {"relu1_2", "relu3_1", "pool5"};
  for (const auto pool : {nst::pooling::max, nst::pooling::average}) {
    INFO((pool == nst::pooling::max ? "max" : "avg"));
    nst::vgg19_options options;
    options.pool = pool;
    const nst::vgg19<double> net(tiny_weights(), options);
    // L = sum over the layers of mean(f^2): every layer, down to pool5, weighs in.
    CHECK(net.features(input, {"pool5"}).at("pool5").vector().squaredNorm() > 0);  // the deepest layer is alive
    const auto check = mean_square_gradient_check(net, input, layers);
    INFO("worst relative error " << check.max_relative_error << " at " << check.worst_index);
    CHECK(check.ok(1e-6));
  }
}

TEST_CASE("vgg19: save_safetensors writes a file that identifies itself", "[nn][vgg19]") {
  const auto net = narrow_network<float>();  // torchvision names, torch preprocessing
  const std::string path = (std::filesystem::temp_directory_path() / "nst_nn_vgg19_roundtrip.safetensors").string();
  net.save_safetensors(path);
  const auto saved = nst::load_weights<float>(path);
  std::filesystem::remove(path);
  CHECK(saved.tensors.size() == 32);
  CHECK(saved.names.front() == "conv1_1.weight");
  CHECK(saved.metadata.at("preprocessing") == "torch");
  const nst::vgg19<float> again(saved);
  CHECK(again.identity().layout == nst::weight_layout::caffe_names);
  CHECK(again.input_preprocessing() == nst::preprocessing::torch);  // metadata beats the layout
  CHECK(again.identity().input_source == nst::preprocessing_source::metadata);
  const auto input = expected().at("input").cast<float>();
  CHECK(nst_test::max_relative_error(again.features(input, {"relu5_1"}).at("relu5_1"),
                                     net.features(input, {"relu5_1"}).at("relu5_1")) == 0);
}

TEST_CASE("vgg19: the real shared weights (conv1_1..conv3_4, caffe)", "[nn][vgg19][shared]") {
  NST_REQUIRE_SHARED("weights/vgg19-conv1_1-conv3_4.safetensors");
  const auto net = nst::vgg19<float>::from_file(nst_test::shared_path("weights/vgg19-conv1_1-conv3_4.safetensors"));
  CHECK(net.identity().layout == nst::weight_layout::caffe_names);
  CHECK(net.input_preprocessing() == nst::preprocessing::caffe);
  CHECK(net.identity().input_source == nst::preprocessing_source::metadata);
  CHECK(net.identity().sha256.empty());
  CHECK(net.available_layers().back() == "pool3");
  CHECK(net.channels("relu3_1") == 256);
  CHECK_THROWS_WITH(net.features(nst::tensor<float>({1, 3, 16, 16}), {"relu4_1"}),
                    Catch::Contains("conv4_1.weight"));
  const std::string text = nst::describe_weights_file(nst_test::shared_path("weights/vgg19-conv1_1-conv3_4.safetensors"));
  CHECK(text.find("caffe (from metadata") != std::string::npos);
  CHECK(text.find("8 of 16") != std::string::npos);
  CHECK(text.find("conv3_4 [256,256,3,3]") != std::string::npos);
}

#if defined(NST_HAVE_STB)
TEST_CASE("vgg19: real weights on tubingen.jpg match PyTorch", "[nn][vgg19][shared]") {
  NST_REQUIRE_SHARED("weights/vgg19-conv1_1-conv3_4.safetensors");
  NST_REQUIRE_SHARED("images/tubingen.jpg");
  const auto stats = nst::load_weights<double>(fixture_path("nn/tubingen_vgg19_stats.safetensors"));
  // The crop "top,left,size" the fixture was made from.
  long top = 0, left = 0, size = 0;
  REQUIRE(std::sscanf(stats.metadata.at("crop").c_str(), "%ld,%ld,%ld", &top, &left, &size) == 3);

  int width = 0, height = 0, channels = 0;
  unsigned char* pixels = stbi_load(nst_test::shared_path("images/tubingen.jpg").c_str(), &width, &height, &channels, 3);
  REQUIRE(pixels != nullptr);
  REQUIRE(top + size <= height);
  REQUIRE(left + size <= width);
  nst::tensor<float> image({1, 3, size, size});
  for (long c = 0; c < 3; ++c)
    for (long y = 0; y < size; ++y)
      for (long x = 0; x < size; ++x)
        image.at(0, c, y, x) = static_cast<float>(pixels[((top + y) * width + left + x) * 3 + c]) / 255.0f;
  stbi_image_free(pixels);

  const auto net = nst::vgg19<float>::from_file(nst_test::shared_path("weights/vgg19-conv1_1-conv3_4.safetensors"));
  const auto features = net.features(nst::to_network(image, net.input_preprocessing()), {"relu1_1", "relu2_1", "relu3_1"});
  for (const std::string layer : {"relu1_1", "relu2_1", "relu3_1"}) {
    INFO(layer);
    const auto& f = features.at(layer);
    const auto& means = stats.at(layer + "/channel_mean");
    REQUIRE(f.dim(1) == means.size());
    nst::tensor<double> got_means(means.shape());
    const nst::index_t plane = f.dim(2) * f.dim(3);
    for (nst::index_t c = 0; c < f.dim(1); ++c) {
      double sum = 0;
      for (nst::index_t i = 0; i < plane; ++i) sum += f[c * plane + i];
      got_means[c] = sum / static_cast<double>(plane);
    }
    CHECK(scaled_error(got_means, means) < 1e-5);
    const auto& index = stats.at(layer + "/index");
    const auto& value = stats.at(layer + "/value");
    nst::tensor<double> sampled(value.shape());
    for (nst::index_t i = 0; i < index.size(); ++i) sampled[i] = f[static_cast<nst::index_t>(index[i])];
    CHECK(scaled_error(sampled, value) < 1e-5);
  }
}
#endif

TEMPLATE_TEST_CASE("vgg19: Winograd convolutions match PyTorch, forward and back to the input", "[nn][vgg19][winograd]",
                   float, double) {
  // The narrow network's 4..12 channels would run im2col under `automatic`: force Winograd.
  // Float F(4x4) rounds at ~1e-5 of a layer's largest value (winograd.test.cpp states 3e-5); it
  // measured 1.6e-5 here, above the 1e-5 im2col meets, so the bound is Winograd's own.
  const double bound = std::is_same<TestType, float>::value ? 3e-5 : tolerance<TestType>();
  const auto input = expected().at("input").cast<TestType>();
  nst::vgg19_options options;
  options.convolution = nst::conv_algorithm::winograd;
  const auto net = nst::vgg19<TestType>::from_file(fixture_path("nn/narrow_vgg19.safetensors"), options);
  CHECK(net.convolution() == nst::conv_algorithm::winograd);
  const auto features = net.features(input, fixture_layers);
  for (const std::string& layer : fixture_layers) {
    INFO(layer);
    CHECK(scaled_error(features.at(layer), expected().at(expected_key("max", layer))) < bound);
  }
  nst::tape<TestType> tp;
  const auto x = tp.variable(input);
  const auto f = net.features(tp, x, {"relu5_1", "relu2_1"});
  tp.backward(sum_of_squares(tp, f.at("relu2_1")) + sum_of_squares(tp, f.at("relu5_1")));
  CHECK(scaled_error(x.grad(), expected().at("max/input_gradient")) < bound);
}

TEST_CASE("vgg19: reflect and replicate padding of conv1_1, forward and gradient", "[nn][vgg19][gradient]") {
  const auto input = nst_test::random_tensor<double>({1, 3, 18, 20}, 19);
  const std::vector<std::string> layers = {"relu1_2", "relu2_1"};
  const nst::vgg19<double> zero_net(tiny_weights());
  for (const auto mode : {nst::padding_mode::reflect, nst::padding_mode::replicate}) {
    INFO(nst::to_string(mode));
    nst::vgg19_options options;
    options.first_conv_padding = mode;
    const nst::vgg19<double> net(tiny_weights(), options);
    CHECK(net.first_conv_padding() == mode);
    // conv1_1 by hand: pad the image, then a valid (unpadded) convolution.
    const auto w = tiny_weights();
    const auto want = nst::conv2d(nst::pad2d(input, 1, mode), w.tensors.at("conv1_1.weight"),
                                  w.tensors.at("conv1_1.bias"), {1, 0});
    CHECK(nst_test::max_relative_error(net.features(input, {"conv1_1"}).at("conv1_1"), want) < 1e-12);
    // Only the border differs from zero padding.
    const auto zero_padded = zero_net.features(input, {"conv1_1"}).at("conv1_1");
    CHECK(zero_padded.at(0, 0, 5, 5) == Approx(want.at(0, 0, 5, 5)).epsilon(1e-12));
    CHECK(std::abs(zero_padded.at(0, 0, 0, 0) - want.at(0, 0, 0, 0)) > 1e-6);

    const auto check = mean_square_gradient_check(net, input, layers);
    INFO("worst relative error " << check.max_relative_error << " at " << check.worst_index);
    CHECK(check.ok(1e-6));
  }
}

TEST_CASE("vgg19: Winograd weights kept or transformed per call give the same features and gradient",
          "[nn][vgg19][winograd]") {
  const auto input = expected().at("input").cast<float>();
  nst::vgg19_options options;
  CHECK(!options.keep_winograd_weights);  // the default: per call (the memory of a tape's backward pass)
  options.convolution = nst::conv_algorithm::winograd;
  options.keep_winograd_weights = true;
  const auto kept = nst::vgg19<float>::from_file(fixture_path("nn/narrow_vgg19.safetensors"), options);
  options.keep_winograd_weights = false;
  const auto transient = nst::vgg19<float>::from_file(fixture_path("nn/narrow_vgg19.safetensors"), options);
  const auto gradient = [&input](const nst::vgg19<float>& net) {
    nst::tape<float> tp;
    const auto x = tp.variable(input);
    const auto f = net.features(tp, x, {"relu3_1"});
    tp.backward(sum_of_squares(tp, f.at("relu3_1")));
    return x.grad();
  };
  CHECK(nst_test::max_relative_error(transient.features(input, {"relu4_1"}).at("relu4_1"),
                                     kept.features(input, {"relu4_1"}).at("relu4_1")) == 0.0);
  CHECK(nst_test::max_relative_error(gradient(transient), gradient(kept)) == 0.0);
}
