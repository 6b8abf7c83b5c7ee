// skewless-loadgen: runs the lab's gRPC load, prints the result JSON on stdout.
#include <signal.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "skewless/common/cli.h"
#include "skewless/common/stop_signals.h"
#include "skewless/loadgen/loadgen.h"
#include "skewless/loadgen/result_json.h"

namespace {

constexpr int kExitRan = 0;
constexpr int kExitCannotRun = 1;
constexpr int kExitBadFlags = 2;

// "10s", "500ms", "1m30s" (absl syntax) or a bare number of seconds.
bool ParseFlagDuration(const std::string& text, absl::Duration* out) {
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) {
    *out = absl::Seconds(seconds);
    return true;
  }
  return absl::ParseDuration(text, out);
}

CLI::Option* AddDuration(CLI::App& app, const std::string& name, absl::Duration* value,
                         const std::string& help) {
  return app
      .add_option_function<std::string>(
          name,
          [name, value](const std::string& text) {
            if (!ParseFlagDuration(text, value)) {
              throw CLI::ValidationError(name,
                                         "expected a duration like 10s or 500ms, got " + text);
            }
          },
          help + " (default " + absl::FormatDuration(*value) + ")")
      ->type_name("DURATION");
}

// Stop signals are blocked in every thread (set before gRPC starts any) and
// taken here, so the run ends through the same path as a normal finish.
void WatchStopSignals(const sigset_t& signals, std::atomic<bool>& stop,
                      const std::atomic<bool>& done) {
  const timespec poll = {0, 100'000'000};
  while (!done.load()) {
    if (sigtimedwait(&signals, nullptr, &poll) > 0) stop.store(true);
  }
}

}  // namespace

int main(int argc, char** argv) {
  skewless::loadgen::Options o;
  bool quiet = false;
  CLI::App app{
      "skewless-loadgen: gRPC load for the lab. Opens --clients persistent connections to\n"
      "--target (one gRPC channel = one TCP connection each, like separate client processes),\n"
      "keeps --concurrency Echo.Work calls outstanding on each, and prints one JSON result on\n"
      "stdout: per client (which pods it reached), per pod (count, latency), overall latency,\n"
      "and the pods' own Stats deltas if --stats is given. Progress goes to stderr once a\n"
      "second. SIGTERM/SIGINT end the run early and still print the result.\n"
      "Exit: 0 ran (RPC errors are in the result), 1 could not run, 2 bad flags."};
  app.add_option("--target", o.target, "Where to send load: ip:port (a Service VIP or a pod)")
      ->required();
  app.add_option("--clients", o.clients, "Number of clients = persistent connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--concurrency", o.concurrency, "Outstanding calls per client (HTTP/2 streams)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  AddDuration(app, "--duration", &o.duration, "Measured period, e.g. 10s");
  app.add_option("--rate", o.rate_rps,
                 "Total calls per second over all clients, evenly paced; latency counts from "
                 "the intended send time. 0 = closed loop (send again on each reply)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--payload-bytes", o.payload_bytes, "Request payload size; the pod echoes it")
      ->capture_default_str()
      ->check(CLI::Range(0, 4 << 20));
  app.add_option("--zone", o.client_zone,
                 "Zone label of this client (its namespace), copied into the result");
  AddDuration(app, "--deadline", &o.rpc_deadline, "Per-call deadline");
  app.add_option("--stats", o.stats_addresses,
                 "Pod ip:port whose Stats to read before and after the run (repeat or "
                 "comma-separate); the result then shows each pod's own count")
      ->delimiter(',');
  AddDuration(app, "--warmup", &o.warmup, "Load sent before the measured period, not counted");
  AddDuration(app, "--connect-timeout", &o.connect_timeout,
              "How long every client may take to connect before giving up (exit 1)");
  app.add_option("--extra-service-time-us", o.extra_service_time_us,
                 "Service time asked of the pod per call, on top of its own")
      ->capture_default_str();
  AddDuration(app, "--max-connection-age", &o.max_connection_age,
              "Churn: each client closes its connection and opens a new one (dialling "
              "--target again) after this long, +-10%, as gRPC's MaxConnectionAge makes "
              "clients do; the first age is drawn over [0, age] so reconnects arrive at a "
              "steady rate. 0 = one connection per client for the whole run");
  app.add_flag("--quiet,-q", quiet, "No progress lines on stderr");
  if (std::optional<int> exit_code = skewless::ParseFlags(app, argc, argv, kExitBadFlags)) {
    return *exit_code;
  }

  const sigset_t stop_signals = skewless::BlockStopSignals();
  std::atomic<bool> stop{false};
  std::atomic<bool> done{false};
  std::thread watcher(WatchStopSignals, std::cref(stop_signals), std::ref(stop), std::cref(done));

  const std::string label = o.client_zone.empty() ? o.target : o.client_zone;
  skewless::loadgen::ProgressFn progress;
  if (!quiet) {
    progress = [&label](const skewless::loadgen::Progress& p) {
      std::cerr << absl::StrFormat("loadgen %s: %s%.1f/%.0fs  %d rpcs  %.0f/s  errors %d\n", label,
                                   p.warming_up ? "warmup " : "", p.elapsed_s, p.duration_s, p.rpcs,
                                   p.recent_rps, p.errors);
    };
  }
  auto result = skewless::loadgen::Run(o, &stop, progress);
  done.store(true);
  watcher.join();

  if (!result.ok()) {
    std::cerr << "skewless-loadgen: " << result.status().message() << "\n";
    return result.status().code() == absl::StatusCode::kInvalidArgument ? kExitBadFlags
                                                                        : kExitCannotRun;
  }
  std::cout << skewless::loadgen::ToJson(*result).dump() << std::endl;
  return kExitRan;
}
