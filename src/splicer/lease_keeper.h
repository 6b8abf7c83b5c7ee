// Holds the data path's splicer lease (abi.h skw_splicer_lease) while this splicer takes
// connections: renewed from a thread of its own every `period`, for `lease` ahead, and
// released when draining starts, so connects stop coming here before the listeners close.
// A splicer that dies without releasing stops being sent connects when the lease lapses.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "skewless/datapath/splice_maps.h"

namespace skewless::splicer {

class LeaseKeeper {
 public:
  LeaseKeeper(std::unique_ptr<datapath::SplicerLease> lease, std::chrono::milliseconds period,
              std::chrono::milliseconds lease_length);
  ~LeaseKeeper();  // releases
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Stops renewing and ends the lease now; idempotent.
  void Release();

 private:
  void Renew();

  std::unique_ptr<datapath::SplicerLease> lease_;
  const std::chrono::milliseconds period_;
  const std::chrono::milliseconds lease_length_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool released_ = false;
  std::thread thread_;
};

}  // namespace skewless::splicer
