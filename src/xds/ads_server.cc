// Client classification and the type-level version shared by both ADS protocols.
#include "skewless/xds/ads_server.h"

#include <algorithm>
#include <cctype>
#include <thread>

#include "src/xds/stream_admission.h"
#include "src/xds/stream_workers.h"

namespace skewless::xds {

namespace {

// gRFC A27: gRPC clients advertise that they ignore overprovisioning_factor.
constexpr std::string_view kGrpcClientFeature = "envoy.lb.does_not_support_overprovisioning";

bool StartsWithGrpc(std::string_view user_agent) {
  if (user_agent.size() < 4) return false;
  std::string prefix(user_agent.substr(0, 4));
  std::transform(prefix.begin(), prefix.end(), prefix.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return prefix == "grpc";
}

}  // namespace

ClientView ViewOf(const envoy::config::core::v3::Node& node) {
  const bool grpc = StartsWithGrpc(node.user_agent_name()) ||
                    std::find(node.client_features().begin(), node.client_features().end(),
                              kGrpcClientFeature) != node.client_features().end();
  if (!grpc) return ClientView{.audience = EndpointAudience::kAgent};
  return ClientView{.audience = EndpointAudience::kGrpcClient, .zone = node.locality().zone()};
}

std::string AudienceLabel(const ClientView& view) {
  return view.audience == EndpointAudience::kGrpcClient ? "grpc" : "agent";
}

std::string TypeVersion(const std::vector<const Resource*>& selected) {
  // "name NUL version NUL" in name order: equal sets, equal versions, on every replica
  // and across restarts; the NULs keep ("ab","c") apart from ("a","bc").
  std::vector<const Resource*> sorted = selected;
  std::sort(sorted.begin(), sorted.end(),
            [](const Resource* a, const Resource* b) { return a->name < b->name; });
  std::string listing;
  for (const Resource* resource : sorted) {
    listing.append(resource->name).push_back('\0');
    listing.append(resource->version).push_back('\0');
  }
  return ContentVersion(listing);
}

AdsService::AdsService(ResourceCache& cache, XdsMetrics& metrics, unsigned worker_threads,
                       StreamLimits limits, ScopeFunction scope_of)
    : cache_(cache),
      metrics_(metrics),
      scope_of_(std::move(scope_of)),
      admission_(std::make_unique<internal::StreamAdmission>(limits, metrics)),
      workers_(std::make_unique<internal::StreamWorkers>(
          worker_threads > 0 ? worker_threads
                             : std::max(1u, std::thread::hardware_concurrency()))) {}

AdsService::~AdsService() = default;

}  // namespace skewless::xds
