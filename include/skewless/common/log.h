// Structured logs for the daemons: one line per event, logfmt (default) or JSON, with
// a message and key=value fields that log pipelines can index.
#pragma once

#include <cstddef>
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

// A string a client sent (a node id, an error detail, a type URL, a resource name), cut to
// `max_bytes` for a log line, with the original length: a client must not decide how
// much we write. "abc…(1048576 bytes)".
inline constexpr std::size_t kClientStringLogBytes = 256;
std::string Clip(std::string_view client_text, std::size_t max_bytes = kClientStringLogBytes);

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
