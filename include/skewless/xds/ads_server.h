// The Aggregated Discovery Service: state-of-the-world and delta ADS streams over the
// ResourceCache, one thread pair per stream so a slow client only ever delays itself.
#pragma once

#include <atomic>
#include <cstdint>

#include "envoy/config/core/v3/base.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "skewless/xds/cache.h"
#include "skewless/xds/server_metrics.h"

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

class AdsService final
    : public envoy::service::discovery::v3::AggregatedDiscoveryService::Service {
 public:
  AdsService(ResourceCache& cache, XdsMetrics& metrics);

  grpc::Status StreamAggregatedResources(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<envoy::service::discovery::v3::DiscoveryResponse,
                               envoy::service::discovery::v3::DiscoveryRequest>* stream) override;

  grpc::Status DeltaAggregatedResources(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<envoy::service::discovery::v3::DeltaDiscoveryResponse,
                               envoy::service::discovery::v3::DeltaDiscoveryRequest>* stream)
      override;

  std::uint64_t open_streams() const { return open_streams_.load(); }

 private:
  ResourceCache& cache_;
  XdsMetrics& metrics_;
  std::atomic<std::uint64_t> next_stream_id_{1};
  std::atomic<std::uint64_t> open_streams_{0};
};

}  // namespace skewless::xds
