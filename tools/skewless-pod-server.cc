// skewless-pod-server: one lab pod. Prints READY when listening, a JSON summary on SIGTERM.
#include <signal.h>

#include <iostream>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "skewless/common/cli.h"
#include "skewless/common/stop_signals.h"
#include "skewless/podserver/echo_server.h"

namespace {

// Exit codes the lab relies on.
constexpr int kExitOk = 0;
constexpr int kExitCannotRun = 1;
constexpr int kExitBadFlags = 2;

bool LooksLikeHostPort(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return false;
  return s.find_first_not_of("0123456789", colon + 1) == std::string::npos;
}

}  // namespace

int main(int argc, char** argv) {
  skewless::podserver::EchoServerOptions options;
  CLI::App app{
      "skewless-pod-server: a lab pod. Serves skewless.lab.v1.Echo; each Work RPC sleeps\n"
      "(service-time-us + request's extra) x slow-factor and replies with this pod's name\n"
      "and zone (as does each reply of the streaming StreamWork and ChatWork). Prints\n"
      "'READY <addr>' on stdout once listening; on SIGTERM/SIGINT shuts down (<= 1 s) and\n"
      "prints {\"pod\",\"zone\",\"work_served\",\"connections_seen\",\"streams_served\"} as JSON."};
  app.add_option("--name", options.pod_name, "Pod name, returned in every reply")
      ->capture_default_str();
  app.add_option("--zone", options.zone, "Zone label, returned in every reply (e.g. zone-a)");
  app.add_option("--listen", options.listen_address,
                 "Address to listen on, ip:port (port 0 = any free port; READY shows the real one)")
      ->capture_default_str()
      ->type_name("IP:PORT")
      ->check(CLI::Validator(
          [](std::string& s) { return LooksLikeHostPort(s) ? "" : "expected ip:port, got " + s; },
          ""));
  app.add_option("--service-time-us", options.service_time_us,
                 "Time each Work RPC takes, in microseconds, spent asleep (not burning CPU)")
      ->capture_default_str();
  app.add_option("--slow-factor", options.slow_factor,
                 "Multiplier on the service time, to make this a slow pod (e.g. 3)")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& s) {
            double v = 0;
            return CLI::detail::lexical_cast(s, v) && v > 0 ? "" : "must be > 0, got " + s;
          },
          ""));
  if (std::optional<int> exit_code = skewless::ParseFlags(app, argc, argv, kExitBadFlags)) {
    return *exit_code;
  }

  // Before gRPC starts its threads: only the sigwait below takes the signal.
  const sigset_t stop_signals = skewless::BlockStopSignals();

  auto server = skewless::podserver::EchoServer::Start(options);
  if (!server.ok()) {
    std::cerr << "skewless-pod-server: " << server.status().message() << "\n";
    return server.status().code() == absl::StatusCode::kInvalidArgument ? kExitBadFlags
                                                                        : kExitCannotRun;
  }
  std::cout << "READY " << (*server)->listen_address() << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  (*server)->Shutdown(absl::Seconds(1));

  const auto stats = (*server)->stats();
  const nlohmann::json summary = {{"pod", options.pod_name},
                                  {"zone", options.zone},
                                  {"work_served", stats.work_served},
                                  {"connections_seen", stats.connections_seen},
                                  {"streams_served", stats.streams_served}};
  std::cout << summary.dump() << std::endl;
  return kExitOk;
}
