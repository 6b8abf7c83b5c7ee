// Text forms of durations, percentages and ratios for tables.
#include "format.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace skewless::ctl {

std::string FormatDuration(std::uint64_t ns) {
  const std::uint64_t ms = ns / 1'000'000;
  if (ms < 1000) return absl::StrFormat("%dms", ms);
  const double seconds = static_cast<double>(ns) / 1e9;
  if (seconds < 60) return absl::StrFormat("%.1fs", seconds);
  const std::uint64_t s = ns / 1'000'000'000;
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

std::string FormatPermille(std::uint64_t permille) {
  if (permille % 10 == 0) return absl::StrFormat("%d%%", permille / 10);
  return absl::StrFormat("%d.%d%%", permille / 10, permille % 10);
}

std::string FormatShare(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return "-";
  return absl::StrFormat("%.1f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

std::string FormatRatio(std::uint64_t permille) {
  return absl::StrFormat("%.2fx", static_cast<double>(permille) / 1000.0);
}

nlohmann::ordered_json ShareJson(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return nullptr;
  return std::round(10000.0 * static_cast<double>(part) / static_cast<double>(whole)) / 10000.0;
}

nlohmann::ordered_json OptionalJson(const std::optional<std::string>& value) {
  if (!value) return nullptr;
  return *value;
}

}  // namespace skewless::ctl
