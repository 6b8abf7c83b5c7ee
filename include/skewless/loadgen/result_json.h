// Result <-> JSON, the format loadgen processes hand to the lab for merging.
#pragma once

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "skewless/loadgen/result.h"

namespace skewless::loadgen {

// Schema tag written as "schema"; readers refuse anything else.
inline constexpr char kResultSchema[] = "skewless.loadgen.result/v1";

nlohmann::json ToJson(const Result& result);
absl::StatusOr<Result> ResultFromJson(const nlohmann::json& json);

}  // namespace skewless::loadgen
