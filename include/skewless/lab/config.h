// What a lab node looks like: pods, zones, clients, the Service, the workload.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skewless::lab {

// How client traffic reaches the pods.
enum class Dataplane {
  kIptables,    // kube-proxy's iptables mode: KUBE-SERVICES → KUBE-SVC-* → KUBE-SEP-* DNAT
  kNftables,    // kube-proxy's nftables mode: service-ips verdict map → numgen → dnat
  kSkewless,    // skewless's BPF connect hooks on each client zone's cgroup
  kSkewlessL7,  // the same hooks sending the gRPC port to a skewless-splicer per zone
  kNone,        // no VIP rules: for tests of the topology itself
};
const char* DataplaneName(Dataplane dataplane);
// For test names and logs (googletest finds it by argument-dependent lookup).
inline void PrintTo(Dataplane dataplane, std::ostream* out) { *out << DataplaneName(dataplane); }
absl::StatusOr<Dataplane> ParseDataplane(const std::string& name);

// What the pods serve and the clients send (docs/lab.md, "Workloads").
enum class Workload {
  kGrpc,       // skewless-pod-server + skewless-loadgen: persistent gRPC channels (HTTP/2)
  kWebSocket,  // skewless-ws-pod-server + skewless-ws-loadgen: long-lived WebSocket (HTTP/1.1)
};
const char* WorkloadName(Workload workload);
absl::StatusOr<Workload> ParseWorkload(const std::string& name);

// One simulated node: its own client namespace, cgroup and (skewless dataplanes) agent.
struct NodeSpec {
  std::string name;  // <zone>-<index>, e.g. zone-a-0: also its Kubernetes node name
  std::string zone;
};

struct PodSpec {
  std::string name;  // pod-0, pod-1, ...
  std::string zone;  // topology.kubernetes.io/zone of the pod's node
  std::string node;  // the node it is scheduled on (round robin within its zone)
  double slow_factor = 1.0;
  std::string ip;  // filled by Plan()
  // The pod --add-pod-at brings in mid-run: its namespace exists from the start (a
  // scheduled pod's sandbox), its server starts and it is listed only at that time.
  bool joins_late = false;
};

// The clients of one node (nodes without clients get none: no namespace, no agent).
struct ClientSpec {
  std::string node;     // NodeSpec::name; one client namespace and cgroup per node
  std::string zone;     // the node's zone
  int connections = 0;  // persistent gRPC channels in this namespace
  std::string ip;       // filled by Plan()
  std::string gateway;  // node side of the client's veth, filled by Plan()
};

struct LabConfig {
  // Names every resource of this run (netns, cgroup, state file). Random
  // when empty; a given one must be [a-z0-9]{1,8}.
  std::string id;
  std::vector<std::string> zones = {"zone-a", "zone-b", "zone-c"};
  // Pods per zone, same order as `zones`. Uneven counts are the point.
  std::vector<int> pods_per_zone = {2, 2, 2};
  // Pods whose service time is multiplied, e.g. {"pod-2", 10}.
  std::vector<std::pair<std::string, double>> slow_pods;
  // Simulated nodes in each zone; clients run on them, pods are spread over them.
  int nodes_per_zone = 1;
  // Total persistent client connections, spread over the client nodes (node 0 of
  // every client zone first, then node 1, ...). Ignored when clients_per_node is set.
  int clients = 12;
  // Persistent client connections on every node of the client zones; 0 = use `clients`.
  // The hard case of a real cluster: many nodes with one or two connections each.
  int clients_per_node = 0;
  // Zones that host clients; empty = all zones.
  std::vector<std::string> client_zones;

