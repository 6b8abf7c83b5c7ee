// At most one log line per interval for an event that can repeat without bound (accept
// failing out of descriptors, a budget enforced under attack): the line that is written says
// how many were left out since the last. Metrics count every occurrence; logs only sample.
// Not thread-safe: one per thread (a worker, the HTTP server's loop).
#pragma once

#include <chrono>
#include <cstdint>

namespace skewless::log {

class Limiter {
 public:
  explicit Limiter(std::chrono::steady_clock::duration interval) : interval_(interval) {}

  // True when this occurrence should be logged; then `suppressed` holds how many were not
  // since the last one that was.
  bool Allow(std::uint64_t* suppressed) {
    const auto now = std::chrono::steady_clock::now();
    if (logged_ && now - last_ < interval_) {
      ++suppressed_;
      return false;
    }
    logged_ = true;
    last_ = now;
    *suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  const std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point last_;
  bool logged_ = false;
  std::uint64_t suppressed_ = 0;
};

}  // namespace skewless::log
