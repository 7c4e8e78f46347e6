// nst/style.hpp — the style module: the stylize() driver, colour control and contact sheets.
#pragma once

#include "style/color.hpp"
#include "style/sheet.hpp"
#include "style/stylize.hpp"
