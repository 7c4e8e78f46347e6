// nst/nn/vgg19_layers.hpp — the VGG19 feature stack, generated from one table.
//
// VGG19's convolutional part is five blocks of 3x3 convolutions (padding 1), each followed by a
// ReLU, with a 2x2/stride-2 pooling layer closing every block. The only thing that differs
// between blocks is how many convolutions they hold: 2, 2, 4, 4, 4. Everything else here — the
// 37 layer names neural-style uses (conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...,
// relu5_4, pool5) and the position of each layer in torchvision's `vgg19().features` — follows
// from that one table:
//
//   const auto& layers = nst::vgg19_layers();         // 37 entries, in execution order
//   layers[19].name == "conv4_1";                      // torchvision's features.19
//   nst::vgg19_layer_index("relu3_1") == 11;           // lookup_error for unknown names
//   layers[11].last_conv == 4;                         // relu3_1 needs conv1_1 .. conv3_1
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "../core/error.hpp"

namespace nst {

enum class vgg19_layer_kind { conv, relu, pool };

// One row of the VGG19 layer table: name, kind, block, position in torchvision's features.
struct vgg19_layer {
  std::string name;       // "conv3_2", "relu3_2", "pool3"
  vgg19_layer_kind kind;
  int block;              // 1..5
  // The deepest convolution (0..15, in order conv1_1 .. conv5_4) this layer depends on: the
  // convolution itself for conv and relu layers, the block's last convolution for a pool.
  int last_conv;
};

// The one table: convolutions per block.
inline constexpr std::array<int, 5> vgg19_convs_per_block = {2, 2, 4, 4, 4};
inline constexpr int vgg19_conv_count = 16;

// The 37 layers in execution order; a layer's position is its index N in torchvision's
// `vgg19().features[N]` (so `features.N.weight` belongs to layer N, which must be a conv).
inline const std::vector<vgg19_layer>& vgg19_layers() {
  static const std::vector<vgg19_layer> layers = [] {
    std::vector<vgg19_layer> out;
    int conv = -1;
    for (int block = 1; block <= static_cast<int>(vgg19_convs_per_block.size()); ++block) {
      for (int i = 1; i <= vgg19_convs_per_block[static_cast<std::size_t>(block - 1)]; ++i) {
        ++conv;
        const std::string suffix = std::to_string(block) + "_" + std::to_string(i);
        out.push_back({"conv" + suffix, vgg19_layer_kind::conv, block, conv});
        out.push_back({"relu" + suffix, vgg19_layer_kind::relu, block, conv});
      }
      out.push_back({"pool" + std::to_string(block), vgg19_layer_kind::pool, block, conv});
    }
    return out;
  }();
  return layers;
}

// Names of the 16 convolutions, conv1_1 .. conv5_4 (index = the `last_conv` numbering).
inline const std::vector<std::string>& vgg19_conv_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const vgg19_layer& layer : vgg19_layers())
      if (layer.kind == vgg19_layer_kind::conv) out.push_back(layer.name);
    return out;
  }();
  return names;
}

// Position in vgg19_layers() of the conv with index `conv` (0..15).
inline std::size_t vgg19_conv_layer_index(int conv) {
  const auto& layers = vgg19_layers();
  for (std::size_t i = 0; i < layers.size(); ++i)
    if (layers[i].kind == vgg19_layer_kind::conv && layers[i].last_conv == conv) return i;
  NST_THROW(lookup_error, 513, "vgg19_conv_layer_index: there is no convolution number ", conv,
            " (VGG19 has ", vgg19_conv_count, ", numbered 0..", vgg19_conv_count - 1, ")");
}

// "conv1_1, relu1_1, ..., pool5", for error messages.
inline std::string vgg19_layer_name_list() {
  std::string out;
  for (const vgg19_layer& layer : vgg19_layers()) out += (out.empty() ? "" : ", ") + layer.name;
  return out;
}

// Position of `name` in vgg19_layers(); lookup_error listing the valid names when unknown.
inline std::size_t vgg19_layer_index(const std::string& name) {
  const auto& layers = vgg19_layers();
  for (std::size_t i = 0; i < layers.size(); ++i)
    if (layers[i].name == name) return i;
  NST_THROW(lookup_error, 510, "vgg19: unknown layer '", name, "'; valid names are ",
            vgg19_layer_name_list());
}

}  // namespace nst
