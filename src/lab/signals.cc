// A sigwait thread that turns terminal and service-manager signals into a flag.
#include "skewless/lab/signals.h"

#include <signal.h>

#include <thread>

namespace skewless::lab {

StopSignal& StopSignal::Install() {
  static StopSignal* instance = [] {
    auto* stop = new StopSignal();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([stop, set] {
      for (;;) {
        int signo = 0;
        if (sigwait(&set, &signo) == 0) {
          stop->signo_ = signo;
          stop->requested_ = true;
        }
      }
    }).detach();
    return stop;
  }();
  return *instance;
}

bool StopSignal::SleepFor(std::chrono::milliseconds duration) const {
  auto deadline = std::chrono::steady_clock::now() + duration;
  while (!requested()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        deadline - now, std::chrono::milliseconds(50)));
  }
  return false;
}

}  // namespace skewless::lab
