// nst/loss/wasserstein.hpp — the Wasserstein-2 (Gaussian) style loss: the optimal-transport
// distance between the feature distributions of image and style, each modelled as a Gaussian
// N(μ, Σ) over the pixels' C-dimensional feature vectors (per layer, as mean_covariance.hpp).
//
//   W2²(N(μ,Σ), N(μ_t,Σ_t)) = |μ - μ_t|² + tr(Σ + Σ_t - 2 (S Σ S)^½),   S = Σ_t^½
//   L_style = w_s * Σ_layers λ_l W2² / C
//
// Both covariances are regularised as Σ + εI with ε = 1e-4 · tr(Σ_t)/C (+1e-12), so that dead
// channels (all-zero after ReLU) keep S Σ S invertible for the backward; the loss is the exact
// W2² of the regularised Gaussians. S is computed once with the target; each evaluation takes
// one symmetric eigendecomposition of M = S Σ S. The statistics and M are computed in double
// whatever T is: M's condition number reaches 1e10 on real VGG features, and float round-off in Σ
// (amplified by S², ~1e7) would swamp its small eigenvalues; those are also floored at ε², a lower
// bound of M's true spectrum (λ_min(S)² λ_min(Σ + εI) >= ε·ε). Same interface as style_loss
// (layers, layer weights, blend, masks):
//
//   nst::wasserstein_style_loss<float> style(1e2f, {"relu1_1", "relu2_1", "relu3_1"});
//   style.set_targets({net.features(starry_night, style.layers())});
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Eigenvalues>

#include "detail/feature_statistics.hpp"
#include "detail/style_term.hpp"
#include "term.hpp"

namespace nst {

// The precomputed target of the Wasserstein-2 style loss at one layer (mean, Σt^½, trace, ε).
template <class T>
struct wasserstein_target {
  tensor<T> mean;         // μ_t [C]
  Eigen::MatrixXd covariance_root;  // S = (Σ_t + εI)^½
  double trace = 0;       // tr(Σ_t + εI)
  double epsilon = 0;     // ε, the regulariser added to both covariances
};

// The statistic behind wasserstein_style_loss: the closed-form W2 distance between the Gaussians
// N(μ,Σ) of the features and of the target (formula and derivative in the overview above).
template <class T>
struct wasserstein_statistic {
  static constexpr const char* name = "wasserstein";
  using target_type = wasserstein_target<T>;

  static std::vector<tensor<T>> measure(const tensor<T>& features) {
    detail::feature_moments<T> m = detail::weighted_moments(features);
    return {std::move(m.mean), std::move(m.covariance)};
  }
  static std::vector<tensor<T>> pool(const std::vector<std::vector<tensor<T>>>& parts, const std::vector<double>& shares) {
    return detail::pool_moments(parts, shares);
  }

  static target_type make_target(std::vector<tensor<T>> blended) {
    const index_t channels = blended[0].size();
    Eigen::MatrixXd covariance = blended[1].matrix(channels, channels).template cast<double>();
    target_type t;
    t.epsilon = 1e-4 * covariance.trace() / static_cast<double>(channels) + 1e-12;
    covariance.diagonal().array() += t.epsilon;
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(covariance);
    t.covariance_root = eigen.eigenvectors() * eigen.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal() *
                        eigen.eigenvectors().transpose();
    t.trace = covariance.trace();
    t.mean = std::move(blended[0]);
    return t;
  }

  // Backward. With M = S Σ S (symmetric positive definite) and d tr(M^½) = ½ tr(M^{-½} dM):
  //   dL/dμ = 2(μ - μ_t)/C,
  //   dL/dΣ = (I - 2 · ½ S M^{-½} S)/C = (I - S M^{-½} S)/C,
  // then to F through weighted_moments_backward (dF_j = p_j dμ + p_j (dΣ + dΣᵀ)(F_j - μ)).
  // M^{±½} come from M's eigendecomposition V diag(λ) Vᵀ: V diag(λ^{±½}) Vᵀ.
  static var<T> distance(const var<T>& features, const tensor<T>& pixel_weights, const target_type& target) {
    const tensor<double> weights = pixel_weights.empty() ? tensor<double>() : pixel_weights.template cast<double>();
    detail::feature_moments<double> m = detail::weighted_moments(features.value().template cast<double>(), weights);
    const index_t channels = m.mean.size();
    NST_CHECK(channels == target.mean.size(), shape_error, 185, "wasserstein_style_loss: features with ", channels,
              " channels against a target with ", target.mean.size());
    Eigen::MatrixXd covariance = m.covariance.matrix(channels, channels);
    covariance.diagonal().array() += target.epsilon;
    const Eigen::MatrixXd& root = target.covariance_root;
    const Eigen::MatrixXd product = root * covariance * root;
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(0.5 * (product + product.transpose()));
    const Eigen::VectorXd lambda = eigen.eigenvalues().cwiseMax(target.epsilon * target.epsilon);
    const Eigen::VectorXd mean_difference = m.mean.vector() - target.mean.vector().template cast<double>();
    const double c = static_cast<double>(channels);

    tensor<T> value(shape{});
    value[0] = static_cast<T>(
        (mean_difference.squaredNorm() + covariance.trace() + target.trace - 2 * lambda.cwiseSqrt().sum()) / c);

    const Eigen::MatrixXd inverse_root =
        eigen.eigenvectors() * lambda.cwiseSqrt().cwiseInverse().asDiagonal() * eigen.eigenvectors().transpose();
    Eigen::MatrixXd d_covariance = -(root * inverse_root * root) / c;
    d_covariance.diagonal().array() += 1.0 / c;
    tensor<double> d_mean({channels}), d_cov({channels, channels});
    d_mean.vector() = 2.0 / c * mean_difference;
    d_cov.matrix(channels, channels) = d_covariance;
    return features.owner().record(std::move(value), {features}, [features, weights, m, d_mean, d_cov](
                                                                     const tensor<T>& g, tape<T>& tp) {
      tensor<double> scaled_mean = d_mean, scaled_cov = d_cov;
      scaled_mean.vector() *= static_cast<double>(g[0]);
      scaled_cov.vector() *= static_cast<double>(g[0]);
      tp.accumulate(features, detail::weighted_moments_backward(features.value().template cast<double>(), weights, m,
                                                                scaled_mean, scaled_cov)
                                  .template cast<T>());
    });
  }
};

// The Wasserstein-2 Gaussian style loss (a loss functor; constructor (weight, layers,
// layer_weights = {}), set_targets / set_guided_targets / target as in detail/style_term.hpp).
template <class T>
class wasserstein_style_loss : public detail::style_term<T, wasserstein_statistic<T>> {
 public:
  using detail::style_term<T, wasserstein_statistic<T>>::style_term;
};

}  // namespace nst
