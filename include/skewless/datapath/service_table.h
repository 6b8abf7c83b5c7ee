// Keeps the steering maps equal to a desired set of services, writing only differences
// in the order that keeps concurrent connects safe.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "skewless/abi.h"
#include "skewless/datapath/backend_set.h"
#include "skewless/datapath/steering_maps.h"

namespace skewless::datapath {

enum class Protocol : std::uint8_t { kTcp = IPPROTO_TCP, kUdp = IPPROTO_UDP };

// One Service port: what clients dial and who may answer.
struct ServiceSpec {
  std::string name;  // for errors only, e.g. "default/echo:grpc"
  std::string vip;   // ClusterIP, v4 or v6
  std::uint16_t port = 0;
  Protocol protocol = Protocol::kTcp;
  TrafficDistribution traffic_distribution = TrafficDistribution::kNone;
  std::uint32_t slow_start_window_ms = 0;
  std::uint8_t lb_policy = SKW_LB_LEAST_REQUEST;  // enum skw_lb_policy
  // HTTP/2 port (appProtocol kubernetes.io/h2c or grpc): connects go to the node's
  // splicer when NodeConfig names one (SKW_SVC_F_SPLICE).
  bool splice = false;
  std::vector<Endpoint> endpoints;
};

// Names one service entry (what Remove takes).
struct ServiceRef {
  std::string vip;
  std::uint16_t port = 0;
  Protocol protocol = Protocol::kTcp;
};

// This node, as skw_node and the topology rules see it.
struct NodeConfig {
  NodeLocality locality;
  std::uint32_t spill_ratio_permille = 2000;  // docs/datapath.md defaults
  std::uint32_t spill_min_delta = 8;
  // The node's HTTP/2 splicer (IP:port, [v6]:port); empty = none, so splice services are
  // steered at L4 like the rest.
  std::string splicer_address;
  // SO_MARK on the splicer's own sockets, which are never sent to it; 0 = none.
  std::uint32_t splicer_mark = 0;
};

// Map operations issued so far, by kind. Re-applying an unchanged desired
// state adds nothing to any of them.
struct MapWriteCounts {
  std::uint64_t backend_writes = 0;
  std::uint64_t backend_deletes = 0;
  std::uint64_t set_swaps = 0;         // each: create an inner array, fill it, swap it in
  std::uint64_t set_swap_batches = 0;  // SwapBackendSets calls (not in total())
  std::uint64_t set_deletes = 0;
  std::uint64_t service_writes = 0;
  std::uint64_t service_deletes = 0;
  std::uint64_t node_writes = 0;

  std::uint64_t total() const {
    return backend_writes + backend_deletes + set_swaps + set_deletes + service_writes +
           service_deletes + node_writes;
  }
};

// CLOCK_MONOTONIC in nanoseconds: the clock of bpf_ktime_get_ns().
std::uint64_t MonotonicNowNs();

// Zone names → the zone ids in skw_backend and skw_node: numbered in order of
// first sight from 1, stable for the table's life; "" is 0 (unknown).
class ZoneIds {
 public:
  // ResourceExhausted past 65535 zones (the ABI's 16 bits).
  absl::StatusOr<std::uint16_t> IdOf(const std::string& zone);
  // The name numbered `id` ("" for 0 or an id never given).
  const std::string& NameOf(std::uint16_t id) const;
  const std::map<std::string, std::uint16_t>& all() const { return ids_; }

