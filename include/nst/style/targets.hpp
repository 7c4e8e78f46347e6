// nst/style/targets.hpp — the style images' statistics, measured once, in tiles when they are
// large, and kept for the next run.
//
//   nst::style_loss<float> style(1e2f, {"relu1_1", "relu2_1", "relu3_1"});
//   nst::layer_statistics<float> s = nst::measure_style(net, style, network_image, 512);
//   style.set_target_statistics({s});
//
// measure_style runs an image larger than `tile_size` through the network in tiles: the image
// is cut into cores (multiples of 16 pixels, the network's deepest stride, so every core starts
// on the pooling grid of the whole image), each core is run with a margin of context around it,
// its features are cropped back to the core at every layer and measured, and the cores'
// statistics are pooled (the statistic's pool(), weighted by each core's share of the pixels).
// Memory is then bounded by the tile, and the result is the whole image's statistics exactly
// for layers whose receptive field fits in the margin (tile_size / 8: up to relu3_1 with tiles
// of 128 px, relu4_1 with 256 px), closely for deeper ones (the crop's zero padding reaches
// them); tests/style/targets.test.cpp measures both.
//
// style_target_cache remembers statistics by what they depend on (the network, the statistic,
// the layers, the tiling and the exact input image), so a batch of stylize() runs sharing style
// images measures them once.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "../loss.hpp"
#include "../nn.hpp"
#include "state.hpp"
#include "tiles.hpp"

namespace nst {

namespace detail {

// The factor by which layer `name` of VGG19 is smaller than the image: 2 per pooling before it.
inline index_t vgg19_layer_stride(const std::string& name) {
  const vgg19_layer& layer = vgg19_layers()[vgg19_layer_index(name)];
  return index_t(1) << (layer.kind == vgg19_layer_kind::pool ? layer.block : layer.block - 1);
}

// Rows [begin, end) of features at `stride` that come from image rows [begin, end) of a crop
// starting at image row `crop_begin` (both multiples of 16); `to_crop_end` when `end` is the
// crop's end (the features then run to the crop's last row, floor division like the network's).
inline std::pair<index_t, index_t> feature_span(index_t crop_begin, index_t begin, index_t end, index_t feature_extent,
                                                index_t stride, bool to_crop_end) {
  return {(begin - crop_begin) / stride, to_crop_end ? feature_extent : (end - crop_begin) / stride};
}

}  // namespace detail

// The statistics of `network_image` ([1,3,H,W], in the network's input space) at the layers of
// `style_term` (a style loss: style_loss, mean_covariance_loss, wasserstein_style_loss), measured
// in tiles of side at most `tile_size` when the image is larger (0: in one piece); value_error
// 283 for a tile_size in 1..63.
template <class StyleTerm, class T>
layer_statistics<T> measure_style(const vgg19<T>& net, const StyleTerm& style_term, const tensor<T>& network_image,
                                  index_t tile_size = 0) {
  NST_CHECK(tile_size == 0 || tile_size >= 64, value_error, 283, "measure_style: tile_size must be 0 or >= 64, got ",
            tile_size);
  const std::vector<std::string> layers = style_term.layers();
  const index_t height = network_image.dim(2), width = network_image.dim(3);
  if (tile_size == 0 || std::max(height, width) <= tile_size) return style_term.measure(net.features(network_image, layers));

  using statistic = typename StyleTerm::statistic_type;
  const index_t margin = std::max<index_t>(16, tile_size / 8 / 16 * 16);
  const index_t core = (tile_size - 2 * margin) / 16 * 16;
  std::map<std::string, std::vector<std::vector<tensor<T>>>> parts;
  std::map<std::string, std::vector<double>> shares;
  for (index_t top = 0; top < height; top += core)
    for (index_t left = 0; left < width; left += core) {
      const index_t bottom = std::min(height, top + core), right = std::min(width, left + core);
      const tile context{std::max<index_t>(0, top - margin), std::min(height, bottom + margin),
                         std::max<index_t>(0, left - margin), std::min(width, right + margin)};
      const feature_map<T> features = net.features(crop(network_image, context), layers);
      for (const std::string& layer : layers) {
        const tensor<T>& f = features.at(layer);
        const index_t stride = detail::vgg19_layer_stride(layer);
        const auto rows = detail::feature_span(context.top, top, bottom, f.dim(2), stride, bottom == height);
        const auto columns = detail::feature_span(context.left, left, right, f.dim(3), stride, right == width);
        if (rows.second <= rows.first || columns.second <= columns.first) continue;  // nothing of it at this layer
        const tile in_features{rows.first, rows.second, columns.first, columns.second};
        parts[layer].push_back(statistic::measure(crop(f, in_features)));
        const index_t whole = (height / stride) * (width / stride);
        shares[layer].push_back(static_cast<double>(in_features.height() * in_features.width()) / static_cast<double>(whole));
      }
    }
  layer_statistics<T> statistics;
  for (const std::string& layer : layers) statistics[layer] = statistic::pool(parts.at(layer), shares.at(layer));
  return statistics;
}

// Style statistics by what they were measured from; serves one network (its address is part of
// the key). Not thread-safe.
template <class T>
class style_target_cache {
 public:
  // The statistics of each image of `network_styles` under `style_term` (a configured style
  // loss) with measure_style(net, style_term, image, tile_size): remembered ones when the same
  // network, statistic, layers, tiling and image bits were measured before.
  template <class StyleTerm>
  const std::vector<layer_statistics<T>>& measure(const vgg19<T>& net, const StyleTerm& style_term,
                                                  const std::vector<tensor<T>>& network_styles, index_t tile_size) {
    std::string key = StyleTerm::statistic_type::name;
    key += "|" + std::to_string(reinterpret_cast<std::uintptr_t>(&net)) + "|" + std::to_string(tile_size);
    for (const std::string& layer : style_term.layers()) key += "|" + layer;
    for (const tensor<T>& image : network_styles) key += "|" + detail::hex_text(detail::fingerprint(image));
    auto found = entries_.find(key);
    if (found != entries_.end()) return found->second;
    std::vector<layer_statistics<T>> statistics;
    for (const tensor<T>& image : network_styles) statistics.push_back(measure_style(net, style_term, image, tile_size));
    return entries_.emplace(key, std::move(statistics)).first->second;
  }

  // How many sets of statistics it holds (each set: one run's style images).
  std::size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, std::vector<layer_statistics<T>>> entries_;
};

}  // namespace nst
