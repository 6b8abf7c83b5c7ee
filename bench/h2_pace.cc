// skewless-h2-pace: a cheap paced load generator for latency at a fixed rate (bench/run.py's
// splicer section). One thread, nghttp2 and epoll: the generator should cost the machine
// far less than what it measures.
#include <cstdio>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "h2_pace_run.h"
#include "nlohmann/json.hpp"
#include "skewless/common/cli.h"

namespace {

constexpr int kExitRan = 0;
constexpr int kExitCannotRun = 1;
constexpr int kExitBadFlags = 2;

double Us(std::int64_t ns) { return static_cast<double>(ns) / 1000.0; }

nlohmann::json ToJson(const skewless::h2pace::PaceOptions& o,
                      const skewless::h2pace::PaceResult& r) {
  const skewless::Histogram& h = r.latency;
  return {{"target", o.target},
          {"path", o.path},
          {"connections", o.connections},
          {"max_in_flight", o.max_in_flight},
          {"offered_rps", r.offered_rps},
          {"achieved_rps", r.achieved_rps},
          {"duration_s", r.duration_s},
          {"rpcs", r.rpcs},
          {"errors", r.errors},
          {"errors_by_code", r.errors_by_code},
          {"unsent", r.unsent},
          {"warmup_rpcs", r.warmup_rpcs},
          {"latency_us",
           {{"p50", Us(h.PercentileNs(50))},
            {"p90", Us(h.PercentileNs(90))},
            {"p99", Us(h.PercentileNs(99))},
            {"p999", Us(h.PercentileNs(99.9))},
            {"max", Us(h.max_ns())},
            {"mean", h.mean_ns() / 1000.0}}},
          {"calls_ended", r.calls_ended},
          {"cpu_s", r.cpu_s},
          {"cpu_us_per_call",
           r.calls_ended > 0 ? r.cpu_s * 1e6 / static_cast<double>(r.calls_ended) : 0.0}};
}

}  // namespace

int main(int argc, char** argv) {
  skewless::h2pace::PaceOptions o;
  CLI::App app{
      "skewless-h2-pace: unary gRPC calls (an empty message to --path) at a fixed total rate\n"
      "over --connections h2c connections (HTTP/2 with prior knowledge). Call i is due at\n"
      "start + i/rate on connection i mod C; a call that finds its connection's --max-in-flight\n"
      "slots busy waits for one and keeps its due time, and latency counts from the due time,\n"
      "so a target that stalls is charged for every call it held up. A call succeeds with\n"
      "HTTP status 200 and grpc-status 0; anything else counts as an error by its code.\n"
      "Prints one JSON object on stdout: offered_rps, achieved_rps (successful measured calls\n"
      "per second), rpcs, errors, errors_by_code, unsent (due but never sent: the target fell\n"
      "behind), latency_us (p50/p90/p99/p999/max/mean of the successful measured calls),\n"
      "cpu_s and cpu_us_per_call (this process, whole run).\n"
      "Exit: 0 ran (call errors are in the result), 1 could not run (e.g. target unreachable),\n"
      "2 bad flags."};
  app.add_option("--target", o.target, "Where to send the calls: host:port (h2c)")->required();
  app.add_option("--rate", o.rate_rps, "Total calls per second over all connections")
      ->required()
      ->check(CLI::Range(0.001, 10'000'000.0));
  app.add_option("--connections", o.connections, "HTTP/2 connections the calls are spread over")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--max-in-flight", o.max_in_flight,
                 "Calls in flight on one connection at most; further calls wait for a slot")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  // Negative durations are refused at parse: the pacing has no meaning for them.
  const absl::Duration kNotNegative = absl::ZeroDuration();
  skewless::AddDurationOption(app, "--duration", &o.duration, "Measured period, after the warm-up",
                              kNotNegative);
  skewless::AddDurationOption(app, "--warmup", &o.warmup,
                              "Paced load sent before the measured period, not counted",
                              kNotNegative);
  skewless::AddDurationOption(app, "--connect-timeout", &o.connect_timeout,
                              "How long each connection may take to connect (exit 1 after)",
                              kNotNegative);
  skewless::AddDurationOption(app, "--drain", &o.drain,
                              "How long calls still in flight at the end may take; those that do "
                              "not end count as errors (UNFINISHED)",
                              kNotNegative);
  app.add_option("--path", o.path, "The gRPC method called, as an HTTP/2 :path")
      ->capture_default_str();
  if (std::optional<int> exit_code = skewless::ParseFlags(app, argc, argv, kExitBadFlags)) {
    return *exit_code;
  }
  if (o.duration <= absl::ZeroDuration()) {
    std::cerr << "skewless-h2-pace: --duration must be positive\n";
    return kExitBadFlags;
  }

  absl::StatusOr<skewless::h2pace::PaceResult> result = skewless::h2pace::RunPaced(o);
  if (!result.ok()) {
    std::cerr << "skewless-h2-pace: " << result.status().message() << "\n";
    return kExitCannotRun;
  }
  std::cout << ToJson(o, *result).dump() << std::endl;
  return kExitRan;
}
