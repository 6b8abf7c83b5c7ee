// Builds and shares xDS resources per generation and client view.
#include "skewless/xds/cache.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "skewless/agent/v1/node_info.pb.h"

namespace skewless::xds {

namespace {

const TypeResources& EmptyResources() {
  static const TypeResources* empty = new TypeResources();
  return *empty;
}

// The type URL constant of a cached message.
std::string_view TypeUrlOf(const google::protobuf::Message& message) {
  const std::string& full_name = message.GetDescriptor()->full_name();
  for (std::string_view url : {kClusterTypeUrl, kClusterLoadAssignmentTypeUrl, kListenerTypeUrl,
                               kRouteConfigurationTypeUrl, kNodeInfoTypeUrl, kClusterLoadTypeUrl}) {
    if (url.substr(url.rfind('/') + 1) == full_name) return url;
  }
  return {};
}

// Serialized once: the same deterministic bytes are hashed for the version and served.
std::shared_ptr<const Resource> MakeResource(std::string name,
                                             const google::protobuf::Message& message) {
  auto bytes = std::make_shared<const std::string>(DeterministicBytes(message));
  return std::make_shared<const Resource>(Resource{.name = std::move(name),
                                                   .version = ContentVersion(*bytes),
                                                   .type_url = TypeUrlOf(message),
                                                   .body = std::move(bytes)});
}

// Adds `resource` under its own name (the key views it, so it must be shared).
void Insert(TypeResources& map, const std::shared_ptr<const Resource>& resource) {
  map.emplace_hint(map.end(), resource->name, resource);
}

std::shared_ptr<const TypeResources> NodeInfos(const std::map<std::string, std::string>& zones) {
  auto nodes = std::make_shared<TypeResources>();
  for (const auto& [name, zone] : zones) {
    skewless::agent::v1::NodeInfo info;
    info.set_name(name);
    info.set_zone(zone);
    Insert(*nodes, MakeResource(name, info));
  }
  return nodes;
}

}  // namespace

const TypeResources& ResourceSnapshot::Of(std::string_view type_url) const {
  auto it = by_type.find(type_url);
  return it == by_type.end() || !it->second ? EmptyResources() : *it->second;
}

// What one Service port contributes, built once and reused while the port is unchanged.
struct ResourceCache::PortResources {
  std::shared_ptr<const ServicePort> port;
  std::shared_ptr<const Resource> cluster;
  std::shared_ptr<const Resource> grpc_cluster;  // `cluster` itself unless it differs
  std::shared_ptr<const Resource> agent_endpoints;
  std::vector<std::shared_ptr<const Resource>> listeners;  // one per gRPC target
  std::shared_ptr<const Resource> route;
  std::set<std::string> endpoint_zones;  // zones of this port's endpoints

  // gRPC endpoints per client zone, built on demand for the current client spread.
  std::mutex grpc_mutex;
  std::map<std::string, double> grpc_client_share;
  std::map<std::string, std::shared_ptr<const Resource>> grpc_endpoints;

  absl::StatusOr<std::shared_ptr<const Resource>> GrpcEndpoints(
      const std::string& zone, const std::map<std::string, double>& client_share) {
    std::lock_guard lock(grpc_mutex);
    if (client_share != grpc_client_share) {
      grpc_endpoints.clear();
      grpc_client_share = client_share;
    }
    auto it = grpc_endpoints.find(zone);
    if (it != grpc_endpoints.end()) return it->second;
    absl::StatusOr<envoy::config::endpoint::v3::ClusterLoadAssignment> cla =
        BuildLoadAssignment(*port, {.audience = EndpointAudience::kGrpcClient,
                                    .client_zone = zone,
                                    .client_share = client_share});
    if (!cla.ok()) return cla.status();
    return grpc_endpoints.emplace(zone, MakeResource(cluster->name, *cla)).first->second;
  }
};

// One generation's shared maps: what every view of it is assembled from.
struct ResourceCache::Generation {
  std::uint64_t number = 0;
  std::chrono::steady_clock::time_point updated_at;
  std::map<std::string, double> client_share;
  // Zones of any endpoint or Node: a gRPC client naming another zone is served as one in
  // no zone (its plan is the same), so a client cannot make us build a view per string.
  std::set<std::string> known_zones;
  std::map<std::string, std::shared_ptr<PortResources>> ports;  // by cluster name
  std::shared_ptr<const TypeResources> clusters = std::make_shared<TypeResources>();
  std::shared_ptr<const TypeResources> grpc_clusters = std::make_shared<TypeResources>();
  std::shared_ptr<const TypeResources> agent_endpoints = std::make_shared<TypeResources>();
  std::shared_ptr<const TypeResources> listeners = std::make_shared<TypeResources>();
  std::shared_ptr<const TypeResources> routes = std::make_shared<TypeResources>();
  std::map<std::string, std::string> node_zones;
  std::shared_ptr<const TypeResources> nodes = std::make_shared<TypeResources>();

