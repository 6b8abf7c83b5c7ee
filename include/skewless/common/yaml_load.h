// Loading a YAML document into yaml-cpp's tree, with a syntax error turned into a status
// that names the source, line and column (every YAML parser of ours starts here).
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace skewless {

inline absl::StatusOr<YAML::Node> LoadYaml(std::string_view document,
                                           std::string_view source_name) {
  try {
    return YAML::Load(std::string(document));
  } catch (const YAML::Exception& e) {
    std::string where(source_name);
    if (!e.mark.is_null()) absl::StrAppend(&where, ":", e.mark.line + 1, ":", e.mark.column + 1);
    return absl::InvalidArgumentError(absl::StrCat(where, ": not valid YAML: ", e.msg));
  }
}

}  // namespace skewless
