// Recovery from crashed lab runs: remove what their records list, nothing else.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace skewless::lab {

struct CleanupReport {
  std::vector<std::string> removed;   // run ids cleaned up
  std::vector<std::string> skipped;   // run ids whose owner is still running
  std::vector<std::string> failures;  // "id: what failed"
};

// Cleans every recorded run whose owning skewless-lab process is gone (or
// all of them with `force`), or only `only_id` when given.
CleanupReport CleanupRuns(const std::string& state_dir, bool force, const std::string& only_id);

}  // namespace skewless::lab
