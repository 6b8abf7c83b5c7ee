// skewless-lab's flags: those of the subcommands that build a node (demo, run, up), and
// how their text becomes a LabConfig.
#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "skewless/lab/config.h"
#include "skewless/lab/state.h"

namespace skewless::lab {

// What the flags were given; durations, lists and names are text until ApplyFlags.
struct LabFlags {
  LabConfig config;
  int pods = 0;
  std::string zones = "zone-a,zone-b,zone-c";
  std::string pods_per_zone;
  std::vector<std::string> slow_pods;
  std::string client_zones;
  std::string dataplane = "iptables";
  std::string workload = "grpc";
  std::string duration = "10s";
  std::string client_stagger = "0s";
  std::string max_connection_age = "0s";
  std::string add_pod_at;
  std::string remove_pod_at;
  std::string slow_start_window = "0s";
  std::string state_dir = kDefaultStateDir;
  std::string output = "table";
  std::string save;
  // One of each per subcommand: whether the user gave them, for the conflict check.
  std::vector<CLI::Option*> clients_options;
  std::vector<CLI::Option*> clients_per_node_options;
};

// The flags of the node (zones, pods, clients, dataplane...), of the workload (rate,
// duration, output) and of changes during a run (churn, pods added or removed), each
// added to one subcommand.
void BindNodeFlags(CLI::App& app, LabFlags& flags);
void BindWorkloadFlags(CLI::App& app, LabFlags& flags);
void BindChangeFlags(CLI::App& app, LabFlags& flags);

// Turns the text flags into flags.config and plans it; errors name the flag.
absl::Status ApplyFlags(LabFlags& flags);

// `demo`'s own defaults for what its command line did not give.
void ApplyDemoDefaults(const CLI::App& demo, LabConfig& config);

}  // namespace skewless::lab
