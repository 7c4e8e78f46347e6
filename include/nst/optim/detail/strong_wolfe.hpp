// nst/optim/detail/strong_wolfe.hpp — the strong-Wolfe line search of torch.optim.LBFGS.
//
// Given x, a descent direction d and the loss f0 and slope gtd0 = g0·d at t = 0, it looks for a
// step t along d whose point x + t d satisfies the strong Wolfe conditions
//
//   sufficient decrease   f(t) <= f0 + c1 t gtd0
//   curvature             |g(t)·d| <= -c2 gtd0
//
// in two phases, as torch's _strong_wolfe (a port of Lua torch's lswolfe): first it grows t
// (cubic extrapolation, within [t + 0.01 (t - t_prev), 10 t]) until an interval [lo, hi] is
// known to hold such a point; then it shrinks that interval (cubic interpolation, kept at least
// 10% of the interval away from its ends) until a point satisfies both conditions. Both phases
// together evaluate f at most 25 times. The step returned is the best point found.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>

#include "../../core/tensor.hpp"
#include "../policy.hpp"

namespace nst {
namespace detail {

// torch's constants; torch.optim.LBFGS passes none of them through, nor does nst.
constexpr double wolfe_sufficient_decrease = 1e-4;  // c1
constexpr double wolfe_curvature = 0.9;             // c2
constexpr double wolfe_min_interval = 1e-9;         // stop shrinking when |hi - lo| max|d| is below
constexpr int wolfe_max_evaluations = 25;

// The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clamped to
// [lo, hi]; the middle of [lo, hi] when the cubic has no minimum. With
//   d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2),   d2 = sqrt(d1^2 - g1 g2),
// and x2 the farther point, the minimum is x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2).
inline double cubic_minimum(double x1, double f1, double g1, double x2, double f2, double g2, double lo,
                            double hi) {
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const double d2_squared = d1 * d1 - g1 * g2;
  if (!(d2_squared >= 0)) return (lo + hi) / 2;
  const double d2 = std::sqrt(d2_squared);
  const double minimum = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                                  : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
  return std::min(std::max(minimum, lo), hi);
}

// Buffers a line search reuses from one iteration to the next.
template <class T>
struct line_search_workspace {
  tensor<T> trial;                     // x + t d
  std::array<tensor<T>, 3> gradients;  // with the caller's gradient, the four a search juggles

  void reserve(const shape& s) {
    trial.resize(s);
    for (auto& g : gradients) g.resize(s);
  }
};

struct line_search_result {
  double step;      // the t chosen
  int evaluations;  // objective evaluations it took
};

// Searches along `direction` from x, where `at_x` holds f0 and g0 and `slope` = g0·d < 0, from
// the first trial step `step`. Leaves x unchanged and at_x holding f and g at x + t d for the t
// returned.
template <class T, class Evaluate>
line_search_result strong_wolfe(Evaluate& evaluate, const tensor<T>& x, const tensor<T>& direction, double step,
                                evaluation<T>& at_x, double slope, line_search_workspace<T>& work) {
  struct point {
    double t, f, slope;
    tensor<T>* gradient;
  };
  const double f0 = at_x.loss, slope0 = slope;
  const point origin{0, f0, slope0, &at_x.gradient};
  const auto d = direction.vector();
  const double d_norm = static_cast<double>(d.cwiseAbs().maxCoeff());

  std::array<tensor<T>*, 4> pool{&at_x.gradient, &work.gradients[0], &work.gradients[1], &work.gradients[2]};
  auto spare = [&pool](const tensor<T>* busy1, const tensor<T>* busy2) {
    for (tensor<T>* g : pool)
      if (g != busy1 && g != busy2) return g;
    return pool[0];  // unreachable: four buffers, at most two busy
  };
  int evaluations = 0;
  auto evaluate_at = [&](double t, tensor<T>* gradient) {
    work.trial.vector() = x.vector() + static_cast<T>(t) * d;
    const double f = evaluate(work.trial, *gradient);
    ++evaluations;
    return point{t, f, static_cast<double>(gradient->vector().dot(d)), gradient};
  };
  auto sufficient_decrease = [&](const point& p) { return p.f <= f0 + wolfe_sufficient_decrease * p.t * slope0; };
  auto flat_enough = [&](const point& p) { return std::abs(p.slope) <= -wolfe_curvature * slope0; };

  // Phase 1: grow the step until [previous, current] brackets an acceptable point.
  std::array<point, 2> bracket{origin, origin};
  bool done = false;
  point previous = origin;
  point current = evaluate_at(step, spare(&at_x.gradient, nullptr));
  int iteration = 0;
  for (; iteration < wolfe_max_evaluations; ++iteration) {
    if (!sufficient_decrease(current) || (iteration > 1 && current.f >= previous.f)) {
      bracket = {previous, current};
      break;
    }
    if (flat_enough(current)) {
      bracket = {current, current};
      done = true;
      break;
    }
    if (current.slope >= 0) {
      bracket = {previous, current};
      break;
    }
    const double t = cubic_minimum(previous.t, previous.f, previous.slope, current.t, current.f, current.slope,
                                   current.t + 0.01 * (current.t - previous.t), current.t * 10);
    previous = current;
    current = evaluate_at(t, spare(&at_x.gradient, previous.gradient));
  }
  if (iteration == wolfe_max_evaluations) bracket = {origin, current};

  // Phase 2: shrink the bracket around a point that satisfies both conditions.
  int low = bracket[0].f <= bracket[1].f ? 0 : 1;
  bool insufficient_progress = false;
  while (!done && iteration < wolfe_max_evaluations) {
    if (std::abs(bracket[1].t - bracket[0].t) * d_norm < wolfe_min_interval) break;
    const double lo = std::min(bracket[0].t, bracket[1].t), hi = std::max(bracket[0].t, bracket[1].t);
    double t = cubic_minimum(bracket[0].t, bracket[0].f, bracket[0].slope, bracket[1].t, bracket[1].f,
                             bracket[1].slope, lo, hi);
    // A trial too close to an end of the bracket makes little progress; after two such trials
    // in a row (or one outside the bracket) move it to 10% of the bracket inside the nearer end.
    const double margin = 0.1 * (hi - lo);
    if (std::min(hi - t, t - lo) < margin) {
      if (insufficient_progress || t >= hi || t <= lo) {
        t = std::abs(t - hi) < std::abs(t - lo) ? hi - margin : lo + margin;
        insufficient_progress = false;
      } else {
        insufficient_progress = true;
      }
    } else {
      insufficient_progress = false;
    }

    const point trial = evaluate_at(t, spare(bracket[0].gradient, bracket[1].gradient));
    ++iteration;
    const int high = 1 - low;
    if (!sufficient_decrease(trial) || trial.f >= bracket[low].f) {
      bracket[high] = trial;
      low = bracket[0].f <= bracket[1].f ? 0 : 1;
    } else {
      if (flat_enough(trial)) {
        done = true;
      } else if (trial.slope * (bracket[high].t - bracket[low].t) >= 0) {
        bracket[high] = bracket[low];  // the minimum lies on the other side of the trial
      }
      bracket[low] = trial;
    }
  }

  const point& best = bracket[low];
  at_x.loss = best.f;
  if (best.gradient != &at_x.gradient) std::swap(at_x.gradient, *best.gradient);
  return {best.t, evaluations};
}

}  // namespace detail
}  // namespace nst
