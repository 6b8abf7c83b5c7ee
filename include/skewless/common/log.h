// Structured logs for the daemons: one line per event, logfmt (default) or JSON, with
// a message and key=value fields that log pipelines can index.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace skewless::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kLogfmt, kJson };

absl::StatusOr<Level> ParseLevel(std::string_view name);    // debug, info, warn, error
absl::StatusOr<Format> ParseFormat(std::string_view name);  // logfmt, json

// Process-wide; lines below `min_level` are dropped. Default: info, logfmt, stderr.
void Configure(Level min_level, Format format);

using Fields = std::initializer_list<std::pair<std::string_view, std::string>>;

// Writes `ts=... level=... msg="..." key=value ...` (or the JSON object) to stderr.
// Thread-safe: lines never interleave.
void Write(Level level, std::string_view message, Fields fields = {});

inline void Debug(std::string_view message, Fields fields = {}) {
  Write(Level::kDebug, message, fields);
}
inline void Info(std::string_view message, Fields fields = {}) {
  Write(Level::kInfo, message, fields);
}
inline void Warn(std::string_view message, Fields fields = {}) {
  Write(Level::kWarn, message, fields);
}
inline void Error(std::string_view message, Fields fields = {}) {
  Write(Level::kError, message, fields);
}

}  // namespace skewless::log
