// Ctrl-C and SIGTERM as a stop request the lab can wait on, so every exit
// path runs the same teardown.
#pragma once

#include <atomic>
#include <chrono>

namespace skewless::lab {

class StopSignal {
 public:
  // Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (call it in main
  // before any thread starts, so all threads inherit the mask) and starts a
  // thread that turns them into a stop request.
  static StopSignal& Install();

  bool requested() const { return requested_.load(); }
  const std::atomic<bool>* flag() const { return &requested_; }
  // Sleeps up to `duration`; returns false early when a stop was requested.
  bool SleepFor(std::chrono::milliseconds duration) const;
  int signal_number() const { return signo_.load(); }

 private:
  StopSignal() = default;
  std::atomic<bool> requested_{false};
  std::atomic<int> signo_{0};
};

}  // namespace skewless::lab
