// nst/loss/style.hpp — style loss: match the painting's texture through Gram matrices.
//
//   G = F Fᵀ / (C*H*W)                       (per layer; F is C x (H*W))
//   L_style = w_s * Σ_layers λ_l mean((G - A)^2)
//
// A, the style target, is the Gram matrix of the style image at each layer, or with several
// style images the blend Σ_k b_k A_k with the blend weights b normalised to sum to 1. λ_l are
// the per-layer weights (1 unless given). Targets are computed once by set_targets(); the
// gradient flows through ad::mse and ad::gram (dF = (dG + dGᵀ) F / (C*H*W)). With masks
// (set_guided_targets, see detail/style_term.hpp) each style image k has its own target A_k and
// region, and the image's Gram matrix there is the guided one, G_k = Σ_j p_j F_j F_jᵀ / C with
// pixel weights p = mask_k / Σ mask_k.
//
//   nst::style_loss<float> style(1e2f, {"relu1_1", "relu2_1", "relu3_1"}, {1.0f, 0.5f, 0.25f});
//   style.set_targets({net.features(starry_night, style.layers())});
//
// The variants mean_covariance_loss (mean_covariance.hpp) and wasserstein_style_loss
// (wasserstein.hpp) have the same interface and compare other statistics.
#pragma once

#include <vector>

#include "../ops/gram.hpp"
#include "detail/style_term.hpp"
#include "term.hpp"

namespace nst {
namespace detail {

// The guided Gram matrix G = Σ_j p_j F_j F_jᵀ / C of features [1,C,H,W] with pixel weights p [H*W].
// Backward: dF_j = p_j (dG + dGᵀ) F_j / C.
template <class T>
var<T> weighted_gram(const var<T>& features, const tensor<T>& pixel_weights) {
  const tensor<T>& f = features.value();
  check_single_features(f.shape(), "weighted_gram");
  const index_t channels = f.dim(1), pixels = f.dim(2) * f.dim(3);
  NST_CHECK(pixel_weights.size() == pixels, shape_error, 188, "weighted_gram: ", pixel_weights.size(),
            " pixel weights for ", pixels, " pixels");
  const auto fm = f.matrix(channels, pixels);
  const T inverse_channels = T(1) / static_cast<T>(channels);
  tensor<T> g({1, channels, channels});
  g.matrix(channels, channels).noalias() =
      inverse_channels * ((fm * pixel_weights.vector().asDiagonal()) * fm.transpose());
  return features.owner().record(std::move(g), {features}, [features, pixel_weights, inverse_channels](
                                                                const tensor<T>& dg, tape<T>& tp) {
    const tensor<T>& f = features.value();
    const index_t channels = f.dim(1), pixels = f.dim(2) * f.dim(3);
    const auto d = dg.matrix(channels, channels);
    tensor<T> df(f.shape());
    df.matrix(channels, pixels).noalias() = inverse_channels * (d + d.transpose()) *
                                            (f.matrix(channels, pixels) * pixel_weights.vector().asDiagonal());
    tp.accumulate(features, std::move(df));
  });
}

}  // namespace detail

// Gatys et al.'s statistic: the Gram matrix, compared by mean squared difference.
template <class T>
struct gram_statistic {
  static constexpr const char* name = "gram";
  using target_type = tensor<T>;  // A, [1,C,C]
  static std::vector<tensor<T>> measure(const tensor<T>& features) { return {gram(features)}; }
  // The Gram matrix of a whole from its disjoint parts' (part k: share w_k of the pixels): Σ_k w_k G_k.
  static std::vector<tensor<T>> pool(const std::vector<std::vector<tensor<T>>>& parts, const std::vector<double>& shares) {
    tensor<T> whole(parts.at(0).at(0).shape());
    for (std::size_t k = 0; k < parts.size(); ++k) whole.vector() += static_cast<T>(shares[k]) * parts[k][0].vector();
    return {std::move(whole)};
  }
  static target_type make_target(std::vector<tensor<T>> blended) { return std::move(blended[0]); }
  static var<T> distance(const var<T>& features, const tensor<T>& pixel_weights, const target_type& target) {
    tape<T>& tp = features.owner();
    const var<T> g = pixel_weights.empty() ? ad::gram(features) : detail::weighted_gram(features, pixel_weights);
    return ad::mse(g, tp.reference(target));
  }
};

// The Gram-matrix style loss (a loss functor; constructor (weight, layers, layer_weights = {}),
// set_targets / set_guided_targets / target as in detail/style_term.hpp).
template <class T>
class style_loss : public detail::style_term<T, gram_statistic<T>> {
 public:
  using detail::style_term<T, gram_statistic<T>>::style_term;
};

}  // namespace nst