 private:
  std::map<std::string, std::uint16_t> ids_;
  std::vector<std::string> names_;  // names_[id - 1]
};

// Owns service and backend ids and the writes to the steering maps.
//
// Every call writes in one order across all the services it changes
// (docs/datapath.md): (1) backends any new set references, (2) every changed
// set, swapped in one batch, (3) service entries, (4) removed services'
// entries, then their sets, (5) backends no set references any more, which
// are deleted only kBackendDeleteGraceNs after they dropped out (on a later
// call), so a connect that read an old set always finds the backend it chose.
// A backend id is kept while any service lists the address:port (even not
// ready, so its load counters keep meaning one pod across readiness flaps)
// and while its delete is pending (a backend listed again keeps its id);
// released ids are reused only once fresh ones run out, so connections still
// counted on an old id rarely meet a new owner.
class ServiceTable {
 public:
  // How long a backend no set references stays in skw_backends. The kernel
  // already waits for running programs after each set swap (5.x-6.7 did not
  // after batch updates); this margin does not depend on that.
  static constexpr std::uint64_t kBackendDeleteGraceNs = 1'000'000'000;

  explicit ServiceTable(SteeringMaps& maps, std::function<std::uint64_t()> now_ns = MonotonicNowNs);

  // Takes over what the maps already hold (pinned maps adopted after a
  // restart): the same services and backends keep their ids, and an Apply of
  // the state that was written before writes nothing except zone ids (zone
  // names are not in the maps, so they are renumbered by first sight).
  absl::Status Recover();

  absl::Status SetNode(const NodeConfig& node);

  // Makes the maps hold exactly `desired` (plus nothing else): validates all
  // specs first and writes nothing if one is invalid (the error names it).
  absl::Status Apply(const std::vector<ServiceSpec>& desired);

  // One service at a time; Upsert adds or replaces, Remove is a no-op for an
  // unknown service. Both (and Apply) also delete backends whose grace ran out.
  absl::Status Upsert(const ServiceSpec& spec);
  // Several upserts and removals in one ordered commit (one set-swap batch): what an
  // xDS update that touches many services needs, without re-planning the others.
  // Validates every upsert first and writes nothing if one is invalid; a removal
  // of a service that is also upserted, or unknown, is ignored.
  absl::Status Change(const std::vector<ServiceSpec>& upserts,
                      const std::vector<ServiceRef>& removals);
  absl::Status Remove(const std::string& vip, std::uint16_t port, Protocol protocol);

  const MapWriteCounts& write_counts() const { return counts_; }
  std::optional<std::uint32_t> BackendId(const std::string& address, std::uint16_t port) const;
  std::optional<std::uint32_t> ServiceId(const std::string& vip, std::uint16_t port,
                                         Protocol protocol) const;
  std::size_t service_count() const { return services_.size(); }
  // Zone name → the id written in skw_backend and skw_node (for skewlessctl's names).
  const std::map<std::string, std::uint16_t>& zone_ids() const { return zones_.all(); }
  std::size_t backend_count() const { return backends_.size(); }
  // The ids of every backend in skw_backends (listed or pending delete).
  std::vector<std::uint32_t> BackendIds() const;
  // Backends no set references, still in skw_backends until their grace ends.
  std::size_t pending_backend_deletes() const { return pending_deletes_.size(); }

