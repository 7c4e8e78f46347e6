// nst/style.hpp — the style module: the stylize() driver and colour control.
#pragma once

#include "style/color.hpp"
#include "style/stylize.hpp"
