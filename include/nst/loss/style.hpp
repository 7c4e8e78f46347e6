// nst/loss/style.hpp — style loss: match the painting's texture through Gram matrices.
//
//   G = F Fᵀ / (C*H*W)                       (per layer; F is C x (H*W))
//   L_style = w_s * Σ_layers mean((G - A)^2)
//
// A, the style target, is the Gram matrix of the style image at each layer, or with several
// style images the blend Σ_k b_k A_k with the blend weights b normalised to sum to 1. Targets are
// computed once by set_targets(); the gradient flows through ad::mse and ad::gram
// (dF = (dG + dGᵀ) F / (C*H*W)).
//
//   nst::style_loss<float> style(1e2f, {"relu1_1", "relu2_1", "relu3_1"});
//   style.set_targets({net.features(starry_night, style.layers())});
#pragma once

#include <cmath>
#include <numeric>

#include "term.hpp"

namespace nst {

template <class T>
class style_loss {
 public:
  using value_type = T;
  using loss_term_tag = void;

  style_loss(T weight, std::vector<std::string> layers) : weight_(weight), layers_(std::move(layers)) {
    NST_CHECK(!layers_.empty(), value_error, 292, "style loss: no style layers given");
  }

  const char* name() const { return "style"; }
  std::vector<std::string> layers() const { return layers_; }
  T weight() const { return weight_; }

  // A = Σ_k b_k gram(features_k) with b normalised to sum to 1 (equal weights when `blend` is empty).
  void set_targets(const std::vector<feature_map<T>>& style_features, std::vector<T> blend = {}) {
    NST_CHECK(!style_features.empty(), value_error, 293, "style loss: no style images given");
    if (blend.empty()) blend.assign(style_features.size(), T(1));
    NST_CHECK(blend.size() == style_features.size(), value_error, 294, "style loss: ", blend.size(),
              " blend weights for ", style_features.size(), " style images");
    const T blend_total = std::accumulate(blend.begin(), blend.end(), T(0));
    for (T b : blend)
      NST_CHECK(b >= T(0) && std::isfinite(b), value_error, 295, "style loss: blend weight ", b,
                " is not a finite non-negative number");
    NST_CHECK(blend_total > T(0), value_error, 295, "style loss: the blend weights sum to 0");

    targets_.clear();
    for (const std::string& layer : layers_) {
      tensor<T> target;
      for (std::size_t k = 0; k < style_features.size(); ++k) {
        auto it = style_features[k].find(layer);
        NST_CHECK(it != style_features[k].end(), lookup_error, 542, "style loss: the features of style image ",
                  k, " lack layer '", layer, "'");
        tensor<T> g = gram(it->second);
        g.vector() *= blend[k] / blend_total;
        if (target.empty()) {
          target = std::move(g);
        } else {
          NST_CHECK(target.shape() == g.shape(), shape_error, 170, "style loss: style images disagree on the Gram "
                    "shape at ", layer, ": ", target.shape(), " vs ", g.shape());
          target.vector() += g.vector();
        }
      }
      targets_[layer] = std::move(target);
    }
  }

  const tensor<T>& target(const std::string& layer) const { return targets_.at(layer); }

  var<T> operator()(const loss_inputs<T>& in) const {
    NST_CHECK(!targets_.empty(), value_error, 296, "style loss: set_targets() was not called");
    tape<T>& tp = in.image.owner();
    var<T> total;
    for (const std::string& layer : layers_) {
      const var<T>& features = detail::feature_at(in, layer, "style");
      var<T> term = ad::mse(ad::gram(features), tp.reference(targets_.at(layer)));
      total = total.valid() ? total + term : term;
    }
    return weight_ * total;
  }

 private:
  T weight_;
  std::vector<std::string> layers_;
  feature_map<T> targets_;
};

}  // namespace nst
