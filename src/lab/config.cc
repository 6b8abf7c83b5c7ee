// Validation of lab flags and expansion into pods, clients and addresses.
#include "skewless/lab/config.h"

#include <algorithm>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "skewless/common/lb_policy.h"
#include "skewless/common/net.h"

namespace skewless::lab {
namespace {

bool IsLowerAlnum(const std::string& s, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
}

// DNS-label-like names: they end up inside netns names.
bool IsZoneName(const std::string& s) {
  if (s.empty() || s.size() > 24 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::string RandomId() {
  std::random_device rd;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string id;
  for (int i = 0; i < 6; ++i) id += "0123456789abcdef"[hex(rd)];
  return id;
}

}  // namespace

const char* DataplaneName(Dataplane dataplane) {
  switch (dataplane) {
    case Dataplane::kIptables:
      return "iptables";
    case Dataplane::kNftables:
      return "nftables";
    case Dataplane::kSkewless:
      return "skewless";
    case Dataplane::kSkewlessL7:
      return "skewless-l7";
    case Dataplane::kNone:
      return "none";
  }
  return "?";
}

absl::StatusOr<Dataplane> ParseDataplane(const std::string& name) {
  for (Dataplane d : {Dataplane::kIptables, Dataplane::kNftables, Dataplane::kSkewless,
                      Dataplane::kSkewlessL7, Dataplane::kNone}) {
    if (name == DataplaneName(d)) return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--dataplane: unknown '", name,
                   "' (expected iptables, nftables, skewless, skewless-l7 or none)"));
}

const char* WorkloadName(Workload workload) {
  switch (workload) {
    case Workload::kGrpc:
      return "grpc";
    case Workload::kWebSocket:
      return "websocket";
  }
  return "?";
}

absl::StatusOr<Workload> ParseWorkload(const std::string& name) {
  for (Workload w : {Workload::kGrpc, Workload::kWebSocket}) {
    if (name == WorkloadName(w)) return w;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--workload: unknown '", name, "' (expected grpc or websocket)"));
}

std::string NodeNetns(const std::string& id) { return absl::StrCat(kNetnsPrefix, id, "-node"); }
std::string PodNetns(const std::string& id, const std::string& pod) {
  return absl::StrCat(kNetnsPrefix, id, "-", pod);
}
std::string ClientNetns(const std::string& id, const std::string& node) {
  return absl::StrCat(kNetnsPrefix, id, "-client-", node);
}
// Unique because the index is the part after the last '-' and has no '-' itself.
std::string NodeName(const std::string& zone, int index) { return absl::StrCat(zone, "-", index); }

PlannedResources PlanResources(const LabPlan& plan, const std::string& cgroup_root) {
  PlannedResources resources;
  resources.netns.push_back(NodeNetns(plan.id));
  for (const auto& pod : plan.pods) resources.netns.push_back(PodNetns(plan.id, pod.name));
  for (const auto& client : plan.clients) {
    resources.netns.push_back(ClientNetns(plan.id, client.node));
    resources.cgroups.push_back(absl::StrCat(cgroup_root, "/clients/", client.node));
  }
  resources.cgroups.push_back(cgroup_root + "/clients");
  resources.cgroups.push_back(cgroup_root);
  return resources;
}

absl::StatusOr<LabPlan> Plan(const LabConfig& config) {
  LabPlan plan;
  plan.id = config.id.empty() ? RandomId() : config.id;
  if (!IsLowerAlnum(plan.id, 8)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--id: '", plan.id, "' must be 1-8 characters of [a-z0-9]"));
  }
  if (config.zones.empty() || config.zones.size() > kMaxZones) {
    return absl::InvalidArgumentError(
        absl::StrCat("--zones: need 1 to ", kMaxZones, " zones, got ", config.zones.size()));
  }
  std::set<std::string> zones;
  for (const auto& zone : config.zones) {
    if (!IsZoneName(zone)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--zones: '", zone, "' is not a valid zone name ([a-z0-9-], at most 24 characters)"));
    }
    if (!zones.insert(zone).second) {
      return absl::InvalidArgumentError(absl::StrCat("--zones: '", zone, "' listed twice"));
    }
  }
  if (config.pods_per_zone.size() != config.zones.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--pods-per-zone: ", config.pods_per_zone.size(), " counts for ", config.zones.size(),
        " zones (", absl::StrJoin(config.zones, ","), "); give one count per zone"));
  }
  if (config.nodes_per_zone < 1 || config.nodes_per_zone > kMaxNodesPerZone) {
    return absl::InvalidArgumentError(absl::StrCat("--nodes-per-zone: must be within [1, ",
                                                   kMaxNodesPerZone, "], got ",
                                                   config.nodes_per_zone));
  }
  for (const auto& zone : config.zones) {
    for (int n = 0; n < config.nodes_per_zone; ++n) {
      plan.nodes.push_back({NodeName(zone, n), zone});
    }
  }
  int total_pods = 0;
  for (size_t z = 0; z < config.zones.size(); ++z) {
    if (config.pods_per_zone[z] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--pods-per-zone: negative count for ", config.zones[z]));
    }
    for (int i = 0; i < config.pods_per_zone[z]; ++i) {
      PodSpec pod;
      pod.name = absl::StrCat("pod-", total_pods);
      pod.zone = config.zones[z];
      pod.node = NodeName(pod.zone, i % config.nodes_per_zone);
      // .0 is the network, .1 the node's bridge: pods start at .10.
      pod.ip = absl::StrCat("198.18.0.", 10 + total_pods);
      plan.pods.push_back(pod);
      ++total_pods;
    }
  }
  if (config.add_pod_at.count() != 0) {
    const std::string zone = config.add_pod_zone.empty() ? config.zones[0] : config.add_pod_zone;
    if (!zones.count(zone)) {
      return absl::InvalidArgumentError(absl::StrCat("--add-pod-at: unknown zone '", zone,
                                                     "' (zones: ", absl::StrJoin(config.zones, ","),
                                                     ")"));
    }
    if (config.add_pod_at < std::chrono::milliseconds(0) || config.add_pod_at >= config.duration) {
      return absl::InvalidArgumentError(
          "--add-pod-at: the time must fall within the measured period (0 < D < --duration)");
    }
    PodSpec pod;
    pod.name = absl::StrCat("pod-", total_pods);
    pod.zone = zone;
    const int in_zone = static_cast<int>(std::count_if(
        plan.pods.begin(), plan.pods.end(), [&](const PodSpec& p) { return p.zone == zone; }));
    pod.node = NodeName(zone, in_zone % config.nodes_per_zone);
    pod.ip = absl::StrCat("198.18.0.", 10 + total_pods);
    pod.joins_late = true;
    plan.pods.push_back(pod);
    ++total_pods;
  }
  if (total_pods == 0) {
    return absl::InvalidArgumentError("--pods / --pods-per-zone: the lab needs at least 1 pod");
  }
  if (total_pods > kMaxPods) {
    return absl::InvalidArgumentError(
        absl::StrCat("--pods: at most ", kMaxPods, " pods, asked for ", total_pods));
  }
  for (const auto& [name, factor] : config.slow_pods) {
    auto it = std::find_if(plan.pods.begin(), plan.pods.end(),
                           [&](const PodSpec& p) { return p.name == name; });
    if (it == plan.pods.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--slow-pod: no pod named '", name, "' (pods are pod-0..pod-", total_pods - 1, ")"));
    }
    if (!(factor >= 1.0 && factor <= 1000.0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--slow-pod: factor for ", name, " must be within [1, 1000]"));
    }
    it->slow_factor = factor;
  }

  std::vector<std::string> client_zones =
      config.client_zones.empty() ? config.zones : config.client_zones;
  for (const auto& zone : client_zones) {
    if (!zones.count(zone)) {
      return absl::InvalidArgumentError(absl::StrCat("--client-zones: unknown zone '", zone,
                                                     "' (zones: ", absl::StrJoin(config.zones, ","),
                                                     ")"));
    }
  }
  // Client nodes, node 0 of every client zone first: a --clients total smaller than the
  // node count still reaches every zone.
  std::vector<NodeSpec> client_nodes;
  for (int n = 0; n < config.nodes_per_zone; ++n) {
    for (const auto& zone : client_zones) client_nodes.push_back({NodeName(zone, n), zone});
  }
  if (static_cast<int>(client_nodes.size()) > kMaxClientNodes) {
    return absl::InvalidArgumentError(absl::StrCat("--nodes-per-zone: ", client_nodes.size(),
                                                   " client nodes, at most ", kMaxClientNodes,
                                                   " (fewer --client-zones or --nodes-per-zone)"));
  }
  std::vector<int> shares(client_nodes.size(), 0);
  if (config.clients_per_node != 0) {
    if (config.clients_per_node < 1 ||
        config.clients_per_node * static_cast<int>(client_nodes.size()) > 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat("--clients-per-node: must be >= 1 and at most 1000 in total over ",
                       client_nodes.size(), " client nodes, got ", config.clients_per_node));
    }
    shares.assign(client_nodes.size(), config.clients_per_node);
  } else {
    if (config.clients < 1 || config.clients > 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat("--clients: must be within [1, 1000], got ", config.clients));
    }
    const int n = static_cast<int>(client_nodes.size());
    for (int c = 0; c < n; ++c) shares[c] = config.clients / n + (c < config.clients % n);
  }
  for (size_t c = 0; c < client_nodes.size(); ++c) {
    if (shares[c] == 0) continue;
    ClientSpec client;
    client.node = client_nodes[c].name;
    client.zone = client_nodes[c].zone;
    client.connections = shares[c];
    // A routed /30 per client namespace (not on the pods' bridge), so replies
    // from pods cross the node's IP stack where conntrack undoes the DNAT.
    const size_t link = plan.clients.size();
    const std::string subnet = absl::StrCat("198.18.", 1 + link / 64, ".");
    client.gateway = absl::StrCat(subnet, 4 * (link % 64) + 1);
    client.ip = absl::StrCat(subnet, 4 * (link % 64) + 2);
    plan.clients.push_back(client);
  }

