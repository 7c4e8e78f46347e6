// nst/loss.hpp — the loss module: content, style (Gram) and total-variation functors, and `+`.
#pragma once

#include "loss/content.hpp"
#include "loss/style.hpp"
#include "loss/term.hpp"
#include "loss/total_variation.hpp"
