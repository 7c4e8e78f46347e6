// bad_values.test.cpp — NaN and infinity never pass silently (issue 8): a weights file holding one
// is refused naming the tensor, before any image is computed; a loss that overflows during the
// optimisation stops it with value_error 298 naming the evaluation, instead of a NaN image.
#include <nst/io/safetensors.hpp>
#include <nst/style/stylize.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "../io/detail/weight_test_support.hpp"

namespace {
using namespace nst_test;

// conv1_1 and conv1_2 of a VGG19 with 4 channels, under torchvision's names, scaled by `scale`.
nst::weight_file<float> first_block(float scale = 1) {
  nst::weight_file<float> w;
  w.format = "memory";
  const std::pair<const char*, nst::shape> tensors[] = {{"features.0.weight", {4, 3, 3, 3}},
                                                        {"features.0.bias", {4}},
                                                        {"features.2.weight", {4, 4, 3, 3}},
                                                        {"features.2.bias", {4}}};
  unsigned seed = 30;
  for (const auto& [name, dims] : tensors) {
    w.tensors[name] = random_tensor<float>(dims, seed++, -0.3f * scale, 0.3f * scale);
    w.names.push_back(name);
  }
  return w;
}

}  // namespace

TEST_CASE("bad values: NaN or infinity in the weights is refused naming the tensor", "[fuzz][nn][limits]") {
  auto nan_weight = first_block();
  nan_weight.tensors.at("features.2.weight")[7] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(nst::vgg19<float>(std::move(nan_weight)),
                    Catch::Contains("value_error.210") && Catch::Contains("conv1_2.weight ('features.2.weight' in the file)") &&
                        Catch::Contains("nan at element 7 of [4,4,3,3]"));
  auto infinite_bias = first_block();
  infinite_bias.tensors.at("features.0.bias")[3] = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(nst::vgg19<float>(std::move(infinite_bias)),
                    Catch::Contains("value_error.210") && Catch::Contains("conv1_1.bias") && Catch::Contains("-inf at element 3"));
  CHECK_NOTHROW(nst::vgg19<float>(first_block()));

  // The same through a file, as the nst command loads it.
  scratch_dir dir;
  auto file = first_block();
  file.tensors.at("features.0.weight")[0] = std::numeric_limits<float>::quiet_NaN();
  nst::save_safetensors(dir.file("nan.safetensors"), file.tensors, file.names, {});
  CHECK_THROWS_WITH(nst::vgg19<float>::from_file(dir.file("nan.safetensors")),
                    Catch::Contains("value_error.210") && Catch::Contains("conv1_1.weight"));
}

TEST_CASE("bad values: a loss that overflows stops stylize naming the evaluation", "[fuzz][style][limits]") {
  // Finite weights, but large enough that the activations of a moved image overflow float: the
  // starting image's loss is finite, then Adam's large steps make it infinite.
  const nst::vgg19<float> net(first_block(1e4f));
  const auto content = random_tensor<float>({1, 3, 16, 16}, 1, 0.0f, 1.0f);
  const auto style = random_tensor<float>({1, 3, 16, 16}, 2, 0.0f, 1.0f);
  nst::stylize_options o;
  o.image_size = 0;
  o.content_layers = {"relu1_2"};
  o.style_layers = {"relu1_1", "relu1_2"};
  o.optimizer = nst::optimizer_kind::adam;
  o.learning_rate = 1e6;
  o.iterations = 50;
  int last_iteration = 0;
  try {
    nst::stylize(net, content, {style}, o, [&](const nst::stylize_progress<float>& p) {
      CHECK(std::isfinite(p.loss));
      last_iteration = p.iteration;
    });
    FAIL("stylize finished although its loss overflowed");
  } catch (const nst::value_error& e) {
    const std::string message = e.what();
    INFO(message);
    CHECK(message.find("value_error.298") != std::string::npos);
    // Adam evaluates once per iteration after the starting image: evaluation k + 1 is iteration k.
    CHECK(message.find("at evaluation " + std::to_string(last_iteration + 2) + ", in iteration " +
                       std::to_string(last_iteration + 1) + " ") != std::string::npos);
  }
}