  if (absl::StatusOr<net::IpAddress> vip = net::ParseIp(config.service_vip, net::V4Mapped::kRefuse);
      !vip.ok() || !vip->is_v4()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--vip: '", config.service_vip, "' is not an IPv4 address"));
  }
  if (config.service_vip.rfind("198.18.", 0) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--vip: ", config.service_vip, " lies in the pod range 198.18.0.0/16"));
  }
  if (config.service_port == 0) return absl::InvalidArgumentError("--port: must not be 0");
  if (config.concurrency < 1 || config.concurrency > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--concurrency: must be within [1, 1000], got ", config.concurrency));
  }
  if (config.rate < 0) return absl::InvalidArgumentError("--rate: must be >= 0");
  if (config.duration < std::chrono::milliseconds(100) ||
      config.duration > std::chrono::hours(24)) {
    return absl::InvalidArgumentError("--duration: must be within [100ms, 24h]");
  }
  static const std::set<std::string> kDistributions = {"", "PreferClose", "PreferSameZone",
                                                       "PreferSameNode"};
  if (!kDistributions.count(config.traffic_distribution)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--traffic-distribution: unknown '", config.traffic_distribution,
                     "' (expected PreferClose, PreferSameZone or PreferSameNode)"));
  }
  if (!ParseLbPolicy(config.lb_policy)) {
    return absl::InvalidArgumentError(absl::StrCat("--lb-policy: unknown '", config.lb_policy,
                                                   "' (expected ", LbPolicyNameList(" or "), ")"));
  }
  if (config.client_stagger < std::chrono::milliseconds(0) ||
      config.client_stagger > std::chrono::milliseconds(60000)) {
    return absl::InvalidArgumentError("--client-stagger: expected 0 to 60 s");
  }
  if (config.remove_pod_at.count() != 0) {
    if (config.remove_pod_at < std::chrono::milliseconds(0) ||
        config.remove_pod_at >= config.duration) {
      return absl::InvalidArgumentError(
          "--remove-pod-at: the time must fall within the measured period (0 < D < --duration)");
    }
    const std::string name = config.remove_pod.empty() ? "pod-0" : config.remove_pod;
    auto it = std::find_if(plan.pods.begin(), plan.pods.end(),
                           [&](const PodSpec& p) { return p.name == name && !p.joins_late; });
    if (it == plan.pods.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--remove-pod-at: no pod named '", name, "' at the start of the run"));
    }
    if (plan.pods.size() < 2) {
      return absl::InvalidArgumentError("--remove-pod-at: the Service needs a pod left");
    }
  }
  if (config.max_connection_age.count() != 0 &&
      (config.max_connection_age < std::chrono::milliseconds(100) ||
       config.max_connection_age > std::chrono::hours(1))) {
    return absl::InvalidArgumentError("--max-connection-age: expected 0 (never) or 100ms to 1h");
  }
  if (config.slow_start_window < std::chrono::milliseconds(0) ||
      config.slow_start_window > std::chrono::hours(1)) {
    return absl::InvalidArgumentError("--slow-start-window: expected 0 to 1h");
  }
  if (config.workload == Workload::kWebSocket &&
      (config.max_connection_age.count() != 0 || config.add_pod_at.count() != 0 ||
       config.remove_pod_at.count() != 0)) {
    // The WebSocket client holds its connections for the run and records no timeline of
    // where each one is: the change report would have nothing to say.
    return absl::InvalidArgumentError(
        "--workload websocket: --max-connection-age, --add-pod-at and --remove-pod-at run "
        "with the gRPC workload only");
  }
  if (config.workload == Workload::kWebSocket && config.dataplane == Dataplane::kSkewlessL7) {
    // The hooks send only appProtocol h2c/grpc ports to the splicer, and a WebSocket
    // Service is HTTP/1.1: skewless-l7 would run exactly as skewless, under a wrong name.
    return absl::InvalidArgumentError(
        "--workload websocket: --dataplane skewless-l7 cannot help it (the HTTP/2 splicer "
        "carries only h2c/grpc ports; a WebSocket connection is HTTP/1.1 and is balanced "
        "once, at connect, by --dataplane skewless)");
  }
  if (config.service_time_us > 10'000'000) {
    return absl::InvalidArgumentError("--service-time-us: at most 10 s");
  }
  return plan;
}

}  // namespace skewless::lab
