// nst/loss/detail/style_term.hpp — what every style loss shares: layers with per-layer weights,
// targets from one or several style images, and spatial guidance by masks.
//
// A style loss compares a statistic of the image's features with the style image's at each
// style layer l, weighted by the layer weight λ_l (1 by default):
//
//   L_style = w_s * Σ_l λ_l Σ_regions distance(stat_l(x within the region), target_{l,region})
//
// Without masks there is one region, the whole image, and one target: the style images'
// statistics blended linearly by the blend weights (normalised to sum to 1). With masks
// (set_guided_targets) style image k has its own target and region: its mask, resampled to
// each layer's resolution and used as pixel weights, so style k shapes only where mask k is
// non-zero (Gatys et al. 2017, guided Gram matrices).
//
// The statistic is a policy struct (see style.hpp, mean_covariance.hpp, wasserstein.hpp):
//
//   template <class T> struct my_statistic {
//     static constexpr const char* name = "my";                     // names it (style/targets.hpp)
//     using target_type = ...;                                      // what distance() compares with
//     static std::vector<tensor<T>> measure(const tensor<T>& f);    // linear statistics, blendable
//     static std::vector<tensor<T>> pool(parts, shares);           // disjoint parts' -> the whole's
//     static target_type make_target(std::vector<tensor<T>> blended);
//     static var<T> distance(const var<T>& f, const tensor<T>& pixel_weights, const target_type&);
//   };
//
// pixel_weights is empty (every pixel alike) or [H*W], non-negative and summing to 1.
//
// Targets come from style images' features (set_targets) or from statistics measured earlier
// (set_target_statistics, with measure()): a batch of runs or the tiles of a large image then
// share one set of style statistics, which may itself be pooled from tiles of a large style
// image (Statistic::pool, see style/targets.hpp).
#pragma once

#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "../term.hpp"
#include "feature_statistics.hpp"

namespace nst {

// One image's style statistics: per layer, what the statistic's measure() gives.
template <class T>
using layer_statistics = std::map<std::string, std::vector<tensor<T>>>;

namespace detail {

template <class T, class Statistic>
class style_term {
 public:
  using value_type = T;
  using loss_term_tag = void;
  using target_type = typename Statistic::target_type;
  using statistic_type = Statistic;

  // `layer_weights`: one λ_l per layer, finite and >= 0 (empty = all 1); value_error 235, 236.
  style_term(T weight, std::vector<std::string> layers, std::vector<T> layer_weights = {})
      : weight_(weight), layers_(std::move(layers)), layer_weights_(std::move(layer_weights)) {
    NST_CHECK(!layers_.empty(), value_error, 292, "style loss: no style layers given");
    if (layer_weights_.empty()) layer_weights_.assign(layers_.size(), T(1));
    NST_CHECK(layer_weights_.size() == layers_.size(), value_error, 235, "style loss: ", layer_weights_.size(),
              " layer weights for ", layers_.size(), " style layers");
    for (T w : layer_weights_)
      NST_CHECK(w >= T(0) && std::isfinite(w), value_error, 236, "style loss: layer weight ", w,
                " is not a finite non-negative number");
  }

  const char* name() const { return "style"; }
  std::vector<std::string> layers() const { return layers_; }
  T weight() const { return weight_; }
  const std::vector<T>& layer_weights() const { return layer_weights_; }

  // The statistics of one style image at this loss's layers, from its features (which must hold
  // every layer; lookup_error 542 names the image by `image`, its index among the style images).
  layer_statistics<T> measure(const feature_map<T>& style_features, std::size_t image = 0) const {
    layer_statistics<T> statistics;
    for (const std::string& layer : layers_)
      statistics[layer] = Statistic::measure(at_layer(style_features, layer, image));
    return statistics;
  }

  // One target per layer: the statistics of the style images blended by `blend` (normalised to
  // sum to 1; equal weights when empty), for the whole image.
  void set_targets(const std::vector<feature_map<T>>& style_features, std::vector<T> blend = {}) {
    set_target_statistics(measure_each(style_features), std::move(blend));
  }

  // As set_targets, from each style image's statistics (measure()); value_error 293-295,
  // lookup_error 542, shape_error 170 when the style images' statistics disagree in shape.
  void set_target_statistics(const std::vector<layer_statistics<T>>& styles, std::vector<T> blend = {}) {
    NST_CHECK(!styles.empty(), value_error, 293, "style loss: no style images given");
    if (blend.empty()) blend.assign(styles.size(), T(1));
    NST_CHECK(blend.size() == styles.size(), value_error, 294, "style loss: ", blend.size(),
              " blend weights for ", styles.size(), " style images");
    for (T b : blend)
      NST_CHECK(b >= T(0) && std::isfinite(b), value_error, 295, "style loss: blend weight ", b,
                " is not a finite non-negative number");
    const T blend_total = std::accumulate(blend.begin(), blend.end(), T(0));
    NST_CHECK(blend_total > T(0), value_error, 295, "style loss: the blend weights sum to 0");

    region whole;
    for (const std::string& layer : layers_) {
      std::vector<tensor<T>> blended;
      for (std::size_t k = 0; k < styles.size(); ++k) {
        const std::vector<tensor<T>>& stats = at_layer(styles[k], layer, k);
        if (blended.empty()) {
          blended.resize(stats.size());
          for (std::size_t i = 0; i < stats.size(); ++i) blended[i] = tensor<T>(stats[i].shape());
        }
        for (std::size_t i = 0; i < stats.size(); ++i) {
          NST_CHECK(blended[i].shape() == stats[i].shape(), shape_error, 170, "style loss: style images disagree on "
                    "the statistics' shape at ", layer, ": ", blended[i].shape(), " vs ", stats[i].shape());
          blended[i].vector() += (blend[k] / blend_total) * stats[i].vector();
        }
      }
      whole.targets.emplace(layer, Statistic::make_target(std::move(blended)));
    }
    regions_.assign(1, std::move(whole));
  }

