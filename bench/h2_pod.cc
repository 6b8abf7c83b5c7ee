// skewless-h2-pod: the bench's lightweight pod (see h2_pod_server.h). Same calls, same
// replies and the same READY / JSON-summary contract as skewless-pod-server, so bench/run.py
// can put either behind the proxies.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <iostream>

#include "CLI/CLI.hpp"
#include "h2_pod_server.h"
#include "nlohmann/json.hpp"
#include "skewless/common/cli.h"
#include "skewless/common/stop_signals.h"

int main(int argc, char** argv) {
  skewless::h2pod::PodOptions options;
  CLI::App app{
      "skewless-h2-pod: a lightweight bench pod. Serves skewless.lab.v1.Echo's Work (an\n"
      "immediate WorkReply with this pod's name and zone) and Stats over h2c, on one thread\n"
      "(nghttp2 and epoll); any other method is UNIMPLEMENTED. Prints 'READY <addr>' on\n"
      "stdout once listening; on SIGTERM/SIGINT drops open calls and prints\n"
      "{\"pod\",\"zone\",\"work_served\",\"connections_seen\"} as JSON.\n"
      "Exit: 0 stopped by a signal, 1 could not listen, 2 bad flags or --listen address."};
  app.add_option("--name", options.name, "Pod name, returned in every reply")
      ->capture_default_str();
  app.add_option("--zone", options.zone, "Zone, returned in every reply")->capture_default_str();
  app.add_option("--listen", options.listen,
                 "Address to listen on, ip:port (port 0 = any free port; READY shows the real one)")
      ->capture_default_str()
      ->type_name("IP:PORT");
  app.add_option("--max-concurrent-streams", options.max_concurrent_streams,
                 "SETTINGS_MAX_CONCURRENT_STREAMS advertised to every client")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 31));
  if (std::optional<int> exit_code =
          skewless::ParseFlags(app, argc, argv, skewless::kExitBadConfig)) {
    return *exit_code;
  }

  const sigset_t stop_signals = skewless::BlockStopSignals();
  const int stop_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
  absl::StatusOr<std::unique_ptr<skewless::h2pod::PodServer>> server =
      skewless::h2pod::PodServer::Listen(options);
  if (!server.ok()) {
    std::cerr << "skewless-h2-pod: " << server.status().message() << "\n";
    return absl::IsInvalidArgument(server.status()) ? skewless::kExitBadConfig
                                                    : skewless::kExitCannotRun;
  }
  std::cout << "READY " << (*server)->address() << std::endl;
  if (absl::Status served = (*server)->Serve(stop_fd); !served.ok()) {
    std::cerr << "skewless-h2-pod: " << served.message() << "\n";
    return skewless::kExitCannotRun;
  }
  const skewless::h2pod::PodCounts& counts = (*server)->counts();
  std::cout << nlohmann::json{{"pod", options.name},
                              {"zone", options.zone},
                              {"work_served", counts.work_served},
                              {"connections_seen", counts.connections_seen}}
                   .dump()
            << std::endl;
  close(stop_fd);
  return skewless::kExitOk;
}
