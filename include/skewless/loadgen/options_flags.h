// skewless-loadgen's flags: each bound to the Options field it sets, with its help and
// default.
#pragma once

#include "CLI/CLI.hpp"
#include "skewless/loadgen/options.h"

namespace skewless::loadgen {

// Adds every run option's flag to `app`; Options' own values are the defaults shown.
void BindFlags(CLI::App& app, Options& options);

}  // namespace skewless::loadgen
