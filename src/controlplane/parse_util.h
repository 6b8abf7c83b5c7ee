// Helpers the control plane's parsers share: early return on a non-OK status,
// std::string_view for absl::StrCat, and the paths that errors name fields by.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

// Returns early with a non-OK status; the control plane has no exceptions at boundaries,
// so every check reports through this.
#define SKW_RETURN_IF_ERROR(expr)                                     \
  do {                                                                \
    if (absl::Status _status = (expr); !_status.ok()) return _status; \
  } while (false)

namespace skewless::controlplane {

// Debian's absl is built without std::string_view as absl::string_view; StrCat needs this.
inline absl::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

// "spec.ports" + "port" -> "spec.ports.port"; the root path is "".
inline std::string Child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", Sv(key));
}

// "spec.ports" + 2 -> "spec.ports[2]".
inline std::string Index(const std::string& path, std::size_t i) {
  return absl::StrCat(path, "[", i, "]");
}

}  // namespace skewless::controlplane
