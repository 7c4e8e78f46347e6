// nst/nst.hpp — everything in nst, in data-flow order:
//   tensor -> image/weight/plot io -> ops -> autodiff tape -> vgg19 -> losses -> optimizers ->
//   driver, with the configuration macros (config.hpp) and the version (version.hpp) first.
// Image files need Debian's libstb (NST_HAVE_STB, set by the nst CMake target when found);
// without it the rest of the library works on tensors alone.
#pragma once

#include "config.hpp"
#include "version.hpp"

#include "core.hpp"
#include "io/plot.hpp"
#include "io/weights.hpp"
#if defined(NST_HAVE_STB)
#include "io/image.hpp"
#endif
#include "ops.hpp"
#include "autodiff.hpp"
#include "nn.hpp"
#include "loss.hpp"
#include "optim.hpp"
#include "style.hpp"
