// nst/nn.hpp — the network module: VGG19's layer table, weight layouts, input preprocessing and
// the feature extractor itself.
#pragma once

#include "nn/preprocessing.hpp"
#include "nn/vgg19.hpp"
#include "nn/vgg19_layers.hpp"
#include "nn/weight_layout.hpp"