  // gRPC endpoints per client zone, built on first demand. Held while building, so
  // concurrent streams of one zone wait for one build instead of each doing it.
  std::mutex grpc_mutex;
  std::map<std::string, std::shared_ptr<const TypeResources>> grpc_endpoints;

  std::shared_ptr<const TypeResources> GrpcEndpoints(const std::string& zone) {
    std::lock_guard lock(grpc_mutex);
    auto it = grpc_endpoints.find(zone);
    if (it != grpc_endpoints.end()) return it->second;
    auto built = std::make_shared<TypeResources>();
    for (const auto& [name, port] : ports) {
      // Built and checked with the same code as the agent view, so this cannot fail
      // where that succeeded; if it somehow does, the port has no gRPC endpoints.
      absl::StatusOr<std::shared_ptr<const Resource>> resource =
          port->GrpcEndpoints(zone, client_share);
      if (resource.ok()) Insert(*built, *resource);
    }
    return grpc_endpoints.emplace(zone, std::move(built)).first->second;
  }
};

std::vector<std::shared_ptr<const ServicePort>> SharedPorts(std::vector<ServicePort> ports) {
  std::vector<std::shared_ptr<const ServicePort>> shared;
  shared.reserve(ports.size());
  for (ServicePort& port : ports) shared.push_back(std::make_shared<ServicePort>(std::move(port)));
  return shared;
}

ResourceCache::ResourceCache(CacheOptions options)
    : options_(options), current_(std::make_shared<Generation>()) {}
ResourceCache::~ResourceCache() = default;

std::vector<absl::Status> ResourceCache::Update(CacheInput input) {
  std::shared_ptr<Generation> previous;
  bool same_domain = false;
  {
    std::lock_guard lock(mutex_);
    previous = current_;
    // Listener names embed the cluster domain: a new domain rebuilds everything.
    same_domain = cluster_domain_ == input.cluster_domain;
  }
  auto next = std::make_shared<Generation>();
  std::vector<absl::Status> errors;
  for (const std::shared_ptr<const ServicePort>& port : input.ports) {
    const std::string name = ClusterName(*port);
    auto old = previous->ports.find(name);
    const bool have_old = same_domain && old != previous->ports.end();
    if (have_old && (old->second->port == port || *old->second->port == *port)) {
      next->ports[name] = old->second;
      continue;
    }
    absl::StatusOr<std::shared_ptr<PortResources>> resources =
        BuildPort(port, input.cluster_domain, options_);
    if (resources.ok()) {
      next->ports[name] = *std::move(resources);
      continue;
    }
    errors.push_back(resources.status());
    if (have_old) next->ports[name] = old->second;  // keep the last good version
  }

  auto clusters = std::make_shared<TypeResources>();
  auto grpc_clusters = std::make_shared<TypeResources>();
  auto agent_endpoints = std::make_shared<TypeResources>();
  auto listeners = std::make_shared<TypeResources>();
  auto routes = std::make_shared<TypeResources>();
  for (const auto& [name, port] : next->ports) {
    Insert(*clusters, port->cluster);
    Insert(*grpc_clusters, port->grpc_cluster);
    Insert(*agent_endpoints, port->agent_endpoints);
    Insert(*routes, port->route);
    for (const auto& listener : port->listeners) listeners->emplace(listener->name, listener);
  }
  next->clusters = std::move(clusters);
  // Without a gRPC variant of any cluster, both views share one map.
  next->grpc_clusters = options_.grpc_load_reports ? std::move(grpc_clusters) : next->clusters;
  next->agent_endpoints = std::move(agent_endpoints);
  next->listeners = std::move(listeners);
  next->routes = std::move(routes);
  next->client_share = std::move(input.client_share);
  for (const auto& [name, port] : next->ports) {
    next->known_zones.insert(port->endpoint_zones.begin(), port->endpoint_zones.end());
  }
  for (const auto& [zone, share] : next->client_share) next->known_zones.insert(zone);
  // Nodes change far less often than endpoints: keep the built map while they don't.
  if (input.node_zones == previous->node_zones) {
    next->nodes = previous->nodes;
  } else {
    next->nodes = NodeInfos(input.node_zones);
  }
  next->node_zones = std::move(input.node_zones);

  {
    std::lock_guard lock(mutex_);
    next->number = ++serial_;
    next->updated_at = std::chrono::steady_clock::now();
    loads_.resources = LoadsOfServedClusters(loads_.resources, *next);
    current_ = std::move(next);
    cluster_domain_ = std::move(input.cluster_domain);
    has_input_ = true;
    views_.clear();
  }
  NotifyWatchers(Change::kGeneration);
  return errors;
}

void ResourceCache::NotifyWatchers(Change change) {
  std::vector<std::function<void(Change)>> notify;
  {
    std::lock_guard lock(watchers_mutex_);
    for (const auto& [id, watcher] : watchers_) notify.push_back(watcher);
  }
  for (const auto& watcher : notify) watcher(change);
}

std::shared_ptr<const TypeResources> ResourceCache::LoadsOfServedClusters(
    const std::shared_ptr<const TypeResources>& loads, const Generation& generation) {
  bool all_served = true;
  for (const auto& [name, resource] : *loads) {
    if (!generation.ports.contains(std::string(name))) all_served = false;
  }
  if (all_served) return loads;
  auto served = std::make_shared<TypeResources>();
  for (const auto& [name, resource] : *loads) {
    if (generation.ports.contains(std::string(name))) Insert(*served, resource);
  }
  return served;
}

std::size_t ResourceCache::UpdateClusterLoads(
    std::map<std::string, skewless::load::v1::ClusterLoad> loads) {
  std::shared_ptr<const Generation> generation;
  std::shared_ptr<const TypeResources> previous;
  {
    std::lock_guard lock(mutex_);
    generation = current_;
    previous = loads_.resources;
  }
  auto next = std::make_shared<TypeResources>();
  std::size_t changed = 0;
  auto put = [&](const std::string& name, const skewless::load::v1::ClusterLoad& load) {
    std::shared_ptr<const Resource> resource = MakeResource(name, load);
    auto old = previous->find(name);
    if (old != previous->end() && old->second->version == resource->version) {
      resource = old->second;  // unchanged: the very same resource, its version kept
    } else {
      ++changed;
    }
    next->emplace(resource->name, resource);
  };
  for (auto& [name, load] : loads) {
    if (!generation->ports.contains(name)) continue;
    load.set_cluster_name(name);
    put(name, load);
  }
  for (const auto& [name, resource] : *previous) {
    if (next->contains(name) || !generation->ports.contains(std::string(name))) continue;
    skewless::load::v1::ClusterLoad empty;
    empty.set_cluster_name(std::string(name));
    put(std::string(name), empty);
  }
  for (const auto& [name, resource] : *previous) {
    if (!next->contains(name)) ++changed;  // its Cluster is gone
  }
  if (changed == 0) return 0;
  {
    std::lock_guard lock(mutex_);
    // A generation applied meanwhile pruned the previous loads; this publication is for
    // the older one, so keep only what the newer one serves.
    loads_.resources = current_ == generation ? next : LoadsOfServedClusters(next, *current_);
    loads_.serial = ++serial_;
    loads_.updated_at = std::chrono::steady_clock::now();
    std::erase_if(
        views_, [](const auto& entry) { return entry.first.audience == EndpointAudience::kAgent; });
  }
  NotifyWatchers(Change::kClusterLoads);
  return changed;
}

std::shared_ptr<const ResourceSnapshot> ResourceCache::Snapshot(const ClientView& client_view) {
  std::shared_ptr<Generation> generation;
  PublishedLoads loads;
  std::shared_ptr<const ResourceSnapshot> full;
  ClientView view = client_view;
  ClientView unscoped;
  {
    std::lock_guard lock(mutex_);
    if (!current_->known_zones.contains(view.zone)) view.zone.clear();
    auto it = views_.find(view);
    if (it != views_.end()) return it->second;
    generation = current_;
    loads = loads_;
    unscoped = ClientView{view.audience, view.zone, NamespaceScope{}};
    if (auto found = views_.find(unscoped); found != views_.end()) full = found->second;
  }
  if (!full) {
    full = BuildView(*generation, loads, unscoped);
    std::lock_guard lock(mutex_);
    if (generation == current_ && loads.serial == loads_.serial) {
      full = views_.emplace(unscoped, full).first->second;
    }
  }
  if (view.scope.all) return full;
  std::shared_ptr<const ResourceSnapshot> scoped = BuildScoped(*full, *generation, view.scope);
  std::lock_guard lock(mutex_);
  // Superseded meanwhile: don't memoize.
  if (generation != current_ || loads.serial != loads_.serial) return scoped;
  return views_.emplace(view, std::move(scoped)).first->second;
}

std::shared_ptr<const ResourceSnapshot> ResourceCache::BuildView(Generation& generation,
                                                                 const PublishedLoads& loads,
                                                                 const ClientView& view) {
  auto snapshot = std::make_shared<ResourceSnapshot>();
  snapshot->generation = generation.number;
  snapshot->updated_at = generation.updated_at;
  snapshot->by_type[std::string(kClusterTypeUrl)] =
      view.audience == EndpointAudience::kAgent ? generation.clusters : generation.grpc_clusters;
  if (view.audience == EndpointAudience::kAgent) {
    snapshot->by_type[std::string(kClusterLoadAssignmentTypeUrl)] = generation.agent_endpoints;
    snapshot->by_type[std::string(kNodeInfoTypeUrl)] = generation.nodes;
    snapshot->by_type[std::string(kClusterLoadTypeUrl)] = loads.resources;
    // A load publication after the generation is a change of its own (push latency).
    if (loads.serial > generation.number) {
      snapshot->generation = loads.serial;
      snapshot->updated_at = loads.updated_at;
    }
  } else {
    snapshot->by_type[std::string(kClusterLoadAssignmentTypeUrl)] =
        generation.GrpcEndpoints(view.zone);
    snapshot->by_type[std::string(kListenerTypeUrl)] = generation.listeners;
    snapshot->by_type[std::string(kRouteConfigurationTypeUrl)] = generation.routes;
  }
  return snapshot;
}

std::shared_ptr<const ResourceSnapshot> ResourceCache::BuildScoped(const ResourceSnapshot& full,
                                                                   const Generation& generation,
                                                                   const NamespaceScope& scope) {
  auto snapshot = std::make_shared<ResourceSnapshot>();
  snapshot->generation = full.generation;
  snapshot->updated_at = full.updated_at;
  std::map<std::string_view, std::shared_ptr<TypeResources>> scoped;
  for (const auto& [type_url, resources] : full.by_type) {
    // Nodes are no Service's: only unscoped streams (writers) learn the cluster's zones.
    if (type_url == kNodeInfoTypeUrl) continue;
    scoped[type_url] = std::make_shared<TypeResources>();
  }
  for (const std::string& namespace_name : scope.namespaces) {
    // Ports are keyed "<namespace>/<name>:<port>", and '0' follows '/': one namespace's
    // ports are one range of the map.
    auto first = generation.ports.lower_bound(namespace_name + "/");
    auto last = generation.ports.lower_bound(namespace_name + "0");
    for (auto port = first; port != last; ++port) {
      for (auto& [type_url, resources] : scoped) {
        const TypeResources& all = full.Of(type_url);
        auto take = [&](const std::string& name) {
          if (auto found = all.find(name); found != all.end()) resources->emplace(*found);
        };
        if (type_url == kListenerTypeUrl) {
          for (const auto& listener : port->second->listeners) take(listener->name);
        } else {
          take(port->first);
        }
      }
    }
  }
  for (auto& [type_url, resources] : scoped) {
    snapshot->by_type[std::string(type_url)] = std::move(resources);
  }
  return snapshot;
}

std::uint64_t ResourceCache::generation() const {
  std::lock_guard lock(mutex_);
  return current_->number;
}

bool ResourceCache::has_input() const {
  std::lock_guard lock(mutex_);
  return has_input_;
}

ResourceCache::WatcherId ResourceCache::AddWatcher(std::function<void(Change)> notify) {
  std::lock_guard lock(watchers_mutex_);
  const WatcherId id = next_watcher_++;
  watchers_.emplace(id, std::move(notify));
  return id;
}

void ResourceCache::RemoveWatcher(WatcherId id) {
  std::lock_guard lock(watchers_mutex_);
  watchers_.erase(id);
}

std::map<std::string, std::size_t> ResourceCache::ResourceCounts() {
  std::lock_guard lock(mutex_);
  return {{std::string(kClusterTypeUrl), current_->clusters->size()},
          {std::string(kClusterLoadAssignmentTypeUrl), current_->agent_endpoints->size()},
          {std::string(kListenerTypeUrl), current_->listeners->size()},
          {std::string(kRouteConfigurationTypeUrl), current_->routes->size()},
          {std::string(kNodeInfoTypeUrl), current_->nodes->size()},
          {std::string(kClusterLoadTypeUrl), loads_.resources->size()}};
}

absl::StatusOr<std::shared_ptr<ResourceCache::PortResources>> ResourceCache::BuildPort(
    const std::shared_ptr<const ServicePort>& shared_port, const std::string& cluster_domain,
    const CacheOptions& options) {
  const ServicePort& port = *shared_port;
  auto resources = std::make_shared<ResourceCache::PortResources>();
  resources->port = shared_port;
  const std::string name = ClusterName(port);
  absl::StatusOr<envoy::config::cluster::v3::Cluster> cluster = BuildCluster(port);
  if (!cluster.ok()) return cluster.status();
  resources->cluster = MakeResource(name, *cluster);
  resources->grpc_cluster = resources->cluster;
  if (options.grpc_load_reports) {
    // Only gRPC clients are asked: agents report on their own, and an Envoy is configured
    // by its operator.
    cluster->mutable_lrs_server()->mutable_self();
    resources->grpc_cluster = MakeResource(name, *cluster);
  }
  absl::StatusOr<envoy::config::endpoint::v3::ClusterLoadAssignment> cla =
      BuildLoadAssignment(port, {.audience = EndpointAudience::kAgent});
  if (!cla.ok()) return cla.status();
  resources->agent_endpoints = MakeResource(name, *cla);
  for (const Endpoint& endpoint : port.endpoints) resources->endpoint_zones.insert(endpoint.zone);
  const std::vector<std::string> targets = GrpcTargets(port, cluster_domain);
  absl::StatusOr<std::vector<envoy::config::listener::v3::Listener>> listeners =
      BuildGrpcListeners(port, targets);
  if (!listeners.ok()) return listeners.status();
  for (const auto& listener : *listeners) {
    resources->listeners.push_back(MakeResource(listener.name(), listener));
  }
  absl::StatusOr<envoy::config::route::v3::RouteConfiguration> route =
      BuildRouteConfiguration(port, targets);
  if (!route.ok()) return route.status();
  resources->route = MakeResource(name, *route);
  return resources;
}

}  // namespace skewless::xds
