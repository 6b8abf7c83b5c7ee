#include "lease_keeper.h"

#include <cstdint>

#include "skewless/datapath/service_table.h"

namespace skewless::splicer {

LeaseKeeper::LeaseKeeper(std::unique_ptr<datapath::SplicerLease> lease,
                         std::chrono::milliseconds period, std::chrono::milliseconds lease_length)
    : lease_(std::move(lease)), period_(period), lease_length_(lease_length) {
  Renew();  // held before the constructor returns: the caller's listeners are up
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, period_, [this] { return released_; })) Renew();
  });
}

LeaseKeeper::~LeaseKeeper() { Release(); }

void LeaseKeeper::Renew() {
  lease_->Renew(datapath::MonotonicNowNs() +
                static_cast<std::uint64_t>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(lease_length_).count()));
}

void LeaseKeeper::Release() {
  {
    std::lock_guard lock(mutex_);
    if (released_) return;
    released_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  lease_->Release();
}

}  // namespace skewless::splicer
