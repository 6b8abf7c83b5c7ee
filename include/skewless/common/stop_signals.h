// SIGTERM/SIGINT as something a thread waits for (sigwait), not a handler.
#pragma once

#include <signal.h>

namespace skewless {

// Blocks SIGTERM and SIGINT in the calling thread and returns that set for
// sigwait. Call it in main() before any thread starts (gRPC's included), so
// every thread inherits the mask and only the waiting thread takes the
// signal. Also ignores SIGPIPE: a parent may close our stdout pipe first,
// and that must not kill us mid-shutdown.
sigset_t BlockStopSignals();

// Waits for one of `signals` (from BlockStopSignals) and logs which arrived.
void AwaitStopSignal(const sigset_t& signals);

// Exit codes of the daemons (skewless-controlplane, skewless-agent): 0 stopped cleanly,
// 1 could not run, 2 bad flags or config.
inline constexpr int kExitOk = 0;
inline constexpr int kExitCannotRun = 1;
inline constexpr int kExitBadConfig = 2;

}  // namespace skewless
