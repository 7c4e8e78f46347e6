// nst/style.hpp — the style module: the stylize() driver, colour control, contact sheets and
// checkpoints (save and resume a run).
#pragma once

#include "style/checkpoint.hpp"
#include "style/color.hpp"
#include "style/sheet.hpp"
#include "style/stylize.hpp"
#include "style/targets.hpp"
#include "style/tiles.hpp"
