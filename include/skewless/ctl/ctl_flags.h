// skewlessctl's flags: the global ones and each subcommand's, bound to the options the
// commands take.
#pragma once

#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "skewless/ctl/commands.h"
#include "skewless/ctl/xds_fetch.h"

namespace skewless::ctl {

struct CtlFlags {
  CommonOptions common;          // --pin-dir, --agent; output from `output`
  std::string output = "table";  // -o
  std::optional<std::string> backends_service;
  std::string backends_proto = "tcp";
  ExplainRequest explain;
  XdsFetchOptions xds;
  // The subcommands, to ask which one was given.
  CLI::App* services = nullptr;
  CLI::App* backends = nullptr;
  CLI::App* load = nullptr;
  CLI::App* explain_cmd = nullptr;
  CLI::App* status = nullptr;
  CLI::App* xds_cmd = nullptr;
};

// Adds the global flags and every subcommand with its flags to `app`.
void BindFlags(CLI::App& app, CtlFlags& flags);

}  // namespace skewless::ctl
