// nst/loss.hpp — the loss module: content, style (Gram, mean + covariance, Wasserstein-2) and
// total-variation functors, and `+`.
#pragma once

#include "loss/content.hpp"
#include "loss/mean_covariance.hpp"
#include "loss/style.hpp"
#include "loss/term.hpp"
#include "loss/total_variation.hpp"
#include "loss/wasserstein.hpp"
