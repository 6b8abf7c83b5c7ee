// The xDS server's resources: built once per change of the Service ports, shared by
// every stream, with one variant per kind of client (agents and Envoy; gRPC clients
// per zone). Streams read immutable snapshots and are told when a new one exists.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/any.pb.h"
#include "skewless/load/v1/cluster_load.pb.h"
#include "skewless/xds/model.h"
#include "skewless/xds/namespace_scope.h"
#include "skewless/xds/resources.h"

namespace skewless::xds {

// One resource as served: its name, content version and serialized body (shared, so a
// resource is serialized once however many streams send it; kept as bytes rather than
// an Any so that 100,000 of them do not each carry a copy of their type URL).
struct Resource {
  std::string name;
  std::string version;
  std::string_view type_url;                // one of the k*TypeUrl constants
  std::shared_ptr<const std::string> body;  // the message's serialization

  void PackInto(google::protobuf::Any* any) const {
    any->set_type_url(std::string(type_url));
    any->set_value(*body);
  }
  bool UnpackTo(google::protobuf::Message* message) const {
    return message->ParseFromString(*body);
  }
};

// name → resource, for one type URL. The key views the resource's own name, and the
// resource is shared by every generation and view that serves it unchanged: at 100,000
// endpoints a copy per map entry cost about 200 bytes each, tens of MiB in all.
using TypeResources = std::map<std::string_view, std::shared_ptr<const Resource>, std::less<>>;

// Who a stream serves, from its Node: the audience decides which resources exist and
// how endpoint health is shown; the zone shapes gRPC clients' localities. The scope,
// from who the caller is, decides whose Services exist for it at all.
struct ClientView {
  EndpointAudience audience = EndpointAudience::kAgent;
  std::string zone;  // only for kGrpcClient
  NamespaceScope scope;

  friend auto operator<=>(const ClientView&, const ClientView&) = default;
};

// Everything one kind of client can ask for at one generation. Immutable; the maps
// are shared between every view and stream of the generation (built once each).
struct ResourceSnapshot {
  std::uint64_t generation = 0;
  // When the input of this generation reached the cache: push latency starts here.
  std::chrono::steady_clock::time_point updated_at;
  // type URL → resources
  std::map<std::string, std::shared_ptr<const TypeResources>, std::less<>> by_type;

  const TypeResources& Of(std::string_view type_url) const;
};

// What the cache is built from.
struct CacheInput {
  // Shared, so that a port the source did not change is neither copied nor compared
  // field by field: the same pointer as last time means unchanged.
  std::vector<std::shared_ptr<const ServicePort>> ports;
  // Clients per zone (from Node objects), for gRPC zone spill-over; may be empty.
  std::map<std::string, double> client_share;
  std::string cluster_domain = "cluster.local";
  // Node name → zone ("" = unknown), served to agents as NodeInfo resources.
  std::map<std::string, std::string> node_zones;
};

// Wraps ports for CacheInput (tests and one-off callers).
std::vector<std::shared_ptr<const ServicePort>> SharedPorts(std::vector<ServicePort> ports);

// How the cache shapes resources, fixed for its life.
struct CacheOptions {
  // Clusters served to proxyless gRPC clients name the control plane as their lrs_server
  // (ConfigSource `self`), so those clients report their load over LRS (gRFC A27).
  bool grpc_load_reports = false;
};

// Thread-safe. Update() replaces the input and notifies watchers; Snapshot() returns the
// current generation's resources for a view, built on first request and memoized.
class ResourceCache {
 public:
  explicit ResourceCache(CacheOptions options = {});
  ~ResourceCache();

  // Builds the resources of `input`. A port whose resources cannot be built is reported
  // in the returned list and keeps the resources of its last good version (or is left
  // out if it never had one); every other port is served. Watchers are notified after.
  // One Update at a time (the control plane's source delivers snapshots in order).
  std::vector<absl::Status> Update(CacheInput input);

