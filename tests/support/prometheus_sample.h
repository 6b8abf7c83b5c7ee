// Reads one sample out of a Prometheus text exposition, for tests that check a metric.
#pragma once

#include <string>

namespace skewless::testing {

// The value of `series` (a name with its labels, exactly as rendered), or -1 when the
// text has no such sample.
inline double SampleValue(const std::string& text, const std::string& series) {
  const std::size_t at = text.find("\n" + series + " ");  // the sample, not its # HELP
  return at == std::string::npos ? -1 : std::stod(text.substr(at + series.size() + 2));
}

}  // namespace skewless::testing
