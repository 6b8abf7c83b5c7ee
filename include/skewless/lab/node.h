// A simulated Kubernetes cluster on this machine: a node namespace with a
// bridge (the cluster network, where kube-proxy's rules live), one namespace per
// pod running a real gRPC backend, a client namespace and cgroup per simulated
// node on routed veths, and the Service's dataplane (for skewless: the shipped
// control plane, an agent per node and, for L7, a splicer per node).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skewless/lab/cluster_document.h"
#include "skewless/lab/config.h"
#include "skewless/lab/kube_proxy.h"
#include "skewless/lab/signals.h"
#include "skewless/lab/state.h"
#include "skewless/lab/subprocess.h"

namespace skewless::lab {

// What a pod server said it did when it stopped.
struct PodCounters {
  std::string pod;
  std::string zone;
  uint64_t work_served = 0;
  uint64_t connections_seen = 0;
};

struct NodeOptions {
  std::string state_dir = kDefaultStateDir;
  std::string bin_dir;  // where skewless-pod-server lives; empty = next to this binary
  // Progress lines (stderr by default); tests pass a no-op.
  std::function<void(const std::string&)> progress;
  // Ctrl-C during the build: waiting for agents ends early, and Create tears down.
  const StopSignal* stop = nullptr;
};

class Node {
 public:
  // Builds everything, or builds nothing: on any error what was created is
  // removed before returning.
  static absl::StatusOr<std::unique_ptr<Node>> Create(const LabConfig& config,
                                                      const NodeOptions& options);
  ~Node();  // Tears down whatever is left (best effort, never throws)
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const LabPlan& plan() const { return plan_; }
  const LabConfig& config() const { return config_; }
  const std::string& id() const { return plan_.id; }
  // Every client's cgroup is below this one (one child per client node).
  const std::string& client_cgroup() const { return client_cgroup_; }
  // The cgroup of one client node (plan().clients[i].node); a zone name stands for
  // that zone's first client node, which is what single-node callers mean.
  std::string NodeCgroup(const std::string& node_or_zone) const;
  std::string ZoneCgroup(const std::string& zone) const { return NodeCgroup(zone); }
  // The client node a node or zone name means (see NodeCgroup).
  std::string ResolveNode(const std::string& node_or_zone) const;
  const std::string& log_dir() const { return log_dir_; }
  std::string bin_dir() const { return options_.bin_dir; }
  const ClusterIpService& service() const { return service_; }

  // Starts a long-lived child in a client node's namespace and cgroup (a zone
  // name: its first client node), recording it for crash cleanup.
  absl::StatusOr<Child> SpawnClient(const std::string& node_or_zone, std::vector<std::string> argv,
                                    const std::string& log_name);

  // Mounts a bpffs instance of this run's own (never the host's /sys/fs/bpf) and
  // records it, so teardown, even of a crashed run, detaches any data path pinned in a
  // subdirectory of it and unmounts it. Returns its path.
  absl::StatusOr<std::string> MountBpffs(const std::string& name);

  // Skewless dataplanes: where a client node's agent pins its maps and links (read
  // them with ReadProgrammedService, skewless/lab/node_maps.h), and the file the
  // control plane reads.
  std::string PinDir(const std::string& node_or_zone) const;
  const std::string& cluster_document_path() const { return document_path_; }

  // Changes what the Service's EndpointSlice says about pod plan().pods[index]: for the
  // skewless dataplanes the cluster document is rewritten and every agent awaited; for
  // the kube-proxy baselines the rules are rewritten over the ready pods, as kube-proxy
  // does on an EndpointSlice change (node_pod_changes.cc).
  absl::Status SetPodEndpoint(std::size_t index, PodEndpoint state);

  // The pod that joins late (PodSpec::joins_late): starts its server and waits until it
  // listens. Listing it is SetPodEndpoint's job, as Kubernetes lists a pod once Ready.
  absl::Status StartLatePod(std::size_t index);
  // Stops one pod's server (SIGTERM: it drains with a GOAWAY, then closes) and keeps its
  // counters for StopPods.
  absl::Status StopPod(std::size_t index);

  // Waits until every client node's agent holds the Service with exactly the pods the
  // document calls ready; the error names the late agent and ends with its log.
  absl::Status AwaitProgrammed(std::chrono::milliseconds timeout);

  // Sends `signo` to the pod server plan().pods[index] (SIGKILL: the pod dies mid-call;
  // SIGTERM: it drains with a GOAWAY). NotFound for an index out of range.
  absl::Status SignalPod(std::size_t index, int signo);

  // Stops the pod servers (SIGTERM) and returns their own counters.
  absl::StatusOr<std::vector<PodCounters>> StopPods();

  // Removes every namespace, cgroup, process and the run record. Idempotent.
  absl::Status Destroy();

 private:
  Node(LabConfig config, LabPlan plan, NodeOptions options);
  absl::Status Build();
  absl::Status BuildNetwork();
  absl::Status StartPods();
  absl::StatusOr<Child> SpawnPod(const PodSpec& pod);
  absl::Status AwaitPodReady(std::size_t index);
  absl::StatusOr<PodCounters> ReadPodCounters(std::size_t index);
  absl::Status StartShippedPath();  // node_skewless.cc
  absl::Status WriteClusterDocument() const;
  absl::Status StartSplicers();
  absl::Status Record(pid_t pid);
  void Say(const std::string& line) const;

  LabConfig config_;
  LabPlan plan_;
  NodeOptions options_;
  RunState state_;
  ClusterIpService service_;
  std::string cgroup_root_;
  std::string client_cgroup_;
  std::string log_dir_;
  std::vector<Child> pods_;  // indexed like plan_.pods; a late pod is added when it starts
  std::map<std::size_t, PodCounters> stopped_pods_;  // stopped mid-run, by index
  // The shipped path (skewless dataplanes): control plane, one agent and (L7) one
  // splicer per client node, the bpffs they pin in, the document and its pods' states.
  std::vector<Child> control_plane_;  // empty or one
  std::vector<Child> agents_;
  std::vector<Child> splicers_;
  std::string bpffs_;
  std::string document_path_;
  std::vector<PodEndpoint> pod_endpoints_;  // what the EndpointSlice says, every dataplane
  bool destroyed_ = false;
};

// Removes what a run record lists (processes, cgroups, namespaces) and the
// record itself. Used by Node::Destroy and by `skewless-lab cleanup`.
absl::Status RemoveRecordedRun(const std::string& state_dir, const RunState& state);

// Checks that this process can build a lab: root, cgroup v2, tools present.
absl::Status CheckLabPrerequisites();

}  // namespace skewless::lab