  // Cheap after the first call per view and generation: a thousand streams waking for
  // one change share one build (the first caller builds, the others wait for it). A
  // scoped view holds only the resources of its namespaces' Service ports (clusters,
  // endpoints, listeners, routes) and no NodeInfo, which is cluster-wide.
  std::shared_ptr<const ResourceSnapshot> Snapshot(const ClientView& view);
  std::uint64_t generation() const;
  bool has_input() const;  // Update() was called at least once

  // What a notification is about: a new generation (anything may have changed), or only
  // ClusterLoads (a stream that does not subscribe to them has nothing to do).
  enum class Change { kGeneration, kClusterLoads };
  // `notify` runs after every Update and every UpdateClusterLoads that changed something,
  // on the updating thread and without the cache's lock held; it must be quick (set a
  // flag, signal a condition variable).
  using WatcherId = std::uint64_t;
  WatcherId AddWatcher(std::function<void(Change)> notify);
  void RemoveWatcher(WatcherId id);

  // Resources per type URL in the agent view and the gRPC view (for metrics; NodeInfo
  // counts Nodes).
  std::map<std::string, std::size_t> ResourceCounts();

  // Publishes the cluster-wide load (ClusterLoad resources, agent view only) without
  // touching any other type: CDS and EDS keep their versions, and streams see only the
  // ClusterLoads that changed. `loads` holds the clusters with load; one not served is
  // ignored, and one that had a ClusterLoad but is absent now gets an empty one (a
  // state-of-the-world client would keep a removed one forever). A ClusterLoad goes when
  // its Cluster goes. Watchers are notified only when something changed. Returns the
  // number of ClusterLoads added, changed or removed. One call at a time (the control
  // plane's LoadPublisher is the only caller).
  std::size_t UpdateClusterLoads(std::map<std::string, skewless::load::v1::ClusterLoad> loads);

 private:
  struct PortResources;  // cache.cc
  struct Generation;     // cache.cc
  // A view of every Service (the scope is ignored).
  struct PublishedLoads {
    std::shared_ptr<const TypeResources> resources = std::make_shared<TypeResources>();
    std::uint64_t serial = 0;  // of the publication, from serial_
    std::chrono::steady_clock::time_point updated_at;
  };
  static std::shared_ptr<const ResourceSnapshot> BuildView(Generation& generation,
                                                           const PublishedLoads& loads,
                                                           const ClientView& view);
  // The ClusterLoads of `loads` whose Cluster `generation` still serves.
  static std::shared_ptr<const TypeResources> LoadsOfServedClusters(
      const std::shared_ptr<const TypeResources>& loads, const Generation& generation);
  void NotifyWatchers(Change change);
  // The part of `full` (a view of `generation`) that `scope`'s namespaces contribute.
  static std::shared_ptr<const ResourceSnapshot> BuildScoped(const ResourceSnapshot& full,
                                                             const Generation& generation,
                                                             const NamespaceScope& scope);
  // Everything of one port but the per-zone gRPC endpoints (built lazily per view).
  static absl::StatusOr<std::shared_ptr<PortResources>> BuildPort(
      const std::shared_ptr<const ServicePort>& port, const std::string& cluster_domain,
      const CacheOptions& options);

  const CacheOptions options_;

  mutable std::mutex mutex_;
  std::shared_ptr<Generation> current_;  // never null
  bool has_input_ = false;
  std::string cluster_domain_;
  std::map<ClientView, std::shared_ptr<const ResourceSnapshot>> views_;  // current_'s
  // ClusterLoads live beside the generations: a load change makes new agent views of
  // the same generation, and the gRPC views (and their per-zone endpoints) stay.
  PublishedLoads loads_;
  // Numbers both generations and load publications, so a stream sees either as new.
  std::uint64_t serial_ = 0;

  std::mutex watchers_mutex_;
  WatcherId next_watcher_ = 1;
  std::map<WatcherId, std::function<void(Change)>> watchers_;
};

}  // namespace skewless::xds
