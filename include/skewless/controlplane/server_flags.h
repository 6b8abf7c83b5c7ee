// skewless-controlplane's flags: one per key of its config file (server_config.h), each
// overriding the file's value when given.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "skewless/common/cli.h"
#include "skewless/controlplane/server_config.h"

namespace skewless::controlplane {

struct ServerFlags {
  std::string config_path;  // --config; empty = the defaults
  FlagOverrides<ServerConfig> overrides;
};

// Adds --config and every config flag (with its help) to `app`.
void BindFlags(CLI::App& app, ServerFlags& flags);

// The config the parsed flags describe: --config's file over the defaults, every given
// flag over that, validated (a transport chosen too). The error names the file's key or
// the flag.
absl::StatusOr<ServerConfig> ApplyFlags(const ServerFlags& flags);

}  // namespace skewless::controlplane
