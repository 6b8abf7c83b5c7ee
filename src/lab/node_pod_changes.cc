// Pods that change mid-run: a late pod started, a pod stopped, and the Service's
// endpoints rewritten for every dataplane (the control plane's document, or kube-proxy's
// rules).
#include <signal.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "skewless/lab/node.h"

namespace skewless::lab {

absl::Status Node::SetPodEndpoint(std::size_t index, PodEndpoint state) {
  if (index >= plan_.pods.size()) {
    return absl::NotFoundError(
        absl::StrCat("no pod #", index, " (", plan_.pods.size(), " in the plan)"));
  }
  pod_endpoints_[index] = state;
  if (config_.dataplane == Dataplane::kIptables || config_.dataplane == Dataplane::kNftables) {
    // kube-proxy programs ready endpoints only (terminating ones serve only when nothing
    // is ready, a case the baselines do not model).
    service_.endpoints.clear();
    for (size_t i = 0; i < plan_.pods.size(); ++i) {
      if (pod_endpoints_[i] == PodEndpoint::kReady) {
        service_.endpoints.push_back({plan_.pods[i].ip, config_.service_port});
      }
    }
    return ReplaceServiceRules(config_.dataplane, NodeNetns(plan_.id),
                               std::vector<ClusterIpService>{service_});
  }
  if (document_path_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("--dataplane ", DataplaneName(config_.dataplane),
                     " runs no control plane and no kube-proxy rules: nothing follows endpoints"));
  }
  if (auto status = WriteClusterDocument(); !status.ok()) return status;
  return AwaitProgrammed(std::chrono::milliseconds(15000));
}

absl::Status Node::StartLatePod(std::size_t index) {
  // pods_ holds every pod started so far, in plan order, and only the plan's last pod
  // joins late: the next one to start is always pods_.size().
  if (index >= plan_.pods.size() || !plan_.pods[index].joins_late || index != pods_.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("pod #", index, " is not a pod waiting to join (see --add-pod-at)"));
  }
  auto child = SpawnPod(plan_.pods[index]);
  if (!child.ok()) return child.status();
  pods_.push_back(*std::move(child));
  return AwaitPodReady(index);
}

absl::Status Node::StopPod(std::size_t index) {
  if (index >= pods_.size() || stopped_pods_.count(index)) {
    return absl::NotFoundError(absl::StrCat("no running pod #", index));
  }
  pods_[index].Signal(SIGTERM);
  auto counters = ReadPodCounters(index);
  if (!counters.ok()) return counters.status();
  stopped_pods_.emplace(index, *std::move(counters));
  return absl::OkStatus();
}

}  // namespace skewless::lab
