// skewless-splicer's flags: each bound to the option it sets (the splicer has no config
// file), and the checks that need several of them together.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "skewless/common/cli.h"
#include "skewless/loadreport/control_plane_call.h"
#include "skewless/splicer/splicer.h"

namespace skewless::splicer {

struct SplicerFlags {
  SplicerOptions options;             // every flag that maps one to one
  std::vector<std::string> backends;  // --backend IP:port[,zone[,weight]]
  // Load reporting (LRS): the agent's flag names and meanings.
  std::vector<std::string> xds_servers;
  std::string node_name;
  bool load_reporting = true;
  CLI::Option* load_reporting_flag = nullptr;  // given explicitly or not
  std::chrono::milliseconds load_report_change_interval{250};
  FlagOverrides<loadreport::ControlPlaneSecurity> security;
  // The process around the splicer.
  std::string http_listen = kDefaultHttpListen;
  double drain_seconds = kDefaultDrainSeconds;
};

// Adds every flag (with its help and default) to `app`.
void BindFlags(CLI::App& app, SplicerFlags& flags);

// The splicer's options from the parsed flags, or InvalidArgument naming the flags that
// are missing or cannot go together.
absl::StatusOr<SplicerOptions> ApplyFlags(const SplicerFlags& flags);

}  // namespace skewless::splicer
