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

}  // namespace skewless
