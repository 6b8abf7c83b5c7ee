// skewless-loadgen's flags (docs/lab.md): names, help, defaults and how they fill Options.
#include "skewless/loadgen/options_flags.h"

#include <string>

#include "absl/time/time.h"
#include "skewless/common/cli.h"

namespace skewless::loadgen {

void BindFlags(CLI::App& app, Options& options) {
  app.add_option("--target", options.target, "Where to send load: ip:port (a Service VIP or a pod)")
      ->required();
  app.add_option("--clients", options.clients, "Number of clients = persistent connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--concurrency", options.concurrency,
                 "Outstanding calls per client (HTTP/2 streams)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  AddDurationOption(app, "--duration", &options.duration, "Measured period, e.g. 10s");
  app.add_option("--rate", options.rate_rps,
                 "Total calls per second over all clients, evenly paced; latency counts from "
                 "the intended send time. 0 = closed loop (send again on each reply)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--payload-bytes", options.payload_bytes,
                 "Request payload size; the pod echoes it")
      ->capture_default_str()
      ->check(CLI::Range(0, 4 << 20));
  app.add_option("--zone", options.client_zone,
                 "Zone label of this client (its namespace), copied into the result");
  AddDurationOption(app, "--deadline", &options.rpc_deadline, "Per-call deadline");
  app.add_option("--stats", options.stats_addresses,
                 "Pod ip:port whose Stats to read before and after the run (repeat or "
                 "comma-separate); the result then shows each pod's own count")
      ->delimiter(',');
  AddDurationOption(app, "--warmup", &options.warmup,
                    "Load sent before the measured period, not counted");
  AddDurationOption(app, "--connect-timeout", &options.connect_timeout,
                    "How long every client may take to connect before giving up (exit 1)");
  app.add_option("--extra-service-time-us", options.extra_service_time_us,
                 "Service time asked of the pod per call, on top of its own")
      ->capture_default_str();
  AddDurationOption(app, "--max-connection-age", &options.max_connection_age,
                    "Churn: each client closes its connection and opens a new one (dialling "
                    "--target again) after this long, +-10%, as gRPC's MaxConnectionAge makes "
                    "clients do; the first age is drawn over [0, age] so reconnects arrive at a "
                    "steady rate. 0 = one connection per client for the whole run");
}

}  // namespace skewless::loadgen
