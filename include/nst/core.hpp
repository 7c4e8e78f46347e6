// nst/core.hpp — the core module: errors, tensors and the parallel loop.
#pragma once

#include "core/allocator.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/parallel.hpp"
#include "core/tensor.hpp"
