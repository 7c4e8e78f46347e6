// nst/nn/preprocessing.hpp — from an RGB image in [0,1] to what a VGG19 expects, and back.
//
// Each set of VGG19 weights was trained on images prepared in one particular way; that is a
// property of the weights, not a free choice:
//   caffe  BGR channel order, values 0..255, minus the mean pixel B=103.939 G=116.779 R=123.68
//          (the original VGG release, Gatys' vgg_conv.pth, neural-style-pt's conversion)
//   torch  RGB, values 0..1, minus the ImageNet mean (0.485, 0.456, 0.406), divided by the
//          standard deviation (0.229, 0.224, 0.225) (torchvision's weights)
//
// Both are one affine map per channel plus a channel permutation:
//
//   network[c] = scale[c] * image[source[c]] + shift[c]
//
// so the map and everything derived from it are cheap single passes over a [N,3,H,W] tensor:
//
//   auto x = nst::to_network(image, nst::preprocessing::caffe);      // network input
//   auto back = nst::from_network(x, nst::preprocessing::caffe);     // == image (to rounding)
//   auto g_image = nst::image_gradient_from_network(g_x, nst::preprocessing::caffe);
//
// Gradients transform with the same diagonal-plus-permutation: for a loss L,
//   dL/dimage[source[c]] = scale[c] * dL/dnetwork[c],
// which lets an optimiser work in either space. `to_network(var, p)` records the map on a tape.
#pragma once

#include <array>
#include <string>

#include "../autodiff/tape.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"

