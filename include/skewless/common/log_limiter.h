// At most one log line per interval for an event that can repeat without bound (accept
// failing out of descriptors, a budget enforced under attack): the line that is written says
// how many were left out since the last. Metrics count every occurrence; logs only sample.
// Limiter is not thread-safe: one per thread (a worker, the HTTP server's loop).
// KeyedLimiter is: one per (kind, peer), shared by every thread that logs for peers.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

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

  // Nothing left to report and the interval over: forgetting it changes nothing.
  bool Idle(std::chrono::steady_clock::time_point now) const {
    return suppressed_ == 0 && (!logged_ || now - last_ >= interval_);
  }

 private:
  const std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point last_;
  bool logged_ = false;
  std::uint64_t suppressed_ = 0;
};

// One Limiter per (kind of event, peer), so a peer that repeats an event cannot hide
// another peer's, and one kind cannot hide another. Peers are chosen by clients, so the
// table is bounded: when it holds `max_keys`, idle entries are forgotten (at most once
// per interval), and if it is still full the peers that do not fit share one limiter per
// kind (still limited, just no longer apart).
class KeyedLimiter {
 public:
  explicit KeyedLimiter(std::chrono::steady_clock::duration interval, std::size_t max_keys = 4096)
      : interval_(interval), max_keys_(max_keys) {}

  bool Allow(std::string_view kind, std::string_view peer, std::uint64_t* suppressed) {
    std::lock_guard lock(mutex_);
    auto key = std::make_pair(std::string(kind), std::string(peer));
    auto it = limiters_.find(key);
    if (it == limiters_.end()) {
      if (limiters_.size() >= max_keys_) ForgetIdle();
      if (limiters_.size() >= max_keys_) key.second = "(others)";
      it = limiters_.try_emplace(std::move(key), interval_).first;
    }
    return it->second.Allow(suppressed);
  }

 private:
  void ForgetIdle() {
    const auto now = std::chrono::steady_clock::now();
    if (swept_ && now - last_sweep_ < interval_) return;
    swept_ = true;
    last_sweep_ = now;
    std::erase_if(limiters_, [&](const auto& entry) { return entry.second.Idle(now); });
  }

  const std::chrono::steady_clock::duration interval_;
  const std::size_t max_keys_;
  bool swept_ = false;
  std::chrono::steady_clock::time_point last_sweep_;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, Limiter> limiters_;
};

}  // namespace skewless::log
