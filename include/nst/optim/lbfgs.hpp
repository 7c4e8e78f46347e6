// nst/optim/lbfgs.hpp — the L-BFGS policy, step for step as torch.optim.LBFGS (PyTorch 1.13).
//
// L-BFGS approximates Newton's method: it remembers the last `history` pairs
//   s_i = x_{i+1} - x_i,   y_i = g_{i+1} - g_i
// and turns the gradient g into a search direction d ~= -H^-1 g with the two-loop recursion
// (Nocedal & Wright, Algorithm 7.4), where the initial inverse Hessian is c gamma I with
// gamma = s·y / y·y of the newest pair: c = initial_scale (1, as torch) once the history holds
// initial_scale_pairs pairs (or is full), c = 1 before. A pair is kept only when its curvature
// s·y exceeds 1e-10, so the approximation stays positive definite.
//
// initial_scale > 1 lengthens the part of the direction that the pairs do not describe. On
// style transfer (bench/README.md, "Session 11") c = 2 after 10 pairs reached the loss of
// torch's 500th iteration in 296 iterations at 512 px, where c = 1 took 458-963; applied from
// the first pair on, c > 1 made the early unit steps throw the loss up further.
//
// The step along d is
//   line_search::none          t = learning_rate (the first iteration of a run:
//                              t = min(1, 1 / |g|_1) learning_rate); neural-style's default
//   line_search::strong_wolfe  torch's strong-Wolfe search from that same t
//                              (see detail/strong_wolfe.hpp)
//   line_search::backtracking  that same t, shrunk until the loss decreases enough (see
//                              detail/backtracking.hpp): one evaluation where t is good
// An iteration ends early, as in torch, when the slope g·d > -tolerance_change (x is not
// moved); after a move the run stops when max|g| <= tolerance_grad, max|t d| <= tolerance_change
// or |f_k - f_{k-1}| < tolerance_change. Negative tolerances switch these tests off.
//
// One difference from torch: torch does not evaluate the point reached by the last fixed step
// of a step() call; minimize() always does, so that it can report the final loss. The iterates
// are the same; the evaluation count of such a run is one higher.
//
//   nst::lbfgs policy;
//   policy.search = nst::line_search::strong_wolfe;
//   nst::stop_criteria stop;
//   stop.max_iterations = 1000;
//   auto result = nst::minimize(loss, image, policy, stop);
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "../core/tensor.hpp"
#include "../ops/detail/partition.hpp"
#include "detail/backtracking.hpp"
#include "detail/strong_wolfe.hpp"
#include "policy.hpp"

namespace nst {

// How L-BFGS picks the step length along its direction: a fixed learning_rate (none, as
// neural-style), torch's strong-Wolfe line search, or the fixed step shrunk while it does not
// decrease the loss enough (backtracking).
enum class line_search { none, strong_wolfe, backtracking };

// "none", "strong-wolfe" or "backtracking": the names the nst command's --line-search takes.
inline const char* to_string(line_search s) {
  return s == line_search::none ? "none" : s == line_search::strong_wolfe ? "strong-wolfe" : "backtracking";
}

// Buffers L-BFGS reuses from one iteration to the next; not part of what a checkpoint saves.
template <class T>
struct lbfgs_workspace {
  tensor<T> candidate_step;              // s of the pair being considered for the history
  tensor<T> candidate_gradient_change;   // y of that pair
  std::vector<double> alphas;            // the two-loop recursion's alpha_i, one per pair
  detail::line_search_workspace<T> line_search;
};

// Everything L-BFGS carries from one iteration (and one minimize() call) to the next.
template <class T>
struct lbfgs_state {
  int iterations = 0;                        // direction updates so far, over all calls (torch: n_iter)
  double step_length = 0;                    // t of the last iteration
  double hessian_scale = 1;                  // gamma (torch: H_diag)
  tensor<T> direction;                       // d of the last iteration
  tensor<T> previous_gradient;               // g where the last iteration started
  std::vector<tensor<T>> steps;              // s_i, oldest first, at most `history`
  std::vector<tensor<T>> gradient_changes;   // y_i, paired with steps
  std::vector<double> inverse_curvatures;    // rho_i = 1 / (y_i·s_i)
  lbfgs_workspace<T> workspace;
};

// The L-BFGS policy for minimize(): torch.optim.LBFGS's hyper-parameters and defaults.
// begin() throws value_error 225 (history < 1, learning_rate or initial_scale not finite and
// positive, initial_scale_pairs < 0, a NaN tolerance) and 226 (a state to resume from that does
// not fit x or history).
struct lbfgs {
  int history = 100;                       // pairs (s, y) remembered (torch: history_size)
  double learning_rate = 1;                // the step length t (torch: lr)
  line_search search = line_search::none;  // none, strong_wolfe (torch: line_search_fn) or backtracking
  double initial_scale = 1;                // c of the initial inverse Hessian c gamma I (torch: 1)
  int initial_scale_pairs = 10;            // c applies once the history holds this many pairs (or is full)
  double tolerance_grad = 1e-7;            // stop when max|g| <= this (negative: off)
  double tolerance_change = 1e-9;          // stop on a smaller step, loss change or slope (negative: off)

