// One thread that runs callbacks at their due time: the pods' precise, CPU-free "service time".
#include "sleep_timer.h"

#include <algorithm>

namespace skewless::podserver {
namespace {

// std heap functions build a max-heap; "later" as less-than puts the earliest on top.
struct Later {
  template <typename E>
  bool operator()(const E& a, const E& b) const {
    return a.due != b.due ? a.due > b.due : a.seq > b.seq;
  }
};

}  // namespace

SleepTimer::SleepTimer() : thread_([this] { Loop(); }) {}

SleepTimer::~SleepTimer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void SleepTimer::At(Clock::time_point due, std::function<void()> callback) {
  bool new_earliest = false;
  {
    std::lock_guard lock(mu_);
    heap_.push_back(Entry{due, next_seq_++, std::move(callback)});
    std::push_heap(heap_.begin(), heap_.end(), Later{});
    new_earliest = heap_.front().seq == next_seq_ - 1;
  }
  // Only a new earliest deadline changes how long the thread should sleep.
  if (new_earliest) wake_.notify_one();
}

void SleepTimer::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    if (heap_.empty()) {
      if (stopping_) return;
      wake_.wait(lock);
      continue;
    }
    // A copy: wait_until holds on to its argument while the lock is released,
    // and At() may reallocate the heap meanwhile.
    const Clock::time_point due = heap_.front().due;
    if (!stopping_ && Clock::now() < due) {
      wake_.wait_until(lock, due);
      continue;
    }
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    std::function<void()> callback = std::move(heap_.back().callback);
    heap_.pop_back();
    lock.unlock();
    callback();
    lock.lock();
  }
}

}  // namespace skewless::podserver