  std::string service_name = "default/echo";
  std::string service_vip = "198.19.0.10";
  uint16_t service_port = 8080;
  Dataplane dataplane = Dataplane::kIptables;
  // The Service's spec.trafficDistribution: "" (none), PreferClose,
  // PreferSameZone or PreferSameNode. Only the skewless dataplane applies it
  // (the lab's kube-proxy rules serve every zone from one node namespace).
  std::string traffic_distribution;
  // The Service's skewless.io/load-balancing policy (common/lb_policy.h): least-loaded
  // (the control plane's default), least-request or random, for A/B runs of the choice
  // itself. Only the skewless dataplanes apply it.
  std::string lb_policy = "least-loaded";
  // The skewless dataplanes' agents report their connections over LRS and weigh every
  // node's (cluster-wide, the product's default); off, each node counts only its own.
  bool cluster_load = true;
  // The client nodes' load generators start this far apart, in a random order (a rollout
  // rather than every client at once: picks that fall within one staleness window of the
  // cluster-wide load cannot see each other). 0 = all at once.
  std::chrono::milliseconds client_stagger{0};

  // Extra flags for every skewless-agent and for the skewless-controlplane of the
  // skewless dataplanes, passed verbatim after the lab's own. The hook for switches the
  // lab does not model itself, e.g. cluster-wide load reporting (LRS) once it ships.
  std::vector<std::string> agent_flags;
  std::vector<std::string> controlplane_flags;

  // Pods that change mid-run (docs/lab.md, "Pods that come and go"), timed from the start
  // of the measured period; zero = never. The added pod joins `add_pod_zone` (empty: the
  // first zone); the removed one is `remove_pod` (empty: pod-0).
  std::chrono::milliseconds add_pod_at{0};
  std::string add_pod_zone;
  std::chrono::milliseconds remove_pod_at{0};
  std::string remove_pod;
  // Churn: every client connection is replaced after this long, ±10% (gRPC's
  // MaxConnectionAge); zero = each client keeps one connection for the run.
  std::chrono::milliseconds max_connection_age{0};
  // The skewless agents' --slow-start-window: a new pod's cost is raised at first and
  // eases over this window. Zero = the agents' default.
  std::chrono::milliseconds slow_start_window{0};

  // gRPC, or WebSocket served on the Service port instead (appProtocol unset: plain
  // HTTP/1.1, which the splicer cannot balance, so Plan() refuses it with skewless-l7).
  Workload workload = Workload::kGrpc;
  uint32_t service_time_us = 1000;
  int concurrency = 4;  // outstanding RPCs per client connection
  double rate = 0;      // total RPCs/s; 0 = closed loop
  std::chrono::milliseconds duration{10000};
};

// The addresses and names a validated config expands to.
struct LabPlan {
  std::string id;
  std::vector<NodeSpec> nodes;  // every node, zone by zone
  std::vector<PodSpec> pods;
  std::vector<ClientSpec> clients;
};

// Checks every field and returns the plan, or an error naming the flag.
absl::StatusOr<LabPlan> Plan(const LabConfig& config);

// Lab addressing (documented in docs/lab.md). 198.18.0.0/15 is reserved for
// network benchmarks (RFC 2544): it never collides with a real network, and
// everything lives inside the lab's own namespaces anyway.
inline constexpr char kPodGateway[] = "198.18.0.1";
inline constexpr int kPodPrefix = 24;
inline constexpr int kMaxPods = 200;
inline constexpr int kMaxZones = 16;
inline constexpr int kMaxNodesPerZone = 64;
// Client links are /30s in 198.18.1.0-198.18.4.255: 64 per /24.
inline constexpr int kMaxClientNodes = 256;

// Resource names. Every run's resources carry its id, so two labs never
// meet and cleanup touches only what a recorded run created.
std::string NodeNetns(const std::string& id);
std::string PodNetns(const std::string& id, const std::string& pod);
std::string ClientNetns(const std::string& id, const std::string& node);
std::string NodeName(const std::string& zone, int index);
inline constexpr char kNetnsPrefix[] = "skl-";

// Every namespace and cgroup a plan creates, as the run record lists them before they
// exist (cleanup after a crash must see every name): the node, each pod and each client
// node's namespace; each client node's cgroup under <cgroup_root>/clients, children
// before parents (the removal order).
struct PlannedResources {
  std::vector<std::string> netns;
  std::vector<std::string> cgroups;
};
PlannedResources PlanResources(const LabPlan& plan, const std::string& cgroup_root);

}  // namespace skewless::lab