  template <class T>
  using state_type = lbfgs_state<T>;  // what a run carries between iterations and calls

  // Pairs whose curvature y·s is at most this are not remembered (torch's threshold).
  static constexpr double min_curvature = 1e-10;

  // Checks the hyper-parameters and the state, sizes the buffers (see policy.hpp).
  template <class T>
  step_result begin(lbfgs_state<T>& state, const tensor<T>& x, const evaluation<T>& at_x) const {
    NST_CHECK(history >= 1, value_error, 225, "lbfgs: history must be at least 1, got ", history);
    NST_CHECK(learning_rate > 0 && std::isfinite(learning_rate), value_error, 225,
              "lbfgs: learning_rate must be finite and positive, got ", learning_rate);
    NST_CHECK(initial_scale > 0 && std::isfinite(initial_scale), value_error, 225,
              "lbfgs: initial_scale must be finite and positive, got ", initial_scale);
    NST_CHECK(initial_scale_pairs >= 0, value_error, 225, "lbfgs: initial_scale_pairs must be >= 0, got ",
              initial_scale_pairs);
    NST_CHECK(!std::isnan(tolerance_grad) && !std::isnan(tolerance_change), value_error, 225,
              "lbfgs: tolerance_grad and tolerance_change must not be NaN");
    if (state.iterations == 0) {
      state.direction = tensor<T>(x.shape());
      state.previous_gradient = tensor<T>(x.shape());
    }
    NST_CHECK(state.direction.shape() == x.shape() && state.previous_gradient.shape() == x.shape(), value_error, 226,
              "lbfgs: the state to resume from has direction ", state.direction.shape(), " but x has shape ",
              x.shape());
    NST_CHECK(state.steps.size() <= static_cast<std::size_t>(history), value_error, 226,
              "lbfgs: the state to resume from remembers ", state.steps.size(), " pairs, more than history ", history);

    // Buffers sized once here, so iterations allocate only while the history fills.
    state.steps.reserve(static_cast<std::size_t>(history));
    state.gradient_changes.reserve(static_cast<std::size_t>(history));
    state.inverse_curvatures.reserve(static_cast<std::size_t>(history));
    auto& work = state.workspace;
    work.alphas.resize(static_cast<std::size_t>(history));
    work.candidate_step.resize(x.shape());
    work.candidate_gradient_change.resize(x.shape());
    if (search == line_search::strong_wolfe) work.line_search.reserve(x.shape());
    if (search == line_search::backtracking) work.line_search.trial.resize(x.shape());

    if (gradient_small(at_x.gradient)) return {false, "gradient_tolerance"};
    return {};
  }

  // One iteration: the two-loop direction, then a fixed step or the line search (see policy.hpp).
  template <class T, class Evaluate>
  step_result step(lbfgs_state<T>& state, tensor<T>& x, evaluation<T>& at_x, Evaluate& evaluate) const {
    ++state.iterations;
    if (state.iterations == 1) {
      state.direction.vector() = -at_x.gradient.vector();
      state.steps.clear();
      state.gradient_changes.clear();
      state.inverse_curvatures.clear();
      state.hessian_scale = 1;
    } else {
      remember_last_step(state, at_x.gradient);
      two_loop_direction(state, at_x.gradient);
    }
    state.previous_gradient.vector() = at_x.gradient.vector();
    const double previous_loss = at_x.loss;

    const auto d = state.direction.vector();
    double t = learning_rate;
    if (state.iterations == 1)
      t = std::min(1.0, 1.0 / static_cast<double>(at_x.gradient.vector().cwiseAbs().sum())) * learning_rate;
    state.step_length = t;
    const double slope = static_cast<double>(at_x.gradient.vector().dot(d));
    if (slope > -tolerance_change) return {false, "directional_derivative"};

    if (search == line_search::strong_wolfe)
      t = detail::strong_wolfe(evaluate, x, state.direction, t, at_x, slope, state.workspace.line_search).step;
    if (search == line_search::backtracking)
      t = detail::backtracking(evaluate, x, state.direction, t, at_x, slope, state.workspace.line_search.trial).step;
    x.vector() += static_cast<T>(t) * d;
    if (search == line_search::none) at_x.loss = evaluate(x, at_x.gradient);
    state.step_length = t;

    if (gradient_small(at_x.gradient)) return {true, "gradient_tolerance"};
    if (static_cast<double>(d.cwiseAbs().maxCoeff()) * std::abs(t) <= tolerance_change) return {true, "step_tolerance"};
    if (std::abs(at_x.loss - previous_loss) < tolerance_change) return {true, "loss_change_tolerance"};
    return {};
  }

