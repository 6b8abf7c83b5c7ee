// Small text forms the renderers share: durations, percentages, ratios.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "nlohmann/json.hpp"

namespace skewless::ctl {

// "850ms", "12.3s", "4m05s", "3h12m", "2d04h".
std::string FormatDuration(std::uint64_t ns);
// 415 → "41.5%", 1000 → "100%".
std::string FormatPermille(std::uint64_t permille);
// part/whole as "40.0%"; "-" when whole is 0.
std::string FormatShare(std::uint64_t part, std::uint64_t whole);
// 2000 → "2.00x".
std::string FormatRatio(std::uint64_t permille);
// part/whole rounded to 4 digits for JSON; null when whole is 0.
nlohmann::ordered_json ShareJson(std::uint64_t part, std::uint64_t whole);
// A value for JSON, or null when absent.
nlohmann::ordered_json OptionalJson(const std::optional<std::string>& value);

}  // namespace skewless::ctl
