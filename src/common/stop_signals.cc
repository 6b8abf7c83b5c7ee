// Blocking the stop signals for a sigwait-based shutdown.
#include "skewless/common/stop_signals.h"

#include <pthread.h>

#include <cstring>

#include "skewless/common/log.h"

namespace skewless {

sigset_t BlockStopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return stop_signals;
}

void AwaitStopSignal(const sigset_t& signals) {
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  log::Info("stopping", {{"signal", strsignal(signal_number)}});
}

}  // namespace skewless
