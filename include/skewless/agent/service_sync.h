// The agent's view of what the control plane serves, and the writes that keep the BPF
// maps equal to it. Transport-free: the ADS client feeds it decoded resources, tests
// feed it directly.
//
// Never a gap: nothing is written until a stream has delivered a complete state (the
// node's zone, every cluster, and the endpoints of every steered cluster). Then one
// Apply reconciles the maps with it (removing only what the control plane no longer
// serves, including state adopted from a previous agent), and later updates are
// written as diffs. A new stream (reconnect, another replica) starts a new re-read; the
// maps keep the last good state until it is complete.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "skewless/agent/cluster_translation.h"
#include "skewless/agent/v1/node_info.pb.h"
#include "skewless/datapath/service_table.h"
#include "skewless/loadreport/load_report.h"

namespace skewless::agent {

struct SyncOptions {
  std::string node_name;
  // When set, wins over the zone the control plane reports for the node.
  std::optional<std::string> zone;
  std::uint32_t slow_start_window_ms = 0;
  std::uint32_t spill_ratio_permille = 2000;
  std::uint32_t spill_min_delta = 8;
  std::string splicer_address;  // datapath::NodeConfig's
  std::uint32_t splicer_mark = 0;
};

struct SyncState {
  bool synced = false;  // a complete state has been written at least once
  std::string zone;     // this node's zone as written to skw_node ("" = unknown)
  std::size_t clusters = 0;
  std::size_t steered_clusters = 0;
  std::size_t services = 0;  // map entries: one per VIP
  std::size_t backends = 0;
  std::map<std::string, std::uint16_t> zone_ids;
};

class ServiceSync {
 public:
  ServiceSync(datapath::ServiceTable& table, SyncOptions options);

  // A new ADS stream: everything must be read again before the next reconcile.
  void BeginStream();

  // Each call applies what it can and returns an error naming what it rejected (the
  // NACK's detail); a rejected resource keeps its last good version.
  absl::Status OnNodeInfo(const std::optional<skewless::agent::v1::NodeInfo>& info);
  // `full_state`: `updated` is every cluster there is (state of the world), so others
  // are removed; otherwise (delta) only `removed` are.
  absl::Status OnClusters(const std::vector<envoy::config::cluster::v3::Cluster>& updated,
                          const std::vector<std::string>& removed, bool full_state);
  absl::Status OnAssignments(
      const std::vector<envoy::config::endpoint::v3::ClusterLoadAssignment>& updated,
      const std::vector<std::string>& removed);

  // Every address of every steered cluster's endpoints that has a backend in the maps,
  // with its id: what load reports count and ClusterLoads name.
  std::vector<loadreport::SteeredEndpoint> SteeredEndpoints() const;
  // The clusters the data path steers (name, VIPs and port), by name: what the splicer
  // names its load reports' clusters by (the maps hold VIPs, not names).
  std::vector<ClusterTarget> SteeredTargets() const;
  // Clusters whose endpoints the agent needs (the steered ones), sorted.
  std::vector<std::string> EndpointSubscriptions() const;
  SyncState State() const;
  const datapath::MapWriteCounts& write_counts() const { return table_.write_counts(); }

 private:
  // A cluster's endpoints as kept between updates, ~40 bytes each instead of ~200: of
  // each endpoint what SpecsOf reads (its first address of either family), each zone
  // and node name once per cluster.
  class StoredEndpoints {
   public:
    StoredEndpoints() = default;
    explicit StoredEndpoints(const std::vector<AssignedEndpoint>& endpoints);
    std::vector<AssignedEndpoint> Expanded() const;
    bool empty() const { return endpoints_.empty(); }
    friend bool operator==(const StoredEndpoints&, const StoredEndpoints&) = default;

   private:
    struct Endpoint {
      std::array<std::uint8_t, 16> v6{};
      std::array<std::uint8_t, 4> v4{};
      std::uint32_t zone = 0;       // index into names_
      std::uint32_t node_name = 0;  // index into names_
      std::uint16_t port = 0;
      std::uint16_t weight = 1;
      bool has_v4 = false;
      bool has_v6 = false;
      bool ready = true;
      bool serving = true;
      bool terminating = false;
      friend bool operator==(const Endpoint&, const Endpoint&) = default;
    };
    std::vector<std::string> names_;  // each once, in order of first sight
    std::vector<Endpoint> endpoints_;
  };
  struct Cluster {
    ClusterTarget target;
    std::optional<StoredEndpoints> endpoints;  // none until its CLA came
  };

  // Writes the changes of the named clusters (removing `stale` targets' VIPs first), or
  // reconciles everything when a stream's state just became complete.
  absl::Status Flush(const std::vector<std::string>& changed,
                     const std::vector<ClusterTarget>& stale);
  bool StreamComplete() const;
  absl::Status Reconcile();
  absl::Status WriteNode();

  datapath::ServiceTable& table_;
  const SyncOptions options_;
  std::map<std::string, Cluster> clusters_;
  std::string zone_;
  bool synced_ = false;  // ever
  // This stream's progress towards a complete state (the sets are emptied once it is).
  bool stream_synced_ = false;
  bool node_seen_ = false;
  bool clusters_seen_ = false;
  std::set<std::string> clusters_this_stream_;
  std::set<std::string> endpoints_this_stream_;
};

}  // namespace skewless::agent
