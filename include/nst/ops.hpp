// nst/ops.hpp — the ops module: pure tensor functions and their gradients (no tape, no state).
//
// Every op has a forward function and, where it is differentiable, *_backward functions that
// take the gradient of the output and return the gradient of one input. The autodiff module
// records these on a tape; used directly they are plain functions on tensors.
#pragma once

#include "ops/activation.hpp"
#include "ops/conv2d.hpp"
#include "ops/gram.hpp"
#include "ops/pool2d.hpp"
#include "ops/reduce.hpp"
#include "ops/resize.hpp"
