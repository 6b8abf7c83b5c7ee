// logfmt / JSON line formatting over spdlog's thread-safe stderr sink.
#include "skewless/common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace skewless::log {
namespace {

std::atomic<Level> g_min_level{Level::kInfo};
std::atomic<Format> g_format{Format::kLogfmt};

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      break;
  }
  return "error";
}

// spdlog does the locking and writing; our line is already formatted.
spdlog::logger& Sink() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto created = std::make_shared<spdlog::logger>("skewless", sink);
    created->set_pattern("%v");
    created->set_level(spdlog::level::trace);
    created->flush_on(spdlog::level::trace);
    return created;
  }();
  return *logger;
}

// logfmt quotes a value that is empty or holds a space, quote, '=' or control char.
std::string LogfmtValue(std::string_view value) {
  bool quote = value.empty();
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      quote = true;
    }
  }
  if (!quote) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

absl::StatusOr<Level> ParseLevel(std::string_view name) {
  for (Level level : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (name == LevelName(level)) return level;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("log level \"", std::string(name), "\" is not one of debug, info, warn, error"));
}

absl::StatusOr<Format> ParseFormat(std::string_view name) {
  if (name == "logfmt") return Format::kLogfmt;
  if (name == "json") return Format::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("log format \"", std::string(name), "\" is not one of logfmt, json"));
}

void Configure(Level min_level, Format format) {
  g_min_level = min_level;
  g_format = format;
}

void Write(Level level, std::string_view message, Fields fields) {
  if (level < g_min_level.load()) return;
  const std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::string line;
  if (g_format.load() == Format::kJson) {
    nlohmann::json object = {{"ts", ts}, {"level", LevelName(level)}, {"msg", message}};
    for (const auto& [key, value] : fields) object[std::string(key)] = value;
    line = object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = "ts=" + ts + " level=" + std::string(LevelName(level)) + " msg=" + LogfmtValue(message);
    for (const auto& [key, value] : fields) {
      line += " " + std::string(key) + "=" + LogfmtValue(value);
    }
  }
  Sink().log(spdlog::level::info, spdlog::string_view_t(line.data(), line.size()));
}

std::string Clip(std::string_view client_text, std::size_t max_bytes) {
  if (client_text.size() <= max_bytes) return std::string(client_text);
  std::string clipped(client_text.substr(0, max_bytes));
  absl::StrAppend(&clipped, "...(", client_text.size(), " bytes)");
  return clipped;
}

}  // namespace skewless::log