namespace nst {

enum class preprocessing { caffe, torch };

// "caffe" or "torch", the names parse_preprocessing() and --preprocess accept.
inline const char* to_string(preprocessing p) { return p == preprocessing::caffe ? "caffe" : "torch"; }

// One line for humans and for safetensors metadata ("input").
inline const char* preprocessing_description(preprocessing p) {
  return p == preprocessing::caffe
             ? "BGR, 0..255, minus mean B=103.939 G=116.779 R=123.68 (Caffe VGG preprocessing)"
             : "RGB, 0..1, minus mean (0.485, 0.456, 0.406), divided by std (0.229, 0.224, 0.225) (torchvision)";
}

// "caffe" or "torch"; value_error otherwise.
inline preprocessing parse_preprocessing(const std::string& name) {
  if (name == "caffe") return preprocessing::caffe;
  if (name == "torch") return preprocessing::torch;
  NST_THROW(value_error, 271, "parse_preprocessing: unknown preprocessing '", name,
            "' (expected caffe or torch)");
}

// network[c] = scale[c] * image[source[c]] + shift[c], image in RGB order with values in [0,1].
struct channel_map {
  std::array<int, 3> source;
  std::array<double, 3> scale;
  std::array<double, 3> shift;
};

// How each network input channel is made from the RGB image under `p` (source channel, scale, shift).
inline channel_map network_channel_map(preprocessing p) {
  if (p == preprocessing::caffe) {
    // BGR, 255 * value - mean pixel (means listed in B, G, R order like the channels).
    return {{2, 1, 0}, {255.0, 255.0, 255.0}, {-103.939, -116.779, -123.68}};
  }
  // (value - mean) / std = value / std - mean / std, RGB order.
  const std::array<double, 3> mean = {0.485, 0.456, 0.406}, std_dev = {0.229, 0.224, 0.225};
  return {{0, 1, 2},
          {1 / std_dev[0], 1 / std_dev[1], 1 / std_dev[2]},
          {-mean[0] / std_dev[0], -mean[1] / std_dev[1], -mean[2] / std_dev[2]}};
}

namespace detail {

// out[n][c] = scale[c] * in[n][source[c]] + shift[c] for a [N,3,H,W] tensor.
template <class T>
tensor<T> map_channels(const tensor<T>& in, const std::array<int, 3>& source, const std::array<double, 3>& scale,
                       const std::array<double, 3>& shift, const char* caller) {
  NST_CHECK(in.rank() == 4 && in.dim(1) == 3, shape_error, 151, caller,
            ": expected an image batch [N,3,H,W], got shape ", in.shape());
  tensor<T> out(in.shape());
  const index_t plane = in.dim(2) * in.dim(3);
  parallel_for(0, in.dim(0) * 3, [&](index_t first, index_t last) {
    for (index_t nc = first; nc < last; ++nc) {
      const index_t n = nc / 3, c = nc % 3;
      const auto ci = static_cast<std::size_t>(c);
      const T a = static_cast<T>(scale[ci]), b = static_cast<T>(shift[ci]);
      const T* src = in.data() + (n * 3 + source[ci]) * plane;
      T* dst = out.data() + nc * plane;
      for (index_t i = 0; i < plane; ++i) dst[i] = a * src[i] + b;
    }
  });
  return out;
}

// The channel c whose source is image channel d, for each d (the inverse permutation).
inline std::array<int, 3> inverse_permutation(const std::array<int, 3>& source) {
  std::array<int, 3> inverse{};
  for (int c = 0; c < 3; ++c) inverse[static_cast<std::size_t>(source[static_cast<std::size_t>(c)])] = c;
  return inverse;
}

}  // namespace detail

// RGB image in [0,1], [N,3,H,W] -> network input.
template <class T>
tensor<T> to_network(const tensor<T>& image, preprocessing p) {
  const channel_map m = network_channel_map(p);
  return detail::map_channels(image, m.source, m.scale, m.shift, "to_network");
}

// Network input -> RGB image (the exact inverse of to_network):
// image[d] = (network[c] - shift[c]) / scale[c] with c the channel whose source is d.
template <class T>
tensor<T> from_network(const tensor<T>& network_input, preprocessing p) {
  const channel_map m = network_channel_map(p);
  const std::array<int, 3> inverse = detail::inverse_permutation(m.source);
  std::array<double, 3> scale{}, shift{};
  for (std::size_t d = 0; d < 3; ++d) {
    const auto c = static_cast<std::size_t>(inverse[d]);
    scale[d] = 1 / m.scale[c];
    shift[d] = -m.shift[c] / m.scale[c];
  }
  return detail::map_channels(network_input, inverse, scale, shift, "from_network");
}

// dL/dimage from dL/dnetwork: dL/dimage[source[c]] = scale[c] * dL/dnetwork[c].
template <class T>
tensor<T> image_gradient_from_network(const tensor<T>& network_gradient, preprocessing p) {
  const channel_map m = network_channel_map(p);
  const std::array<int, 3> inverse = detail::inverse_permutation(m.source);
  std::array<double, 3> scale{};
  for (std::size_t d = 0; d < 3; ++d) scale[d] = m.scale[static_cast<std::size_t>(inverse[d])];
  return detail::map_channels(network_gradient, inverse, scale, {0, 0, 0}, "image_gradient_from_network");
}

// dL/dnetwork from dL/dimage: dL/dnetwork[c] = dL/dimage[source[c]] / scale[c].
template <class T>
tensor<T> network_gradient_from_image(const tensor<T>& image_gradient, preprocessing p) {
  const channel_map m = network_channel_map(p);
  const std::array<double, 3> scale = {1 / m.scale[0], 1 / m.scale[1], 1 / m.scale[2]};
  return detail::map_channels(image_gradient, m.source, scale, {0, 0, 0}, "network_gradient_from_image");
}

// to_network recorded on the image's tape, so a loss on the network side reaches the image.
// Derivative: dL/dimage = image_gradient_from_network(dL/dnetwork).
template <class T>
var<T> to_network(const var<T>& image, preprocessing p) {
  return image.owner().record(to_network(image.value(), p), {image},
                              [image, p](const tensor<T>& g, tape<T>& t) {
                                t.accumulate(image, image_gradient_from_network(g, p));
                              });
}

}  // namespace nst
