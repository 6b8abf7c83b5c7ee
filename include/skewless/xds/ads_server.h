// The Aggregated Discovery Service: state-of-the-world and delta ADS streams over the
// ResourceCache, one thread pair per stream so a slow client only ever delays itself.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "envoy/config/core/v3/base.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "skewless/xds/cache.h"
#include "skewless/xds/server_metrics.h"
#include "skewless/xds/stream_limits.h"

namespace skewless::xds {

// Which resources a client gets, from its bootstrap Node: gRPC clients (user agent
// "gRPC ..." or the gRPC-only client feature of gRFC A27) get LDS/RDS/CDS/EDS with ready
// endpoints only, zone-shaped by node.locality.zone; everyone else (skewless agents,
// Envoy) gets CDS/EDS with every endpoint and its health.
ClientView ViewOf(const envoy::config::core::v3::Node& node);

// "grpc" or "agent", for logs and metrics.
std::string AudienceLabel(const ClientView& view);

// Every resource type's response carries a version_info: a content hash of the names
// and versions of everything of that type the client subscribes to.
std::string TypeVersion(const std::vector<const Resource*>& selected);

namespace internal {
class StreamWorkers;
class StreamAdmission;
}  // namespace internal

// On gRPC's callback API: streams cost no thread each; their protocol work runs on
// `worker_threads` shared threads (default: one per core).
class AdsService final
    : public envoy::service::discovery::v3::AggregatedDiscoveryService::CallbackService {
 public:
  // Decides, when a stream opens, whose Services it is served (from the caller's
  // authenticated identity); none = every stream sees all.
  using ScopeFunction = std::function<NamespaceScope(const grpc::CallbackServerContext&)>;

  AdsService(ResourceCache& cache, XdsMetrics& metrics, unsigned worker_threads = 0,
             StreamLimits limits = {}, ScopeFunction scope_of = {});
  ~AdsService() override;  // after the gRPC server has shut down

  grpc::ServerBidiReactor<envoy::service::discovery::v3::DiscoveryRequest,
                          envoy::service::discovery::v3::DiscoveryResponse>*
  StreamAggregatedResources(grpc::CallbackServerContext* context) override;

  grpc::ServerBidiReactor<envoy::service::discovery::v3::DeltaDiscoveryRequest,
                          envoy::service::discovery::v3::DeltaDiscoveryResponse>*
  DeltaAggregatedResources(grpc::CallbackServerContext* context) override;

 private:
  NamespaceScope ScopeOf(const grpc::CallbackServerContext& context) const {
    return scope_of_ ? scope_of_(context) : NamespaceScope{};
  }

  ResourceCache& cache_;
  XdsMetrics& metrics_;
  const ScopeFunction scope_of_;
  std::unique_ptr<internal::StreamAdmission> admission_;
  std::unique_ptr<internal::StreamWorkers> workers_;
  std::atomic<std::uint64_t> next_stream_id_{1};
};

}  // namespace skewless::xds
