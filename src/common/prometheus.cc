// Prometheus text exposition: escaping, number formatting and the three metric kinds.
#include "skewless/common/prometheus.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace skewless::prometheus {
namespace {

// Label values escape backslash, double quote and newline; HELP escapes the first and
// the last only (exposition format spec).
std::string Escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  return buffer;
}

std::string Labels(const std::vector<std::string>& names, const LabelValues& values,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (i > 0) out += ",";
    out += names[i] + "=\"" + Escape(values[i], true) + "\"";
  }
  if (!extra_name.empty()) {
    if (out.size() > 1) out += ",";
    out += std::string(extra_name) + "=\"" + std::string(extra_value) + "\"";
  }
  return out + "}";
}

}  // namespace

void Gauge::Add(double by) {
  double current = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(current, current + by, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), counts_(upper_bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  const std::size_t bucket =
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin();
  std::lock_guard lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
}

Histogram::Data Histogram::Collect() const {
  std::lock_guard lock(mutex_);
  Data data;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    cumulative += counts_[i];
    data.buckets.emplace_back(i < upper_bounds_.size() ? upper_bounds_[i] : INFINITY, cumulative);
  }
  data.sum = sum_;
  data.count = cumulative;
  return data;
}

std::vector<double> LatencyBucketsSeconds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  auto entry = std::make_unique<Entry>(Entry{.name = std::move(name), .help = std::move(help)});
  entry->counter = std::make_unique<Family<Counter>>(std::move(label_names));
  std::lock_guard lock(mutex_);
  return *entries_.emplace_back(std::move(entry))->counter;
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  auto entry = std::make_unique<Entry>(Entry{.name = std::move(name), .help = std::move(help)});
  entry->gauge = std::make_unique<Family<Gauge>>(std::move(label_names));
  std::lock_guard lock(mutex_);
  return *entries_.emplace_back(std::move(entry))->gauge;
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<double> upper_bounds,
                                          std::vector<std::string> label_names) {
  auto entry = std::make_unique<Entry>(Entry{.name = std::move(name), .help = std::move(help)});
  entry->histogram =
      std::make_unique<Family<Histogram>>(std::move(label_names), std::move(upper_bounds));
  std::lock_guard lock(mutex_);
  return *entries_.emplace_back(std::move(entry))->histogram;
}

std::string Registry::Render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& entry : entries_) {
    const char* type = entry->counter ? "counter" : entry->gauge ? "gauge" : "histogram";
    out += "# HELP " + entry->name + " " + Escape(entry->help, false) + "\n";
    out += "# TYPE " + entry->name + " " + type + "\n";
    if (entry->counter) {
      entry->counter->ForEach([&](const LabelValues& values, const Counter& counter) {
        out += entry->name + Labels(entry->counter->label_names(), values) + " " +
               std::to_string(counter.value()) + "\n";
      });
    } else if (entry->gauge) {
      entry->gauge->ForEach([&](const LabelValues& values, const Gauge& gauge) {
        out += entry->name + Labels(entry->gauge->label_names(), values) + " " +
               FormatNumber(gauge.value()) + "\n";
      });
    } else {
      const auto& names = entry->histogram->label_names();
      entry->histogram->ForEach([&](const LabelValues& values, const Histogram& histogram) {
        Histogram::Data data = histogram.Collect();
        for (const auto& [le, count] : data.buckets) {
          out += entry->name + "_bucket" + Labels(names, values, "le", FormatNumber(le)) + " " +
                 std::to_string(count) + "\n";
        }
        out += entry->name + "_sum" + Labels(names, values) + " " + FormatNumber(data.sum) + "\n";
        out += entry->name + "_count" + Labels(names, values) + " " + std::to_string(data.count) +
               "\n";
      });
    }
  }
  return out;
}

}  // namespace skewless::prometheus
