// skewless-loadgen: runs the lab's gRPC load, prints the result JSON on stdout.
#include <signal.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "skewless/common/cli.h"
#include "skewless/common/stop_signals.h"
#include "skewless/loadgen/loadgen.h"
#include "skewless/loadgen/options_flags.h"
#include "skewless/loadgen/result_json.h"

namespace {

constexpr int kExitRan = 0;
constexpr int kExitCannotRun = 1;
constexpr int kExitBadFlags = 2;

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
  skewless::loadgen::BindFlags(app, o);
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
