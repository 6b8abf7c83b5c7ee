// The record of what one lab run created, kept on disk so that
// `skewless-lab cleanup` can remove it after a crash, and only it.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skewless::lab {

// A process we started, identified beyond pid reuse by its start time.
struct RecordedProcess {
  pid_t pid = 0;
  unsigned long long start_time = 0;
};

struct RunState {
  std::string id;
  RecordedProcess owner;             // the skewless-lab process of the run
  std::vector<std::string> netns;    // names under /run/netns
  std::vector<std::string> cgroups;  // absolute paths, children before parents
  std::vector<RecordedProcess> processes;
  // bpffs instances we mounted (the steering dataplane pins there), each
  // holding pin directories of a data path; uninstalled, unmounted, removed.
  std::vector<std::string> bpffs_mounts;
};

// Where run records live: on tmpfs, like /run/netns, so a reboot clears both.
inline constexpr char kDefaultStateDir[] = "/run/skewless-lab";

// Writes the record atomically (temp file + rename). Intent is recorded
// BEFORE a resource is created: a crash in between leaves a name that
// cleanup finds missing, which is fine; the reverse would leak.
absl::Status SaveState(const std::string& state_dir, const RunState& state);
absl::StatusOr<RunState> LoadState(const std::string& path);
absl::Status RemoveState(const std::string& state_dir, const std::string& id);
std::string StatePath(const std::string& state_dir, const std::string& id);
// Paths of every run record in the directory (none when it does not exist).
std::vector<std::string> ListStates(const std::string& state_dir);
// Directory for a run's logs (children's stderr).
std::string LogDir(const std::string& state_dir, const std::string& id);

// True if the recorded process is still the one we started.
bool IsAlive(const RecordedProcess& process);
RecordedProcess RecordSelf();
RecordedProcess Record(pid_t pid);

}  // namespace skewless::lab
