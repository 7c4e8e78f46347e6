// nst/loss/mean_covariance.hpp — style loss by matching each channel's mean and the channels'
// covariance (the first two moments of the features) instead of the Gram matrix.
//
//   μ = Σ_j p_j F_j,   Σ = Σ_j p_j (F_j - μ)(F_j - μ)ᵀ       (per layer; p_j = 1/(H*W) unmasked)
//   L_style = w_s * Σ_layers λ_l ( |μ - μ_t|² / C + ‖Σ - Σ_t‖²_F / C² )
//
// i.e. mean((μ - μ_t)^2) + mean((Σ - Σ_t)^2). The Gram matrix mixes both moments
// (C·G = Σ + μμᵀ); keeping them apart weights the colour/brightness of each channel and its
// texture separately. Same interface as style_loss (layers, layer weights, blend, masks):
//
//   nst::mean_covariance_loss<float> style(1e2f, {"relu1_1", "relu2_1", "relu3_1"});
//   style.set_targets({net.features(starry_night, style.layers())});
#pragma once

#include <vector>

#include "detail/feature_statistics.hpp"
#include "detail/style_term.hpp"
#include "term.hpp"

namespace nst {

// The statistic behind mean_covariance_loss: per-channel means and the channel covariance of
// the features, compared as |μ-μt|²/C + ‖Σ-Σt‖²/C²; shape_error 191 when the channels differ.
template <class T>
struct mean_covariance_statistic {
  static constexpr const char* name = "mean_covariance";
  using target_type = detail::feature_moments<T>;  // μ_t [C], Σ_t [C,C]
  static std::vector<tensor<T>> measure(const tensor<T>& features) {
    detail::feature_moments<T> m = detail::weighted_moments(features);
    return {std::move(m.mean), std::move(m.covariance)};
  }
  static std::vector<tensor<T>> pool(const std::vector<std::vector<tensor<T>>>& parts, const std::vector<double>& shares) {
    return detail::pool_moments(parts, shares);
  }
  static target_type make_target(std::vector<tensor<T>> blended) {
    return {std::move(blended[0]), std::move(blended[1])};
  }
  // Backward: dL/dμ = 2(μ - μ_t)/C and dL/dΣ = 2(Σ - Σ_t)/C², then to F through
  // weighted_moments_backward (dF_j = p_j dμ + p_j (dΣ + dΣᵀ)(F_j - μ)).
  static var<T> distance(const var<T>& features, const tensor<T>& pixel_weights, const target_type& target) {
    const tensor<T>& f = features.value();
    detail::feature_moments<T> m = detail::weighted_moments(f, pixel_weights);
    NST_CHECK(m.mean.shape() == target.mean.shape(), shape_error, 191, "mean_covariance_loss: features with ",
              m.mean.size(), " channels against a target with ", target.mean.size());
    const T channels = static_cast<T>(m.mean.size());
    tensor<T> mean_difference(m.mean.shape()), covariance_difference(m.covariance.shape());
    mean_difference.vector() = m.mean.vector() - target.mean.vector();
    covariance_difference.vector() = m.covariance.vector() - target.covariance.vector();
    tensor<T> value(shape{});
    value[0] = mean_difference.vector().squaredNorm() / channels +
               covariance_difference.vector().squaredNorm() / (channels * channels);
    return features.owner().record(
        std::move(value), {features},
        [features, pixel_weights, m, mean_difference, covariance_difference, channels](const tensor<T>& g, tape<T>& tp) {
          tensor<T> d_mean(mean_difference.shape()), d_covariance(covariance_difference.shape());
          d_mean.vector() = (2 * g[0] / channels) * mean_difference.vector();
          d_covariance.vector() = (2 * g[0] / (channels * channels)) * covariance_difference.vector();
          tp.accumulate(features,
                        detail::weighted_moments_backward(features.value(), pixel_weights, m, d_mean, d_covariance));
        });
  }
};

// The mean + covariance style loss (a loss functor; constructor (weight, layers, layer_weights = {}),
// set_targets / set_guided_targets / target as in detail/style_term.hpp).
template <class T>
class mean_covariance_loss : public detail::style_term<T, mean_covariance_statistic<T>> {
 public:
  using detail::style_term<T, mean_covariance_statistic<T>>::style_term;
};

}  // namespace nst
