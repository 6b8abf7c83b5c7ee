// skewless-agent's flags: one per key of its config file (agent_config.h), each
// overriding the file's value when given.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "skewless/agent/agent_config.h"
#include "skewless/common/cli.h"

namespace skewless::agent {

struct AgentFlags {
  std::string config_path;  // --config; empty = the defaults
  FlagOverrides<AgentConfig> overrides;
};

// Adds --config and every config flag (with its help) to `app`.
void BindFlags(CLI::App& app, AgentFlags& flags);

// The config the parsed flags describe: --config's file over the defaults, every given
// flag over that, validated. The error names the file's key or the flag.
absl::StatusOr<AgentConfig> ApplyFlags(const AgentFlags& flags);

// Only the flags over the defaults, unvalidated and without the file, a bad value left at
// its default: what the subcommands read (--pin-dir, --cgroup).
AgentConfig FlagsOverDefaults(const AgentFlags& flags);

}  // namespace skewless::agent
