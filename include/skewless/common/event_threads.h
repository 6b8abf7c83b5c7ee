// libevent's thread support, turned on once per process: a loop woken from another
// thread (a Stop()) needs it, and it must be on before the loop's base is created.
#pragma once

namespace skewless {

void UseLibeventThreads();

}  // namespace skewless
