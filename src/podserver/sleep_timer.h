// One thread that runs callbacks at their due time: the pods' precise, CPU-free "service time".
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace skewless::podserver {

// grpc::Alarm would do this without a thread, but gRPC 1.51 timers round up
// to whole milliseconds and fire from the poller, so a 1 ms sleep took ~2 ms.
// A condition-variable wait on the steady clock wakes within tens of µs.
class SleepTimer {
 public:
  using Clock = std::chrono::steady_clock;

  SleepTimer();
  // Runs every callback still queued, immediately, then joins the thread.
  ~SleepTimer();
  SleepTimer(const SleepTimer&) = delete;
  SleepTimer& operator=(const SleepTimer&) = delete;

  // Runs `callback` on the timer thread at `due` (at once if already past).
  // Callbacks must be short: they share the thread with every other wakeup.
  void At(Clock::time_point due, std::function<void()> callback);

 private:
  struct Entry {
    Clock::time_point due;
    uint64_t seq;  // keeps equal deadlines in arrival order
    std::function<void()> callback;
  };
  void Loop();

  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Entry> heap_;  // min-heap on (due, seq), guarded by mu_
  uint64_t next_seq_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace skewless::podserver
