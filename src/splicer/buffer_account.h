// What the splicer holds for its clients, counted where it is held. A client connection's
// streams (bodies both ways and decoded headers) count in the connection's account, which
// counts in its worker's, which counts in the process-wide gauge. An account that goes over
// its limit tells its owner once per crossing; the owner sheds from its event loop, never
// from inside an nghttp2 callback.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "skewless/common/prometheus.h"

namespace skewless::splicer {

class BufferAccount {
 public:
  // `parent` (may be null) also counts every byte; `gauge` (may be null) too. `on_over` runs
  // when a change takes the account from within its limit to above it.
  BufferAccount(BufferAccount* parent, std::size_t limit, prometheus::Gauge* gauge,
                std::function<void()> on_over)
      : parent_(parent), limit_(limit), gauge_(gauge), on_over_(std::move(on_over)) {}
  BufferAccount(const BufferAccount&) = delete;
  BufferAccount& operator=(const BufferAccount&) = delete;
  // Whatever is still counted here is taken back from the parent and the gauge.
  ~BufferAccount() { Add(-used_); }

  void Add(std::int64_t delta) {
    if (delta == 0) return;
    const bool was_over = over();
    used_ += delta;
    if (used_ > peak_) peak_ = used_;
    if (parent_ != nullptr) parent_->Add(delta);
    if (gauge_ != nullptr) gauge_->Add(static_cast<double>(delta));
    if (!was_over && over() && on_over_) on_over_();
  }
  std::int64_t used() const { return used_; }
  bool over() const { return used_ > static_cast<std::int64_t>(limit_); }
  std::size_t limit() const { return limit_; }
  // The most held since the last ResetPeak (the worker trims the allocator after a burst).
  std::int64_t peak() const { return peak_; }
  void ResetPeak() { peak_ = used_; }

 private:
  BufferAccount* const parent_;
  const std::size_t limit_;
  prometheus::Gauge* const gauge_;
  const std::function<void()> on_over_;
  std::int64_t used_ = 0;
  std::int64_t peak_ = 0;
};

}  // namespace skewless::splicer
