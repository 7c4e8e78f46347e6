// nst/autodiff.hpp — the autodiff module: the tape, the differentiable ops, the gradient checker.
#pragma once

#include "autodiff/check_gradient.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/tape.hpp"
