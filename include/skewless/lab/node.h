// A simulated Kubernetes node on this machine: a node namespace with a
// bridge, one namespace per pod running a real gRPC backend, client
// namespaces on routed veths, a client cgroup, and the Service's dataplane.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skewless/datapath/service_table.h"
#include "skewless/datapath/steering.h"
#include "skewless/lab/config.h"
#include "skewless/lab/kube_proxy.h"
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
  // Every client's cgroup is below this one (one child per client zone).
  const std::string& client_cgroup() const { return client_cgroup_; }
  // The cgroup of the clients of one zone: what a node of that zone would be.
  std::string ZoneCgroup(const std::string& zone) const;
  const std::string& log_dir() const { return log_dir_; }
  std::string bin_dir() const { return options_.bin_dir; }
  const ClusterIpService& service() const { return service_; }

  // Starts a long-lived child in a client namespace and the client cgroup,
  // recording it for crash cleanup.
  absl::StatusOr<Child> SpawnClient(const std::string& zone, std::vector<std::string> argv,
                                    const std::string& log_name);

  // Mounts a bpffs instance of this run's own (never the host's /sys/fs/bpf) and
  // records it, so teardown, even of a crashed run, detaches any data path pinned in a
  // subdirectory of it and unmounts it. Returns its path.
  absl::StatusOr<std::string> MountBpffs(const std::string& name);

  // The steering data path of one client zone (skewless dataplane only):
  // each zone's cgroup is a node of that zone with its own maps.
  struct ZoneDataplane {
    std::string zone;
    std::unique_ptr<datapath::Steering> steering;
    std::unique_ptr<datapath::ServiceTable> table;
  };
  std::vector<ZoneDataplane>& zone_dataplanes() { return zone_dataplanes_; }
  // The Service as the skewless dataplane programs it (all pods, their zones).
  datapath::ServiceSpec SkewlessService() const;

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
  absl::Status InstallSkewless();
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
  std::vector<Child> pods_;
  std::vector<Child> splicers_;  // one per client zone (skewless-l7)
  std::vector<ZoneDataplane> zone_dataplanes_;
  bool destroyed_ = false;
};

// Removes what a run record lists (processes, cgroups, namespaces) and the
// record itself. Used by Node::Destroy and by `skewless-lab cleanup`.
absl::Status RemoveRecordedRun(const std::string& state_dir, const RunState& state);

// Checks that this process can build a lab: root, cgroup v2, tools present.
absl::Status CheckLabPrerequisites();

}  // namespace skewless::lab
