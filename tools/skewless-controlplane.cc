// skewless-controlplane: Services and EndpointSlices (or a YAML file) served as xDS.
#include <signal.h>

#include <iostream>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "skewless/common/cli.h"
#include "skewless/common/log.h"
#include "skewless/common/stop_signals.h"
#include "skewless/controlplane/server.h"
#include "skewless/controlplane/server_flags.h"

using skewless::kExitBadConfig;
using skewless::kExitCannotRun;
using skewless::kExitOk;

int main(int argc, char** argv) {
  using skewless::controlplane::ServerConfig;
  namespace log = skewless::log;

  CLI::App app{
      "skewless-controlplane: watches Services, EndpointSlices and Nodes (or a YAML file)\n"
      "and serves them as Envoy xDS (ADS, state-of-the-world and delta) to skewless agents,\n"
      "Envoy and proxyless gRPC clients (xds:/// targets). Flags override --config.\n"
      "Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 cannot run, 2 bad flags or config."};
  skewless::controlplane::ServerFlags flags;
  skewless::controlplane::BindFlags(app, flags);
  if (std::optional<int> exit_code = skewless::ParseFlags(app, argc, argv, kExitBadConfig)) {
    return *exit_code;
  }
  absl::StatusOr<ServerConfig> applied = skewless::controlplane::ApplyFlags(flags);
  if (!applied.ok()) {
    std::cerr << "skewless-controlplane: " << applied.status().message() << "\n";
    return kExitBadConfig;
  }
  const ServerConfig& config = *applied;
  log::Configure(*log::ParseLevel(config.log_level), *log::ParseFormat(config.log_format));

  // Before any thread starts, so only sigwait below takes SIGTERM/SIGINT.
  const sigset_t stop_signals = skewless::BlockStopSignals();
  absl::StatusOr<std::unique_ptr<skewless::controlplane::ControlPlaneServer>> server =
      skewless::controlplane::ControlPlaneServer::Start(config);
  if (!server.ok()) {
    log::Error("cannot start", {{"error", std::string(server.status().message())}});
    return kExitCannotRun;
  }
  log::Info("control plane serving",
            {{"xds", config.xds_listen.substr(0, config.xds_listen.rfind(':') + 1) +
                         std::to_string((*server)->xds_port())},
             {"http", config.http_listen.substr(0, config.http_listen.rfind(':') + 1) +
                          std::to_string((*server)->http_port())},
             {"source", std::string(skewless::controlplane::SourceKindName(config.source))},
             {"transport", skewless::controlplane::UsesTls(config) ? "tls" : "plaintext"},
             {"auth", skewless::controlplane::AuthMethodsName(config.auth)}});
  skewless::AwaitStopSignal(stop_signals);
  (*server)->Shutdown();
  return kExitOk;
}
