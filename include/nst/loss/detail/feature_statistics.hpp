// nst/loss/detail/feature_statistics.hpp — per-channel statistics of feature maps, optionally
// weighted by a spatial mask, and their backward; shared by the style-loss variants.
//
// For features F [1,C,H,W] seen as C x P (P = H*W pixel columns F_j) and pixel weights p_j >= 0
// that sum to 1 (uniform 1/P without a mask, mask_j / Σ mask otherwise):
//
//   mean       μ = Σ_j p_j F_j                          [C]
//   covariance Σ = Σ_j p_j (F_j - μ)(F_j - μ)ᵀ           [C,C]
//
//   auto m = nst::detail::weighted_moments(features, weights);   // weights: empty or [P]
//   auto dF = nst::detail::weighted_moments_backward(features, weights, m, d_mean, d_cov);
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Core>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"
#include "../../ops/resize.hpp"

namespace nst {
namespace detail {

template <class T>
struct feature_moments {
  tensor<T> mean;        // μ, [C]
  tensor<T> covariance;  // Σ, [C,C], symmetric
};

inline void check_single_features(const shape& s, const char* function) {
  NST_CHECK(s.rank() == 4 && s[0] == 1 && s.numel() > 0, shape_error, 187, function,
            ": features must be a non-empty [1,C,H,W], got ", s);
}

// The pixel weights p of features [1,C,H,W]: `weights` is empty (uniform 1/P) or [P] summing to 1.
template <class T>
Eigen::Matrix<T, Eigen::Dynamic, 1> pixel_weights(const tensor<T>& weights, index_t pixels, const char* function) {
  if (weights.empty()) return Eigen::Matrix<T, Eigen::Dynamic, 1>::Constant(pixels, T(1) / static_cast<T>(pixels));
  NST_CHECK(weights.size() == pixels, shape_error, 188, function, ": ", weights.size(), " pixel weights for ",
            pixels, " pixels");
  return weights.vector();
}

template <class T>
feature_moments<T> weighted_moments(const tensor<T>& features, const tensor<T>& weights = {}) {
  check_single_features(features.shape(), "weighted_moments");
  const index_t channels = features.dim(1), pixels = features.dim(2) * features.dim(3);
  const auto f = features.matrix(channels, pixels);
  const Eigen::Matrix<T, Eigen::Dynamic, 1> p = pixel_weights(weights, pixels, "weighted_moments");
  feature_moments<T> m{tensor<T>({channels}), tensor<T>({channels, channels})};
  m.mean.vector().noalias() = f * p;
  const typename tensor<T>::row_matrix centred = f.colwise() - m.mean.vector();
  m.covariance.matrix(channels, channels).noalias() = (centred * p.asDiagonal()) * centred.transpose();
  return m;
}

// dL/dF_j = p_j dμ + p_j (dΣ + dΣᵀ)(F_j - μ). (Σ also depends on F through μ, but that term is
// (dΣ + dΣᵀ) Σ_j p_j (F_j - μ) · (-p) = 0, because the weighted centred columns sum to zero.)
template <class T>
tensor<T> weighted_moments_backward(const tensor<T>& features, const tensor<T>& weights,
                                    const feature_moments<T>& moments, const tensor<T>& d_mean,
                                    const tensor<T>& d_covariance) {
  check_single_features(features.shape(), "weighted_moments_backward");
  const index_t channels = features.dim(1), pixels = features.dim(2) * features.dim(3);
  const auto f = features.matrix(channels, pixels);
  const Eigen::Matrix<T, Eigen::Dynamic, 1> p = pixel_weights(weights, pixels, "weighted_moments_backward");
  const auto dc = d_covariance.matrix(channels, channels);
  const typename tensor<T>::row_matrix symmetric = dc + dc.transpose();
  const typename tensor<T>::row_matrix centred = f.colwise() - moments.mean.vector();
  tensor<T> grad(features.shape());
  auto g = grad.matrix(channels, pixels);
  g.noalias() = symmetric * centred;
  g.colwise() += d_mean.vector();
  g.array().rowwise() *= p.transpose().array();
  return grad;
}

// A spatial mask [1,1,h,w] (any size) resampled to the features' H x W and normalised into pixel
// weights [H*W] that sum to 1; empty when the mask is empty there (nothing of it at this size).
template <class T>
tensor<T> mask_weights(const tensor<T>& mask, index_t height, index_t width) {
  tensor<T> resized = resize(mask, height, width);
  for (T& v : resized) v = std::max(T(0), v);  // the filter keeps [0,1]; guard round-off below 0
  const T total = resized.vector().sum();
  if (!(total > T(0))) return {};
  resized.vector() /= total;
  return resized.reshape({height * width});
}

// The moments {μ, Σ} of a feature map from those of disjoint parts of it, part k holding the
// share w_k of the pixels (Σ_k w_k = 1), by the law of total covariance:
//   μ = Σ_k w_k μ_k,   Σ = Σ_k w_k (Σ_k + (μ_k - μ)(μ_k - μ)ᵀ).
template <class T>
std::vector<tensor<T>> pool_moments(const std::vector<std::vector<tensor<T>>>& parts, const std::vector<double>& shares) {
  const index_t channels = parts.at(0).at(0).size();
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(channels);
  for (std::size_t k = 0; k < parts.size(); ++k) mean += shares[k] * parts[k][0].vector().template cast<double>();
  Eigen::MatrixXd covariance = Eigen::MatrixXd::Zero(channels, channels);
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const Eigen::VectorXd offset = parts[k][0].vector().template cast<double>() - mean;
    covariance += shares[k] * (parts[k][1].matrix(channels, channels).template cast<double>() + offset * offset.transpose());
  }
  std::vector<tensor<T>> whole{tensor<T>({channels}), tensor<T>({channels, channels})};
  whole[0].vector() = mean.cast<T>();
  whole[1].matrix(channels, channels) = covariance.cast<T>();
  return whole;
}

}  // namespace detail
}  // namespace nst
