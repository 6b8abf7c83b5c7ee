// What the control plane serves → the steering maps, without a gap.
#include "skewless/agent/service_sync.h"

#include <string_view>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "skewless/common/log.h"
#include "skewless/common/name_numbering.h"
#include "skewless/common/net.h"

namespace skewless::agent {
namespace {

absl::Status Rejected(const std::vector<std::string>& errors) {
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
}

// The entries `target` writes, for removal.
std::vector<datapath::ServiceRef> RefsOf(const ClusterTarget& target) {
  std::vector<datapath::ServiceRef> refs;
  if (!target.skip_reason.empty()) return refs;
  for (const std::string& vip : target.vips) {
    refs.push_back({.vip = vip, .port = target.port, .protocol = target.protocol});
  }
  return refs;
}

}  // namespace

ServiceSync::StoredEndpoints::StoredEndpoints(const std::vector<AssignedEndpoint>& endpoints) {
  NameNumbering numbering(names_);
  endpoints_.reserve(endpoints.size());
  for (const AssignedEndpoint& endpoint : endpoints) {
    Endpoint stored{.zone = numbering.IndexOf(endpoint.zone),
                    .node_name = numbering.IndexOf(endpoint.node_name),
                    .port = endpoint.port,
                    .weight = endpoint.weight,
                    .ready = endpoint.ready,
                    .serving = endpoint.serving,
                    .terminating = endpoint.terminating};
    // The addresses are canonical (EndpointsOfAssignment), so they parse and print back
    // as they came; later ones of a family are never read (SpecsOf takes the first).
    for (const std::string& address : endpoint.addresses) {
      absl::StatusOr<net::IpAddress> ip = net::ParseIp(address, net::V4Mapped::kReadAsIpv4);
      if (!ip.ok()) continue;
      if (ip->is_v4() && !stored.has_v4) {
        stored.v4 = ip->v4_bytes();
        stored.has_v4 = true;
      } else if (!ip->is_v4() && !stored.has_v6) {
        stored.v6 = ip->v6_bytes();
        stored.has_v6 = true;
      }
    }
    endpoints_.push_back(stored);
  }
  names_.shrink_to_fit();
}

std::vector<AssignedEndpoint> ServiceSync::StoredEndpoints::Expanded() const {
  std::vector<AssignedEndpoint> expanded;
  expanded.reserve(endpoints_.size());
  for (const Endpoint& stored : endpoints_) {
    AssignedEndpoint& endpoint =
        expanded.emplace_back(AssignedEndpoint{.port = stored.port,
                                               .zone = names_[stored.zone],
                                               .node_name = names_[stored.node_name],
                                               .weight = stored.weight,
                                               .ready = stored.ready,
                                               .serving = stored.serving,
                                               .terminating = stored.terminating});
    if (stored.has_v4) {
      endpoint.addresses.push_back(net::IpAddress::FromV4Bytes(stored.v4).ToString());
    }
    if (stored.has_v6) {
      endpoint.addresses.push_back(net::IpAddress::FromV6Bytes(stored.v6).ToString());
    }
  }
  return expanded;
}

ServiceSync::ServiceSync(datapath::ServiceTable& table, SyncOptions options)
    : table_(table), options_(std::move(options)) {
  if (options_.zone) zone_ = *options_.zone;
}

void ServiceSync::BeginStream() {
  stream_synced_ = false;
  node_seen_ = options_.zone.has_value();
  clusters_seen_ = false;
  clusters_this_stream_.clear();
  endpoints_this_stream_.clear();
}

absl::Status ServiceSync::OnNodeInfo(const std::optional<skewless::agent::v1::NodeInfo>& info) {
  node_seen_ = true;
  if (!options_.zone) {
    std::string zone = info ? info->zone() : std::string();
    if (!info) {
      log::Warn("the control plane does not know this node: its zone is unknown",
                {{"node", options_.node_name}});
    }
    zone_ = std::move(zone);
  }
  // Before the first complete state the maps keep what they had, node included.
  if (!synced_) return Flush({}, {});
  if (absl::Status status = WriteNode(); !status.ok()) return status;
  return Flush({}, {});
}

absl::Status ServiceSync::OnClusters(
    const std::vector<envoy::config::cluster::v3::Cluster>& updated,
    const std::vector<std::string>& removed, bool full_state) {
  clusters_seen_ = true;
  std::vector<std::string> errors;
  std::vector<std::string> changed;
  std::vector<ClusterTarget> stale;
  std::set<std::string> present;
  for (const auto& cluster : updated) {
    present.insert(cluster.name());
    if (!stream_synced_) clusters_this_stream_.insert(cluster.name());
    absl::StatusOr<ClusterTarget> target = TargetOfCluster(cluster);
    if (!target.ok()) {
      errors.push_back(std::string(target.status().message()));
      continue;
    }
    auto [it, inserted] = clusters_.try_emplace(cluster.name());
    if (!inserted && it->second.target == *target) continue;
    if (!inserted) stale.push_back(it->second.target);
    it->second.target = *std::move(target);
    changed.push_back(cluster.name());
  }
  auto drop = [&](const std::string& name) {
    auto it = clusters_.find(name);
    if (it == clusters_.end()) return;
    stale.push_back(it->second.target);
    clusters_.erase(it);
  };
  for (const std::string& name : removed) drop(name);
  if (full_state) {
    std::vector<std::string> gone;
    for (const auto& [name, cluster] : clusters_) {
      if (!present.contains(name)) gone.push_back(name);
    }
    for (const std::string& name : gone) drop(name);
  }
  absl::Status flushed = Flush(changed, stale);
  if (!flushed.ok()) errors.push_back(std::string(flushed.message()));
  return Rejected(errors);
}

absl::Status ServiceSync::OnAssignments(
    const std::vector<envoy::config::endpoint::v3::ClusterLoadAssignment>& updated,
    const std::vector<std::string>& removed) {
  std::vector<std::string> errors;
  std::vector<std::string> changed;
  for (const auto& assignment : updated) {
    auto cluster = clusters_.find(assignment.cluster_name());
    if (cluster == clusters_.end()) continue;  // its cluster went meanwhile
    if (!stream_synced_) endpoints_this_stream_.insert(assignment.cluster_name());
    absl::StatusOr<std::vector<AssignedEndpoint>> endpoints = EndpointsOfAssignment(assignment);
    if (!endpoints.ok()) {
      errors.push_back(std::string(endpoints.status().message()));
      continue;
    }
    StoredEndpoints stored(*endpoints);
    if (cluster->second.endpoints == stored) continue;
    cluster->second.endpoints = std::move(stored);
    changed.push_back(assignment.cluster_name());
  }
  for (const std::string& name : removed) {
    // An assignment that does not exist (yet): the cluster has no endpoints. Steering
    // to nothing refuses connects at once, which is what an empty Service does.
    auto cluster = clusters_.find(name);
    if (cluster == clusters_.end()) continue;
    if (!stream_synced_) endpoints_this_stream_.insert(name);
    if (cluster->second.endpoints && cluster->second.endpoints->empty()) continue;
    cluster->second.endpoints.emplace();
    changed.push_back(name);
  }
  absl::Status flushed = Flush(changed, {});
  if (!flushed.ok()) errors.push_back(std::string(flushed.message()));
  return Rejected(errors);
}

std::vector<std::string> ServiceSync::EndpointSubscriptions() const {
  std::vector<std::string> names;
  for (const auto& [name, cluster] : clusters_) {
    if (cluster.target.skip_reason.empty()) names.push_back(name);
  }
  return names;
}

std::vector<ClusterTarget> ServiceSync::SteeredTargets() const {
  std::vector<ClusterTarget> targets;
  for (const auto& [name, cluster] : clusters_) {
    if (cluster.target.skip_reason.empty()) targets.push_back(cluster.target);
  }
  return targets;
}

std::vector<loadreport::SteeredEndpoint> ServiceSync::SteeredEndpoints() const {
  std::vector<loadreport::SteeredEndpoint> steered;
  for (const auto& [name, cluster] : clusters_) {
    if (!cluster.target.skip_reason.empty() || !cluster.endpoints) continue;
    for (const AssignedEndpoint& endpoint : cluster.endpoints->Expanded()) {
      for (const std::string& address : endpoint.addresses) {
        const std::optional<std::uint32_t> id = table_.BackendId(address, endpoint.port);
        if (!id) continue;
        steered.push_back({.key = {.cluster = name, .address = address, .port = endpoint.port},
                           .zone = endpoint.zone,
                           .backend_id = *id});
      }
    }
  }
  return steered;
}

SyncState ServiceSync::State() const {
  SyncState state{.synced = synced_,
                  .zone = zone_,
                  .clusters = clusters_.size(),
                  .services = table_.service_count(),
                  .backends = table_.backend_count(),
                  .zone_ids = table_.zone_ids()};
  for (const auto& [name, cluster] : clusters_) {
    if (cluster.target.skip_reason.empty()) ++state.steered_clusters;
  }
  return state;
}

bool ServiceSync::StreamComplete() const {
  if (!node_seen_ || !clusters_seen_) return false;
  for (const auto& [name, cluster] : clusters_) {
    if (!cluster.target.skip_reason.empty()) continue;
    // A cluster this stream never mentioned is stale, and Reconcile drops it.
    if (!clusters_this_stream_.contains(name)) continue;
    if (!endpoints_this_stream_.contains(name)) return false;
  }
  return true;
}

absl::Status ServiceSync::WriteNode() {
  return table_.SetNode({.locality = {.zone = zone_, .node_name = options_.node_name},
                         .spill_ratio_permille = options_.spill_ratio_permille,
                         .spill_min_delta = options_.spill_min_delta,
                         .splicer_address = options_.splicer_address,
                         .splicer_mark = options_.splicer_mark});
}

absl::Status ServiceSync::Reconcile() {
  std::vector<std::string> stale;
  for (const auto& [name, cluster] : clusters_) {
    if (!clusters_this_stream_.contains(name)) stale.push_back(name);
  }
  for (const std::string& name : stale) clusters_.erase(name);
  if (absl::Status status = WriteNode(); !status.ok()) return status;
  std::vector<datapath::ServiceSpec> specs;
  for (const auto& [name, cluster] : clusters_) {
    if (!cluster.endpoints) continue;
    for (datapath::ServiceSpec& spec :
         SpecsOf(cluster.target, cluster.endpoints->Expanded(), options_.slow_start_window_ms)) {
      specs.push_back(std::move(spec));
    }
  }
  // Everything else in the maps (adopted from a previous agent, or served before the
  // reconnect) is what the control plane no longer serves.
  if (absl::Status status = table_.Apply(specs); !status.ok()) return status;
  stream_synced_ = true;
  // Only needed until now: ~100 bytes a cluster each.
  clusters_this_stream_.clear();
  endpoints_this_stream_.clear();
  if (!synced_) {
    log::Info("first complete state written", {{"clusters", absl::StrCat(clusters_.size())},
                                               {"services", absl::StrCat(table_.service_count())},
                                               {"backends", absl::StrCat(table_.backend_count())},
                                               {"zone", zone_}});
  }
  synced_ = true;
  return absl::OkStatus();
}

absl::Status ServiceSync::Flush(const std::vector<std::string>& changed,
                                const std::vector<ClusterTarget>& stale) {
  if (!stream_synced_) {
    if (!StreamComplete()) return absl::OkStatus();
    return Reconcile();
  }
  std::vector<datapath::ServiceSpec> upserts;
  std::vector<datapath::ServiceRef> removals;
  for (const ClusterTarget& target : stale) {
    for (datapath::ServiceRef& ref : RefsOf(target)) removals.push_back(std::move(ref));
  }
  for (const std::string& name : changed) {
    auto it = clusters_.find(name);
    if (it == clusters_.end()) continue;
    // A new cluster waits for its endpoints: programming an empty set first would
    // refuse connects that a moment later would have worked.
    if (!it->second.endpoints) continue;
    for (datapath::ServiceSpec& spec : SpecsOf(it->second.target, it->second.endpoints->Expanded(),
                                               options_.slow_start_window_ms)) {
      upserts.push_back(std::move(spec));
    }
  }
  if (upserts.empty() && removals.empty()) return absl::OkStatus();
  return table_.Change(upserts, removals);
}

}  // namespace skewless::agent
