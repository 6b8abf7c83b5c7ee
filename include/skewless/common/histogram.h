// Log-linear latency histogram: fixed memory, <1% error, exact merges across processes.
#pragma once

#include <array>
#include <cstdint>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace skewless {

// Records non-negative values in nanoseconds. Each power-of-two range is split
// into kSubBuckets equal buckets (HdrHistogram's layout), so a bucket is at most
// 1/128 of its lower bound wide and the value reported for it (its midpoint) is
// within 0.4% of any value it holds. Values below 256 ns are exact. 4096 buckets
// (32 KiB) cover 0 to 2^38 ns (275 s); larger values land in the last bucket,
// while max_ns() stays exact.
class Histogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr int64_t kSubBuckets = int64_t{1} << kSubBucketBits;
  static constexpr int kBucketCount = 4096;
  // Largest value that keeps the error bound; above it values are clamped.
  static constexpr int64_t kMaxTrackableNs = (int64_t{1} << 38) - 1;

  void Record(int64_t value_ns) { RecordN(value_ns, 1); }
  void RecordN(int64_t value_ns, uint64_t n);
  // Adds every sample of `other`; the result equals the histogram of the union.
  void Merge(const Histogram& other);

  uint64_t count() const { return count_; }
  // 0 when empty.
  int64_t min_ns() const { return count_ == 0 ? 0 : min_ns_; }
  int64_t max_ns() const { return max_ns_; }
  double mean_ns() const { return count_ == 0 ? 0.0 : sum_ns_ / static_cast<double>(count_); }
  // Nearest-rank percentile, p in [0, 100]: the smallest recorded value v with at
  // least p% of samples <= v, reported as its bucket's midpoint clamped to
  // [min, max]. 0 when empty.
  int64_t PercentileNs(double p) const;

  // Bucket arithmetic, public so tests and JSON can check boundaries.
  static int BucketIndex(int64_t value_ns);
  static int64_t BucketLowerNs(int index);
  static int64_t BucketWidthNs(int index);

  // {"count", "sum_ns", "min_ns", "max_ns", "buckets": [[lower_ns, count], ...],
  //  "summary_us": {...}}. Buckets are sparse and named by their lower bound so a
  // reader needs no knowledge of the layout; "summary_us" is for people and is
  // ignored when parsing.
  nlohmann::json ToJson() const;
  static absl::StatusOr<Histogram> FromJson(const nlohmann::json& j);

  friend bool operator==(const Histogram& a, const Histogram& b) = default;

 private:
  std::array<uint64_t, kBucketCount> buckets_{};
  uint64_t count_ = 0;
  // double, not int64: a long run of slow RPCs would overflow a nanosecond sum.
  double sum_ns_ = 0;
  int64_t min_ns_ = 0;
  int64_t max_ns_ = 0;
};

}  // namespace skewless