  // Style image k shapes the image where masks[k] (one per style image, [1,1,h,w] of any size,
  // values in [0,1]) is non-zero, weighted by the mask; shape_error 189, value_error 237, 233, 234.
  void set_guided_targets(const std::vector<feature_map<T>>& style_features, const std::vector<tensor<T>>& masks) {
    set_guided_target_statistics(measure_each(style_features), masks);
  }

  // As set_guided_targets, from each style image's statistics (measure()).
  void set_guided_target_statistics(const std::vector<layer_statistics<T>>& styles, const std::vector<tensor<T>>& masks) {
    NST_CHECK(!styles.empty(), value_error, 293, "style loss: no style images given");
    NST_CHECK(masks.size() == styles.size(), value_error, 237, "style loss: ", masks.size(),
              " masks for ", styles.size(), " style images");
    std::vector<region> guided(styles.size());
    for (std::size_t k = 0; k < masks.size(); ++k) {
      const tensor<T>& mask = masks[k];
      NST_CHECK(mask.rank() == 4 && mask.dim(0) == 1 && mask.dim(1) == 1 && mask.size() > 0, shape_error, 189,
                "style loss: mask ", k, " must be [1,1,H,W], got ", mask.shape());
      for (T v : mask)
        NST_CHECK(v >= T(0) && v <= T(1), value_error, 233, "style loss: mask ", k, " holds ", v,
                  ", outside [0,1]");
      NST_CHECK(mask.vector().sum() > T(0), value_error, 234, "style loss: mask ", k,
                " is zero everywhere (style image ", k, " would go nowhere)");
      guided[k].mask = mask;
      for (const std::string& layer : layers_)
        guided[k].targets.emplace(layer, Statistic::make_target(at_layer(styles[k], layer, k)));
    }
    regions_ = std::move(guided);
  }

  std::size_t regions() const { return regions_.size(); }
  // The target at `layer` of region `region` (0 without masks).
  const target_type& target(const std::string& layer, std::size_t region = 0) const {
    return regions_.at(region).targets.at(layer);
  }

  var<T> operator()(const loss_inputs<T>& in) const {
    NST_CHECK(!regions_.empty(), value_error, 296, "style loss: set_targets() was not called");
    var<T> total;
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const var<T>& features = detail::feature_at(in, layers_[l], "style");
      for (const region& r : regions_) {
        tensor<T> weights;
        if (!r.mask.empty()) {
          NST_CHECK(features.value().rank() == 4, shape_error, 190, "style loss: features at ", layers_[l],
                    " must be [1,C,H,W] to be masked, got ", features.shape());
          weights = mask_weights(r.mask, features.value().dim(2), features.value().dim(3));
          if (weights.empty()) continue;  // the region vanishes at this resolution
        }
        var<T> term = Statistic::distance(features, weights, r.targets.at(layers_[l]));
        if (layer_weights_[l] != T(1)) term = layer_weights_[l] * term;
        total = total.valid() ? total + term : term;
      }
    }
    if (!total.valid()) return in.image.owner().constant(tensor<T>(shape{}));
    return weight_ * total;
  }

 private:
  struct region {
    tensor<T> mask;  // empty: the whole image
    std::map<std::string, target_type> targets;
  };

  // measure() of each style image's features.
  std::vector<layer_statistics<T>> measure_each(const std::vector<feature_map<T>>& style_features) const {
    std::vector<layer_statistics<T>> statistics;
    for (std::size_t k = 0; k < style_features.size(); ++k) statistics.push_back(measure(style_features[k], k));
    return statistics;
  }

  // features[layer] or statistics[layer] of style image k; lookup_error 542 when it is absent.
  template <class Map>
  static const typename Map::mapped_type& at_layer(const Map& per_layer, const std::string& layer, std::size_t k) {
    auto it = per_layer.find(layer);
    NST_CHECK(it != per_layer.end(), lookup_error, 542, "style loss: the features of style image ", k,
              " lack layer '", layer, "'");
    return it->second;
  }

  T weight_;
  std::vector<std::string> layers_;
  std::vector<T> layer_weights_;
  std::vector<region> regions_;
};

}  // namespace detail
}  // namespace nst
