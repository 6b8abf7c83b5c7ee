// An AdsHandler for the ADS client's tests: records what the client delivers, lets a
// test wait for it, and subscribes to the endpoints of every cluster seen.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "skewless/agent/ads_client.h"

namespace skewless::agent::testing {

// Records what the client delivers; subscribes to the endpoints of every cluster seen.
class RecordingHandler : public AdsHandler {
 public:
  void OnStreamStart(const std::string& server) override {
    std::lock_guard lock(mutex_);
    servers.push_back(server);
    changed_.notify_all();
  }
  absl::Status OnNodeInfo(const std::optional<skewless::agent::v1::NodeInfo>& info) override {
    std::lock_guard lock(mutex_);
    zone = info ? info->zone() : "<none>";
    changed_.notify_all();
    return absl::OkStatus();
  }
  absl::Status OnClusters(const std::vector<envoy::config::cluster::v3::Cluster>& updated,
                          const std::vector<std::string>& removed, bool full_state) override {
    std::lock_guard lock(mutex_);
    ++cluster_responses;
    changed_.notify_all();
    if (reject_clusters) return absl::InvalidArgumentError("cluster default/echo:80: nope");
    if (full_state) clusters.clear();
    for (const auto& cluster : updated) clusters.insert(cluster.name());
    for (const auto& name : removed) clusters.erase(name);
    changed_.notify_all();
    return absl::OkStatus();
  }
  absl::Status OnAssignments(
      const std::vector<envoy::config::endpoint::v3::ClusterLoadAssignment>& updated,
      const std::vector<std::string>& /*removed*/) override {
    std::lock_guard lock(mutex_);
    for (const auto& assignment : updated) {
      endpoint_counts[assignment.cluster_name()] =
          assignment.endpoints_size() == 0 ? 0 : assignment.endpoints(0).lb_endpoints_size();
    }
    changed_.notify_all();
    return absl::OkStatus();
  }
  absl::Status OnClusterLoads(const std::vector<skewless::load::v1::ClusterLoad>& updated,
                              const std::vector<std::string>& removed, bool full_state) override {
    std::lock_guard lock(mutex_);
    if (full_state) cluster_loads.clear();
    for (const auto& load : updated) {
      cluster_loads[load.cluster_name()] =
          load.endpoints_size() == 0 ? 0 : load.endpoints(0).connections();
    }
    for (const auto& name : removed) cluster_loads.erase(name);
    changed_.notify_all();
    return absl::OkStatus();
  }
  std::vector<std::string> EndpointSubscriptions() override {
    std::lock_guard lock(mutex_);
    return {clusters.begin(), clusters.end()};
  }

  // Waits until `done()` holds (under the lock); false after 5 s.
  template <typename Done>
  bool Await(Done done) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(5), done);
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> servers;
  std::string zone;
  std::set<std::string> clusters;
  std::map<std::string, int> endpoint_counts;
  std::map<std::string, std::uint64_t> cluster_loads;  // name → first endpoint's connections
  int cluster_responses = 0;
  bool reject_clusters = false;
};

}  // namespace skewless::agent::testing
