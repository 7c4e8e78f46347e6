// nst/optim.hpp — the optim module: minimize() with the Adam and L-BFGS policies.
#pragma once

#include "optim/adam.hpp"
#include "optim/lbfgs.hpp"
#include "optim/minimize.hpp"
#include "optim/policy.hpp"
#include "optim/stop.hpp"