 private:
  struct KeyLess {
    bool operator()(const skw_service_key& a, const skw_service_key& b) const;
  };
  // What one service says about one backend it lists.
  struct BackendView {
    std::uint16_t zone_id = 0;
    std::uint16_t weight = SKW_DEFAULT_WEIGHT;
    std::uint8_t state = SKW_BACKEND_UNUSED;
  };
  struct ListedBackend {
    BackendAddress address;
    BackendView view;
  };
  // Sorted by address, each once: a vector, as a std::map node per backend costs twice
  // the entry (the agent keeps one per endpoint).
  using Listing = std::vector<ListedBackend>;
  // One Endpoint of a ServiceSpec with its text as bytes and ids, ~32 bytes instead of ~110.
  struct StoredEndpoint {
    BackendAddress backend;
    std::uint32_t node_name = 0;  // index into StoredSpec::node_names
    std::uint16_t zone_id = 0;
    std::uint16_t weight = SKW_DEFAULT_WEIGHT;
    bool ready = true;
    bool serving = true;
    bool terminating = false;
  };
  // What rebuilds a service's set when the node moves (SetNode): its ServiceSpec, the
  // VIP, port and protocol being the service's key.
  struct StoredSpec {
    std::string name;
    TrafficDistribution traffic_distribution = TrafficDistribution::kNone;
    std::uint32_t slow_start_window_ms = 0;
    std::uint8_t lb_policy = SKW_LB_LEAST_REQUEST;
    bool splice = false;
    std::vector<std::string> node_names;    // each once, in order of first sight
    std::vector<StoredEndpoint> endpoints;  // in the spec's order
  };
  struct ServiceState {
    skw_service value{};
    bool value_written = false;
    std::vector<skw_slot> slots;  // as written; empty = must be written
    Listing listed;
    std::optional<StoredSpec> spec;  // absent for services only recovered
  };
  // The services listing a backend, sorted by KeyLess; nearly always just one, kept
  // inline.
  using Referrers = absl::InlinedVector<skw_service_key, 1>;
  struct BackendEntry {
    std::uint32_t id = 0;
    std::optional<skw_backend> written;
    Referrers referrers;
  };
  struct PendingDelete {
    std::uint32_t id = 0;
    std::optional<skw_backend> written;
    std::optional<std::uint64_t> dropped_at_ns;  // none: deletable at once (found on Recover)
  };
  // A spec validated and turned into map terms, before any write.
  struct PlannedService {
    skw_service_key key{};
    const ServiceSpec* spec = nullptr;
    BackendSet set;
    Listing listed;
    StoredSpec stored;
  };
  class IdPool {
   public:
    explicit IdPool(std::uint32_t limit) : limit_(limit) {}
    std::optional<std::uint32_t> Allocate();
    void Release(std::uint32_t id) { released_.push_back(id); }
    void MarkUsed(const std::set<std::uint32_t>& used);

   private:
    std::uint32_t next_ = 1;
    std::uint32_t limit_;
    std::deque<std::uint32_t> released_;
  };

  absl::StatusOr<PlannedService> Plan(const ServiceSpec& spec);
  // Plans every spec (all or nothing); a VIP, port and protocol twice is an error.
  absl::Status PlanAll(const std::vector<ServiceSpec>& specs, std::vector<PlannedService>* planned,
                       std::set<skw_service_key, KeyLess>* keys);
  // Makes the maps hold `planned` and not `gone`, in the order above.
  absl::Status Commit(const std::vector<PlannedService>& planned,
                      const std::vector<skw_service_key>& gone);
  absl::Status List(const PlannedService& planned, std::set<BackendAddress>& touched);
  std::vector<skw_slot> SlotsOf(const PlannedService& planned) const;
  // The spec `stored` was made from, as far as planning it again is concerned.
  ServiceSpec SpecOf(const skw_service_key& key, const StoredSpec& stored) const;
  absl::Status WriteBackendIfChanged(const BackendAddress& address, BackendEntry& entry);
  void PendUnreferenced(const std::set<BackendAddress>& touched);
  absl::Status DeleteExpiredBackends();

  SteeringMaps& maps_;
  std::function<std::uint64_t()> now_ns_;
  NodeConfig node_;
  std::optional<skw_node_config> node_written_;
  ZoneIds zones_;
  std::map<skw_service_key, ServiceState, KeyLess> services_;
  std::map<BackendAddress, BackendEntry> backends_;
  std::map<BackendAddress, PendingDelete> pending_deletes_;
  std::set<std::uint32_t> orphan_sets_;       // recovered sets no service points to
  IdPool service_ids_{SKW_MAX_SERVICES + 1};  // ids [1, SKW_MAX_SERVICES]
  IdPool backend_ids_{SKW_MAX_BACKENDS};      // ids [1, SKW_MAX_BACKENDS)
  MapWriteCounts counts_;
};

}  // namespace skewless::datapath
