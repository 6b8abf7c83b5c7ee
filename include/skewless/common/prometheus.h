// Prometheus metrics in the text exposition format (0.0.4): counters, gauges and
// histograms with labels, registered once and rendered by a /metrics handler.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace skewless::prometheus {

// Label values of one series, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

// A monotonically increasing count (e.g. pushes sent). Lock-free on the hot path.
class Counter {
 public:
  void Increment(std::uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down (e.g. streams connected).
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double by);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Cumulative buckets with fixed upper bounds (seconds, bytes, ...), plus sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);

  struct Data {
    std::vector<std::pair<double, std::uint64_t>> buckets;  // (le, cumulative count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  Data Collect() const;

 private:
  const std::vector<double> upper_bounds_;
  mutable std::mutex mutex_;           // observations are rare next to the work they time
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; last is +Inf
  double sum_ = 0;
};

// Buckets for latencies from 0.5 ms to 10 s.
std::vector<double> LatencyBucketsSeconds();

// A named family of series sharing label names, e.g. xds_pushes_total{type_url}.
template <typename Metric>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::vector<double> buckets = {})
      : label_names_(std::move(label_names)), buckets_(std::move(buckets)) {}

  // The series for these label values, created on first use; stable address.
  Metric& With(const LabelValues& values) {
    std::lock_guard lock(mutex_);
    auto it = series_.find(values);
    if (it == series_.end()) it = series_.emplace(values, Make()).first;
    return *it->second;
  }

  const std::vector<std::string>& label_names() const { return label_names_; }
  template <typename Visit>
  void ForEach(Visit visit) const {
    std::lock_guard lock(mutex_);
    for (const auto& [values, metric] : series_) visit(values, *metric);
  }

 private:
  std::unique_ptr<Metric> Make() {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      return std::make_unique<Histogram>(buckets_);
    } else {
      return std::make_unique<Metric>();
    }
  }

  const std::vector<std::string> label_names_;
  const std::vector<double> buckets_;
  mutable std::mutex mutex_;
  std::map<LabelValues, std::unique_ptr<Metric>> series_;
};

// Owns metric families and renders them. Names follow Prometheus conventions: a
// component prefix, base units, _total for counters.
class Registry {
 public:
  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<double> upper_bounds,
                                  std::vector<std::string> label_names = {});

  // The text exposition of every family, in registration order.
  std::string Render() const;

 private:
  struct Entry {
    std::string name;
    std::string help;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
  };
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Content-Type of Render()'s output.
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace skewless::prometheus
