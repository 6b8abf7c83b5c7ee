// Builds and shares xDS resources per generation and client view.
#include "skewless/xds/cache.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace skewless::xds {

namespace {

const TypeResources& EmptyResources() {
  static const TypeResources* empty = new TypeResources();
  return *empty;
}

Resource MakeResource(std::string name, const google::protobuf::Message& message) {
  auto body = std::make_shared<google::protobuf::Any>();
  body->PackFrom(message);
  return Resource{.name = std::move(name), .version = ResourceVersion(message), .body = body};
}

}  // namespace

const TypeResources& ResourceSnapshot::Of(std::string_view type_url) const {
  auto it = by_type.find(type_url);
  return it == by_type.end() ? EmptyResources() : it->second;
}

// What one Service port contributes, built once and reused while the port is unchanged.
struct ResourceCache::PortResources {
  ServicePort port;
  Resource cluster;
  Resource agent_endpoints;
  std::vector<Resource> listeners;  // one per gRPC target
  Resource route;

  // gRPC endpoints per client zone, built on demand for the current client spread.
  std::mutex grpc_mutex;
  std::map<std::string, double> grpc_client_share;
  std::map<std::string, Resource> grpc_endpoints;

  absl::StatusOr<Resource> GrpcEndpoints(const std::string& zone,
                                         const std::map<std::string, double>& client_share) {
    std::lock_guard lock(grpc_mutex);
    if (client_share != grpc_client_share) {
      grpc_endpoints.clear();
      grpc_client_share = client_share;
    }
    auto it = grpc_endpoints.find(zone);
    if (it != grpc_endpoints.end()) return it->second;
    absl::StatusOr<envoy::config::endpoint::v3::ClusterLoadAssignment> cla = BuildLoadAssignment(
        port, {.audience = EndpointAudience::kGrpcClient,
               .client_zone = zone,
               .client_share = client_share});
    if (!cla.ok()) return cla.status();
    return grpc_endpoints.emplace(zone, MakeResource(cluster.name, *cla)).first->second;
  }
};

ResourceCache::ResourceCache() = default;

std::vector<absl::Status> ResourceCache::Update(CacheInput input) {
  std::map<std::string, std::shared_ptr<PortResources>> previous;
  {
    std::lock_guard lock(mutex_);
    // Listener names embed the cluster domain: a new domain rebuilds everything.
    if (input_.cluster_domain == input.cluster_domain) previous = ports_;
  }
  std::vector<absl::Status> errors;
  std::map<std::string, std::shared_ptr<PortResources>> built;
  for (const ServicePort& port : input.ports) {
    const std::string name = ClusterName(port);
    auto old = previous.find(name);
    if (old != previous.end() && old->second->port == port) {
      built[name] = old->second;
      continue;
    }
    absl::StatusOr<std::shared_ptr<PortResources>> resources =
        BuildPort(port, input.cluster_domain);
    if (resources.ok()) {
      built[name] = *std::move(resources);
      continue;
    }
    errors.push_back(resources.status());
    if (old != previous.end()) built[name] = old->second;  // keep the last good version
  }

  {
    std::lock_guard lock(mutex_);
    ports_ = std::move(built);
    input_ = std::move(input);
    input_.ports.clear();  // the ports live in ports_; keep only the options
    ++generation_;
    has_input_ = true;
    updated_at_ = std::chrono::steady_clock::now();
    views_.clear();
  }
  std::vector<std::function<void()>> notify;
  {
    std::lock_guard lock(watchers_mutex_);
    for (const auto& [id, watcher] : watchers_) notify.push_back(watcher);
  }
  for (const auto& watcher : notify) watcher();
  return errors;
}

std::shared_ptr<const ResourceSnapshot> ResourceCache::Snapshot(const ClientView& view) {
  {
    std::lock_guard lock(mutex_);
    auto it = views_.find(view);
    if (it != views_.end()) return it->second;
  }
  std::shared_ptr<const ResourceSnapshot> snapshot = Build(view);
  std::lock_guard lock(mutex_);
  if (snapshot->generation != generation_) return snapshot;  // superseded meanwhile
  return views_.emplace(view, snapshot).first->second;
}

std::shared_ptr<const ResourceSnapshot> ResourceCache::Build(const ClientView& view) {
  std::map<std::string, std::shared_ptr<PortResources>> ports;
  std::map<std::string, double> client_share;
  auto snapshot = std::make_shared<ResourceSnapshot>();
  {
    std::lock_guard lock(mutex_);
    ports = ports_;
    client_share = input_.client_share;
    snapshot->generation = generation_;
    snapshot->updated_at = updated_at_;
  }
  TypeResources& clusters = snapshot->by_type[std::string(kClusterTypeUrl)];
  TypeResources& endpoints = snapshot->by_type[std::string(kClusterLoadAssignmentTypeUrl)];
  for (const auto& [name, port] : ports) {
    clusters.emplace(name, port->cluster);
    if (view.audience == EndpointAudience::kAgent) {
      endpoints.emplace(name, port->agent_endpoints);
      continue;
    }
    // Built and checked with the same code as the agent view, so this cannot fail
    // where that succeeded; if it somehow does, the port has no gRPC endpoints.
    absl::StatusOr<Resource> grpc = port->GrpcEndpoints(view.zone, client_share);
    if (grpc.ok()) endpoints.emplace(name, *std::move(grpc));
  }
  if (view.audience == EndpointAudience::kGrpcClient) {
    TypeResources& listeners = snapshot->by_type[std::string(kListenerTypeUrl)];
    TypeResources& routes = snapshot->by_type[std::string(kRouteConfigurationTypeUrl)];
    for (const auto& [name, port] : ports) {
      for (const Resource& listener : port->listeners) listeners.emplace(listener.name, listener);
      routes.emplace(name, port->route);
    }
  }
  return snapshot;
}

std::uint64_t ResourceCache::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

bool ResourceCache::has_input() const {
  std::lock_guard lock(mutex_);
  return has_input_;
}

ResourceCache::WatcherId ResourceCache::AddWatcher(std::function<void()> notify) {
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
  std::size_t listeners = 0;
  for (const auto& [name, port] : ports_) listeners += port->listeners.size();
  return {{std::string(kClusterTypeUrl), ports_.size()},
          {std::string(kClusterLoadAssignmentTypeUrl), ports_.size()},
          {std::string(kListenerTypeUrl), listeners},
          {std::string(kRouteConfigurationTypeUrl), ports_.size()}};
}

absl::StatusOr<std::shared_ptr<ResourceCache::PortResources>> ResourceCache::BuildPort(
    const ServicePort& port, const std::string& cluster_domain) {
  auto resources = std::make_shared<ResourceCache::PortResources>();
  resources->port = port;
  const std::string name = ClusterName(port);
  absl::StatusOr<envoy::config::cluster::v3::Cluster> cluster = BuildCluster(port);
  if (!cluster.ok()) return cluster.status();
  resources->cluster = MakeResource(name, *cluster);
  absl::StatusOr<envoy::config::endpoint::v3::ClusterLoadAssignment> cla =
      BuildLoadAssignment(port, {.audience = EndpointAudience::kAgent});
  if (!cla.ok()) return cla.status();
  resources->agent_endpoints = MakeResource(name, *cla);
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
