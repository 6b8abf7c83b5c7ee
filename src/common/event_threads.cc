// Turns on libevent's pthreads locking exactly once.
#include "skewless/common/event_threads.h"

#include <event2/thread.h>

#include <mutex>

namespace skewless {

void UseLibeventThreads() {
  static std::once_flag once;
  std::call_once(once, [] { evthread_use_pthreads(); });
}

}  // namespace skewless
