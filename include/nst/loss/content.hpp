// nst/loss/content.hpp — content loss: keep the photo's structure.
//
//   L_content = w_c * Σ_layers mean((F - P)^2)
//
// F are the activations of the image being optimised at each content layer, P those of the
// content image, computed once by set_targets(). The gradient is d/dF = w_c * 2(F - P)/numel.
//
//   nst::content_loss<float> content(1.0f, {"relu4_2"});
//   content.set_targets(net.features(content_image, content.layers()));
#pragma once

#include "term.hpp"

namespace nst {

// Content loss w_c * Σ_layers mean((F - P)^2): keeps the photo's structure. set_targets() stores
// P (value_error/lookup_error naming the layer when one is missing); a loss functor for loss_sum.
template <class T>
class content_loss {
 public:
  using value_type = T;
  using loss_term_tag = void;

  content_loss(T weight, std::vector<std::string> layers) : weight_(weight), layers_(std::move(layers)) {
    NST_CHECK(!layers_.empty(), value_error, 290, "content loss: no content layers given");
  }

  const char* name() const { return "content"; }
  std::vector<std::string> layers() const { return layers_; }
  T weight() const { return weight_; }

  // Stores P, the content image's activations at this loss's layers.
  void set_targets(const feature_map<T>& content_features) {
    targets_.clear();
    for (const std::string& layer : layers_) {
      auto it = content_features.find(layer);
      NST_CHECK(it != content_features.end(), lookup_error, 541, "content loss: the content features lack layer '",
                layer, "'");
      targets_[layer] = it->second;
    }
  }

  var<T> operator()(const loss_inputs<T>& in) const {
    NST_CHECK(!targets_.empty(), value_error, 291, "content loss: set_targets() was not called");
    tape<T>& tp = in.image.owner();
    var<T> total;
    for (const std::string& layer : layers_) {
      const var<T>& features = detail::feature_at(in, layer, "content");
      var<T> term = ad::mse(features, tp.reference(targets_.at(layer)));
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
