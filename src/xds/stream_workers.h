// A small pool of threads that runs ADS streams' work (apply requests, compute and
// serialize responses) off gRPC's callback threads and off the cache's updating thread.
// Work of a large stream (a 40,000-name subscription takes tens of milliseconds) is
// "heavy": it runs on all threads but one, so the small work of every other stream
// never waits behind it (measured: a good client's p99 went from 1 ms to 100 ms beside
// eight such streams on one FIFO queue).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace skewless::xds::internal {

class StreamWorkers {
 public:
  explicit StreamWorkers(unsigned threads) : max_heavy_(threads > 1 ? threads - 1 : 1) {
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~StreamWorkers() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& thread : threads_) thread.join();
  }
  StreamWorkers(const StreamWorkers&) = delete;
  StreamWorkers& operator=(const StreamWorkers&) = delete;

  // Runs `task` (light) once `delay` has passed.
  void PostAfter(std::chrono::steady_clock::duration delay, std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      timed_.emplace(std::chrono::steady_clock::now() + delay, std::move(task));
    }
    wake_.notify_all();
  }

  void Post(std::function<void()> task, bool heavy = false) {
    {
      std::lock_guard lock(mutex_);
      (heavy ? heavy_tasks_ : tasks_).push_back(std::move(task));
    }
    wake_.notify_all();  // the one that can take it may not be the one notify_one picks
  }

 private:
  void Run() {
    while (true) {
      std::function<void()> task;
      bool heavy = false;
      {
        std::unique_lock lock(mutex_);
        auto can_run_heavy = [&] {
          return !heavy_tasks_.empty() && (heavy_running_ < max_heavy_ || stopping_);
        };
        auto ready = [&] {
          // Due timed tasks join the light queue.
          const auto now = std::chrono::steady_clock::now();
          while (!timed_.empty() && timed_.begin()->first <= now) {
            tasks_.push_back(std::move(timed_.begin()->second));
            timed_.erase(timed_.begin());
          }
          return stopping_ || !tasks_.empty() || can_run_heavy();
        };
        while (!ready()) {
          if (timed_.empty()) {
            wake_.wait(lock);
          } else {
            // A copy: another worker may run (and erase) that task while this one waits, and
            // wait_until reads its deadline again on waking.
            const std::chrono::steady_clock::time_point next = timed_.begin()->first;
            wake_.wait_until(lock, next);
          }
        }
        if (!tasks_.empty()) {
          task = std::move(tasks_.front());
          tasks_.pop_front();
        } else if (can_run_heavy()) {
          task = std::move(heavy_tasks_.front());
          heavy_tasks_.pop_front();
          heavy = true;
          ++heavy_running_;
        } else {
          return;  // stopping, and nothing left to run
        }
      }
      task();
      if (heavy) {
        std::lock_guard lock(mutex_);
        --heavy_running_;
        wake_.notify_all();
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  std::deque<std::function<void()>> heavy_tasks_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> timed_;
  const unsigned max_heavy_;  // threads that may run heavy work at once
  unsigned heavy_running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace skewless::xds::internal
