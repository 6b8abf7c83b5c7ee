// Command lines of the lab's control plane, agents and splicers.
#include "skewless/lab/shipped_path.h"

#include "absl/strings/str_cat.h"

namespace skewless::lab {

std::vector<std::string> ControlPlaneArgv(const LabConfig& config, const std::string& bin_dir,
                                          const std::string& document_path) {
  std::vector<std::string> argv = {bin_dir + "/skewless-controlplane", "--source", "file", "--file",
                                   document_path, "--xds-listen", kControlPlaneXdsAddress,
                                   "--http-listen", kControlPlaneHttpAddress,
                                   // Plaintext: loopback of a namespace only the lab uses.
                                   "--plaintext", "--shutdown-grace", "1"};
  argv.insert(argv.end(), config.controlplane_flags.begin(), config.controlplane_flags.end());
  return argv;
}

std::vector<std::string> AgentArgv(const LabConfig& config, const std::string& bin_dir,
                                   const ClientSpec& node, size_t index, const std::string& cgroup,
                                   const std::string& pin_dir) {
  std::vector<std::string> argv = {bin_dir + "/skewless-agent",
                                   "--node-name",
                                   node.node,
                                   "--zone",
                                   node.zone,
                                   "--xds-server",
                                   kControlPlaneXdsAddress,
                                   "--plaintext",
                                   "--cgroup",
                                   cgroup,
                                   "--pin-dir",
                                   pin_dir,
                                   "--http-listen",
                                   absl::StrCat("127.0.0.1:", kFirstAgentHttpPort + index)};
  if (config.dataplane == Dataplane::kSkewlessL7) {
    argv.insert(argv.end(), {"--splicer-address", kSplicerAddress, "--splicer-mark",
                             std::to_string(kSplicerMark)});
  }
  if (config.slow_start_window.count() > 0) {
    argv.insert(argv.end(),
                {"--slow-start-window", absl::StrCat(config.slow_start_window.count() / 1e3)});
  }
  if (!config.cluster_load) {
    // Node-local: no reports out, no ClusterLoad in.
    argv.insert(argv.end(), {"--no-load-reporting", "--cluster-load-max-age", "0"});
  }
  argv.insert(argv.end(), config.agent_flags.begin(), config.agent_flags.end());
  return argv;
}

std::vector<std::string> SplicerArgv(const std::string& bin_dir, const std::string& pin_dir) {
  return {bin_dir + "/skewless-splicer",
          "--listen",
          kSplicerAddress,
          "--pin-dir",
          pin_dir,
          "--mark",
          std::to_string(kSplicerMark),
          "--workers",
          "1",
          "--http-listen",
          kSplicerHttpAddress,
          "--drain-seconds",
          "1"};
}

}  // namespace skewless::lab
