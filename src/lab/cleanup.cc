// `skewless-lab cleanup`: finish the teardown of runs that died (kill -9, crash).
#include "skewless/lab/cleanup.h"

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "skewless/lab/node.h"
#include "skewless/lab/state.h"

namespace skewless::lab {

CleanupReport CleanupRuns(const std::string& state_dir, bool force, const std::string& only_id) {
  CleanupReport report;
  for (const auto& path : ListStates(state_dir)) {
    auto state = LoadState(path);
    if (!state.ok()) {
      report.failures.push_back(absl::StrCat(path, ": ", state.status().message()));
      continue;
    }
    if (!only_id.empty() && state->id != only_id) continue;
    if (!force && IsAlive(state->owner)) {
      report.skipped.push_back(state->id);
      continue;
    }
    if (IsAlive(state->owner)) kill(state->owner.pid, SIGKILL);
    absl::Status status = RemoveRecordedRun(state_dir, *state);
    if (status.ok()) {
      report.removed.push_back(state->id);
    } else {
      report.failures.push_back(absl::StrCat(state->id, ": ", status.message()));
    }
  }
  return report;
}

}  // namespace skewless::lab
