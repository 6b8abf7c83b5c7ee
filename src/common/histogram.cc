// Log-linear latency histogram: bucket arithmetic, percentiles, merging and JSON.
#include "skewless/common/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace skewless {

int Histogram::BucketIndex(int64_t value_ns) {
  const auto v = static_cast<uint64_t>(std::clamp<int64_t>(value_ns, 0, kMaxTrackableNs));
  const int msb = 63 - std::countl_zero(v | 1);
  const int shift = std::max(0, msb - kSubBucketBits);
  // For v >= 2^7, v >> shift lies in [128, 256): the top 8 significant bits.
  // Consecutive octaves then take consecutive runs of 128 indices.
  return (shift << kSubBucketBits) + static_cast<int>(v >> shift);
}

int64_t Histogram::BucketLowerNs(int index) {
  const int shift = std::max(0, (index >> kSubBucketBits) - 1);
  return static_cast<int64_t>(index - (shift << kSubBucketBits)) << shift;
}

int64_t Histogram::BucketWidthNs(int index) {
  return int64_t{1} << std::max(0, (index >> kSubBucketBits) - 1);
}

void Histogram::RecordN(int64_t value_ns, uint64_t n) {
  if (n == 0) return;
  value_ns = std::max<int64_t>(value_ns, 0);
  buckets_[BucketIndex(value_ns)] += n;
  if (count_ == 0 || value_ns < min_ns_) min_ns_ = value_ns;
  max_ns_ = std::max(max_ns_, value_ns);
  count_ += n;
  sum_ns_ += static_cast<double>(value_ns) * static_cast<double>(n);
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (int i = 0; i < kBucketCount; ++i) buckets_[i] += other.buckets_[i];
  min_ns_ = count_ == 0 ? other.min_ns_ : std::min(min_ns_, other.min_ns_);
  max_ns_ = std::max(max_ns_, other.max_ns_);
  count_ += other.count_;
  sum_ns_ += other.sum_ns_;
}

int64_t Histogram::PercentileNs(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // The epsilon keeps e.g. p=7 of 100 samples at rank 7: 0.07 * 100 is
  // 7.000000000000001 in binary floating point.
  const double exact_rank = p / 100.0 * static_cast<double>(count_);
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(exact_rank - 1e-9)));
  // The top rank is the maximum, known exactly even beyond the tracked range.
  if (rank >= count_) return max_ns_;
  uint64_t seen = 0;
  for (int i = 0; i < kBucketCount; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      const int64_t mid = BucketLowerNs(i) + (BucketWidthNs(i) - 1) / 2;
      return std::clamp(mid, min_ns_, max_ns_);
    }
  }
  return max_ns_;
}

nlohmann::json Histogram::ToJson() const {
  nlohmann::json buckets = nlohmann::json::array();
  for (int i = 0; i < kBucketCount; ++i) {
    if (buckets_[i] != 0) buckets.push_back({BucketLowerNs(i), buckets_[i]});
  }
  const auto us = [](double ns) { return ns / 1000.0; };
  return {
      {"count", count_},
      {"sum_ns", sum_ns_},
      {"min_ns", min_ns()},
      {"max_ns", max_ns_},
      {"summary_us",
       {{"mean", us(mean_ns())},
        {"p50", us(PercentileNs(50))},
        {"p90", us(PercentileNs(90))},
        {"p99", us(PercentileNs(99))},
        {"p999", us(PercentileNs(99.9))},
        {"max", us(max_ns_)}}},
      {"buckets", std::move(buckets)},
  };
}

absl::StatusOr<Histogram> Histogram::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("histogram: expected a JSON object");
  Histogram h;
  try {
    const auto count = j.at("count").get<uint64_t>();
    const auto& buckets = j.at("buckets");
    if (!buckets.is_array()) return absl::InvalidArgumentError("histogram: buckets not an array");
    for (const auto& b : buckets) {
      if (!b.is_array() || b.size() != 2) {
        return absl::InvalidArgumentError(
            absl::StrCat("histogram: bucket must be [lower_ns, count], got ", b.dump()));
      }
      const auto lower = b[0].get<int64_t>();
      const auto n = b[1].get<uint64_t>();
      const int index = BucketIndex(lower);
      // Rejects histograms written with another layout instead of silently
      // shifting their samples into neighbouring buckets.
      if (lower < 0 || BucketLowerNs(index) != lower) {
        return absl::InvalidArgumentError(
            absl::StrCat("histogram: ", lower, " ns is not a bucket boundary of this layout"));
      }
      h.buckets_[index] += n;
      h.count_ += n;
    }
    if (h.count_ != count) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram: buckets hold ", h.count_, " samples but count says ", count));
    }
    h.sum_ns_ = j.at("sum_ns").get<double>();
    h.min_ns_ = j.at("min_ns").get<int64_t>();
    h.max_ns_ = j.at("max_ns").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("histogram: ", e.what()));
  }
  if (h.count_ > 0 && (h.min_ns_ < 0 || h.min_ns_ > h.max_ns_)) {
    return absl::InvalidArgumentError("histogram: min_ns/max_ns inconsistent");
  }
  return h;
}

}  // namespace skewless
