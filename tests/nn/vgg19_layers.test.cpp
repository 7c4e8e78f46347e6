#include <nst/nn/vgg19_layers.hpp>

#include "../support/support.hpp"

#include <string>
#include <vector>

TEST_CASE("vgg19_layers: 37 layers named as in neural-style, in torchvision's order", "[nn][vgg19_layers]") {
  const auto& layers = nst::vgg19_layers();
  REQUIRE(layers.size() == 37);
  const std::vector<std::string> first = {"conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1"};
  for (std::size_t i = 0; i < first.size(); ++i) CHECK(layers[i].name == first[i]);
  CHECK(layers.back().name == "pool5");
  CHECK(layers[35].name == "relu5_4");

  // Positions of the convolutions and poolings in torchvision's vgg19().features.
  const std::vector<std::size_t> torchvision_convs = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34};
  const std::vector<std::size_t> torchvision_pools = {4, 9, 18, 27, 36};
  std::vector<std::size_t> convs, pools;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].kind == nst::vgg19_layer_kind::conv) convs.push_back(i);
    if (layers[i].kind == nst::vgg19_layer_kind::pool) pools.push_back(i);
    if (layers[i].kind == nst::vgg19_layer_kind::relu) CHECK(layers[i - 1].kind == nst::vgg19_layer_kind::conv);
  }
  CHECK(convs == torchvision_convs);
  CHECK(pools == torchvision_pools);
  CHECK(layers[19].name == "conv4_1");
  CHECK(layers[34].name == "conv5_4");
}

TEST_CASE("vgg19_layers: each layer knows the deepest convolution it needs", "[nn][vgg19_layers]") {
  const auto& layers = nst::vgg19_layers();
  CHECK(layers[nst::vgg19_layer_index("conv1_1")].last_conv == 0);
  CHECK(layers[nst::vgg19_layer_index("relu3_1")].last_conv == 4);
  CHECK(layers[nst::vgg19_layer_index("pool3")].last_conv == 7);    // conv3_4
  CHECK(layers[nst::vgg19_layer_index("relu4_1")].last_conv == 8);  // conv4_1
  CHECK(layers[nst::vgg19_layer_index("pool5")].last_conv == 15);
  CHECK(layers[nst::vgg19_layer_index("relu4_2")].block == 4);
  CHECK(nst::vgg19_conv_names().size() == 16);
  CHECK(nst::vgg19_conv_names()[7] == "conv3_4");
  CHECK(nst::vgg19_conv_layer_index(8) == 19);
  CHECK_THROWS_AS(nst::vgg19_conv_layer_index(16), nst::lookup_error);
}

TEST_CASE("vgg19_layers: an unknown name is a lookup_error listing the valid names", "[nn][vgg19_layers]") {
  CHECK_THROWS_WITH(nst::vgg19_layer_index("relu6_1"), Catch::Contains("lookup_error.510") &&
                                                           Catch::Contains("relu6_1") &&
                                                           Catch::Contains("conv1_1, relu1_1") &&
                                                           Catch::Contains("relu5_4, pool5"));
  CHECK_THROWS_AS(nst::vgg19_layer_index("Relu1_1"), nst::lookup_error);
}
