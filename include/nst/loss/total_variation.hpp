// nst/loss/total_variation.hpp — total-variation loss: a smoothness prior on the image.
//
//   L_tv = w_tv * Σ_c,i,j ((x[c,i,j+1] - x[c,i,j])^2 + (x[c,i+1,j] - x[c,i,j])^2)
//
// on the network input x itself (no layer needed). Gradient: see ops::total_variation_backward.
#pragma once

#include "term.hpp"

namespace nst {

// Total-variation loss w_tv * TV(x) on the image itself (smoothness); needs no layer or target.
template <class T>
class tv_loss {
 public:
  using value_type = T;
  using loss_term_tag = void;

  explicit tv_loss(T weight) : weight_(weight) {}

  const char* name() const { return "tv"; }
  std::vector<std::string> layers() const { return {}; }
  T weight() const { return weight_; }

  var<T> operator()(const loss_inputs<T>& in) const { return weight_ * ad::total_variation(in.image); }

 private:
  T weight_;
};

}  // namespace nst