 private:
  template <class T>
  bool gradient_small(const tensor<T>& gradient) const {
    return static_cast<double>(gradient.vector().cwiseAbs().maxCoeff()) <= tolerance_grad;
  }

  // Adds the pair (s, y) of the last iteration to the history if its curvature is positive,
  // dropping the oldest pair when the history is full.
  template <class T>
  void remember_last_step(lbfgs_state<T>& state, const tensor<T>& gradient) const {
    auto& work = state.workspace;
    auto s = work.candidate_step.vector();
    auto y = work.candidate_gradient_change.vector();
    y = gradient.vector() - state.previous_gradient.vector();
    s = state.direction.vector() * static_cast<T>(state.step_length);
    const double ys = static_cast<double>(y.dot(s));
    if (ys <= min_curvature) return;
    if (state.steps.size() == static_cast<std::size_t>(history)) {
      // Full: the oldest pair's buffers become the next candidate's, nothing is allocated.
      std::rotate(state.steps.begin(), state.steps.begin() + 1, state.steps.end());
      std::rotate(state.gradient_changes.begin(), state.gradient_changes.begin() + 1, state.gradient_changes.end());
      std::swap(state.steps.back(), work.candidate_step);
      std::swap(state.gradient_changes.back(), work.candidate_gradient_change);
      state.inverse_curvatures.erase(state.inverse_curvatures.begin());
    } else {
      state.steps.push_back(std::move(work.candidate_step));
      state.gradient_changes.push_back(std::move(work.candidate_gradient_change));
      work.candidate_step = tensor<T>(gradient.shape());
      work.candidate_gradient_change = tensor<T>(gradient.shape());
    }
    state.inverse_curvatures.push_back(1.0 / ys);
    const auto& newest_y = state.gradient_changes.back();
    state.hessian_scale = ys / static_cast<double>(newest_y.vector().dot(newest_y.vector()));
  }

  // d = -H g by the two-loop recursion over the remembered pairs:
  //   q = -g;  for i newest..oldest: alpha_i = rho_i s_i·q,  q -= alpha_i y_i
  //   d = c gamma q;  for i oldest..newest: beta_i = rho_i y_i·d,  d += (alpha_i - beta_i) s_i
  // (c = initial_scale once there are initial_scale_pairs pairs or the history is full, 1 before)
  // Each update and the dot product the next step needs are one parallel pass over d
  // (update_and_dot): with history 100 at 512 px the pairs are 470 MB, read from memory twice.
  template <class T>
  void two_loop_direction(lbfgs_state<T>& state, const tensor<T>& gradient) const {
    tensor<T>& d = state.direction;
    auto& alphas = state.workspace.alphas;
    const std::size_t pairs = state.steps.size();
    const auto& s = state.steps;
    const auto& y = state.gradient_changes;
    d.vector() = -gradient.vector();
    double dot = pairs > 0 ? update_and_dot<T>(d, 0, nullptr, &s[pairs - 1]) : 0;
    for (std::size_t i = pairs; i-- > 0;) {
      alphas[i] = dot * state.inverse_curvatures[i];
      dot = update_and_dot<T>(d, -alphas[i], &y[i], i > 0 ? &s[i - 1] : nullptr);
    }
    const double c = pairs >= static_cast<std::size_t>(std::min(initial_scale_pairs, history)) ? initial_scale : 1.0;
    d.vector() *= static_cast<T>(c * state.hessian_scale);
    dot = pairs > 0 ? update_and_dot<T>(d, 0, nullptr, &y[0]) : 0;
    for (std::size_t i = 0; i < pairs; ++i) {
      const double beta = dot * state.inverse_curvatures[i];
      dot = update_and_dot<T>(d, alphas[i] - beta, &s[i], i + 1 < pairs ? &y[i + 1] : nullptr);
    }
  }

  // v += coefficient * add (none when add is null), then returns next·v (0 when next is null), in
  // parts of v that threads share; the parts' dot products are added in double in a fixed order,
  // so the result does not depend on the thread count.
  template <class T>
  static double update_and_dot(tensor<T>& v, double coefficient, const tensor<T>* add, const tensor<T>* next) {
    return detail::parallel_sum(v.size(), [&](index_t first, index_t last) {
      auto part = v.vector().segment(first, last - first);
      if (add != nullptr) part += static_cast<T>(coefficient) * add->vector().segment(first, last - first);
      return next != nullptr ? static_cast<double>(next->vector().segment(first, last - first).dot(part)) : 0.0;
    });
  }
};

}  // namespace nst
