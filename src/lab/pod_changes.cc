// Applying --add-pod-at and --remove-pod-at at their time.
#include "skewless/lab/pod_changes.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "skewless/lab/node.h"

namespace skewless::lab {

int64_t UnixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

PodChanges::PodChanges(const LabConfig& config, const LabPlan& plan) {
  for (std::size_t i = 0; i < plan.pods.size(); ++i) {
    const PodSpec& pod = plan.pods[i];
    if (pod.joins_late) pending_.push_back({PodChange::kAdded, i, pod.name, config.add_pod_at});
    const std::string removed = config.remove_pod.empty() ? "pod-0" : config.remove_pod;
    if (config.remove_pod_at.count() > 0 && pod.name == removed && !pod.joins_late) {
      pending_.push_back({PodChange::kRemoved, i, pod.name, config.remove_pod_at});
    }
  }
  // At the same time, the addition first: a rolling update with surge lists the new pod
  // before it takes the old one away.
  std::sort(pending_.begin(), pending_.end(), [](const PodChange& a, const PodChange& b) {
    return a.at != b.at ? a.at < b.at : a.kind == PodChange::kAdded && b.kind != a.kind;
  });
}

absl::Status PodChanges::ApplyDue(Node& node, std::chrono::milliseconds into_measured,
                                  const std::function<void(const std::string&)>& say) {
  while (!pending_.empty() && pending_.front().at <= into_measured) {
    PodChange change = pending_.front();
    pending_.erase(pending_.begin());
    if (change.kind == PodChange::kAdded) {
      if (auto status = node.StartLatePod(change.pod_index); !status.ok()) return status;
      change.applied_unix_ms = UnixMillisNow();
      if (auto status = node.SetPodEndpoint(change.pod_index, PodEndpoint::kReady); !status.ok()) {
        return status;
      }
      say(absl::StrCat("lab ", node.id(), ": ", change.pod, " added (listed as ready)"));
    } else {
      change.applied_unix_ms = UnixMillisNow();
      if (auto status = node.SetPodEndpoint(change.pod_index, PodEndpoint::kRemoved);
          !status.ok()) {
        return status;
      }
      if (auto status = node.StopPod(change.pod_index); !status.ok()) return status;
      say(absl::StrCat("lab ", node.id(), ": ", change.pod, " removed (unlisted, stopped)"));
    }
    applied_.push_back(change);
  }
  return absl::OkStatus();
}

}  // namespace skewless::lab
