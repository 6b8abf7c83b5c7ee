// skewless-splicer: the node-local HTTP/2 proxy that balances every gRPC call (every
// HTTP/2 stream) of a client connection on its own.
#include <atomic>
#include <chrono>
#include <iostream>
#include <optional>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "skewless/common/cli.h"
#include "skewless/common/http_server.h"
#include "skewless/common/log.h"
#include "skewless/common/probe_routes.h"
#include "skewless/common/stop_signals.h"
#include "skewless/splicer/splicer.h"
#include "skewless/splicer/splicer_flags.h"

using skewless::kExitBadConfig;
using skewless::kExitCannotRun;
using skewless::kExitOk;

int main(int argc, char** argv) {
  namespace log = skewless::log;
  using skewless::splicer::SplicerOptions;

  CLI::App app{
      "skewless-splicer: node-local HTTP/2 proxy. Accepts h2c (HTTP/2 prior knowledge, as gRPC\n"
      "clients speak it) and sends every stream of a connection to its own backend: power of\n"
      "two choices on outstanding streams, so one long-lived gRPC channel is spread over all\n"
      "pods. With --pin-dir it serves the Services the node agent's data path redirects to it\n"
      "(appProtocol kubernetes.io/h2c, grpc or h2c), each client's Service found through\n"
      "SO_ORIGINAL_DST and its backends in the agent's maps; --backend gives fixed ones.\n"
      "Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 cannot run, 2 bad flags."};
  skewless::splicer::SplicerFlags flags;
  skewless::splicer::BindFlags(app, flags);
  if (std::optional<int> exit_code = skewless::ParseFlags(app, argc, argv, kExitBadConfig)) {
    return *exit_code;
  }
  absl::StatusOr<SplicerOptions> applied = skewless::splicer::ApplyFlags(flags);
  if (!applied.ok()) {
    std::cerr << "skewless-splicer: " << applied.status().message() << "\n";
    return kExitBadConfig;
  }
  const SplicerOptions& options = *applied;
  const sigset_t stop_signals = skewless::BlockStopSignals();  // before the workers start
  absl::StatusOr<std::unique_ptr<skewless::splicer::Splicer>> splicer =
      skewless::splicer::Splicer::Start(options);
  if (!splicer.ok()) {
    log::Error("cannot start", {{"error", std::string(splicer.status().message())}});
    return splicer.status().code() == absl::StatusCode::kInvalidArgument ? kExitBadConfig
                                                                         : kExitCannotRun;
  }
  std::atomic<bool> draining{false};
  absl::StatusOr<std::unique_ptr<skewless::HttpServer>> http = skewless::HttpServer::Start(
      flags.http_listen,
      skewless::ProbeRoutes((*splicer)->registry(),
                            [&] { return draining ? std::string("draining") : std::string(); }),
      "--http-listen");
  if (!http.ok()) {
    log::Error("cannot start", {{"error", std::string(http.status().message())}});
    return kExitCannotRun;
  }
  log::Info("splicer listening", {{"port", std::to_string((*splicer)->port())},
                                  {"workers", std::to_string((*splicer)->workers())},
                                  {"backends", std::to_string(options.backends.size())},
                                  {"pin_dir", options.pin_dir}});
  skewless::AwaitStopSignal(stop_signals);
  draining = true;
  log::Info("draining", {{"grace_seconds", absl::StrCat(flags.drain_seconds)}});
  (*splicer)->Drain(std::chrono::milliseconds(static_cast<long>(flags.drain_seconds * 1000)));
  (*http)->Stop();
  log::Info("splicer stopped", {});
  return kExitOk;
}
