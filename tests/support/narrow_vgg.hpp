// narrow_vgg.hpp — a VGG19 with the real topology but narrow channels and seeded He-initialised
// weights, for tests of the driver that must run in milliseconds.
#pragma once

#include <nst/nn/vgg19.hpp>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"

namespace nst_test {

// One convolution of the narrow network: its name and (input, output) channels.
using narrow_conv = std::pair<std::string, std::pair<int, int>>;

// The network with these convolutions (weights uniform in ±sqrt(6 / (9 * in)), biases in ±0.05),
// drawn from `seed`, `seed + 1`, ... in order.
inline nst::vgg19<double> narrow_vgg(const std::vector<narrow_conv>& convs, unsigned seed) {
  nst::weight_file<double> weights;
  weights.format = "memory";
  for (const auto& [name, io] : convs) {
    const double scale = std::sqrt(2.0 / (9.0 * io.first)) * std::sqrt(3.0);
    weights.tensors[name + ".weight"] = random_tensor<double>({io.second, io.first, 3, 3}, seed++, -scale, scale);
    weights.tensors[name + ".bias"] = random_tensor<double>({io.second}, seed++, -0.05, 0.05);
    weights.names.push_back(name + ".weight");
    weights.names.push_back(name + ".bias");
  }
  return nst::vgg19<double>(std::move(weights));
}

}  // namespace nst_test
