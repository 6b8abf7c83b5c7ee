// Client classification and the type-level version shared by both ADS protocols.
#include "skewless/xds/ads_server.h"

#include <algorithm>
#include <cctype>
#include <thread>

#include "absl/strings/str_format.h"
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
  // FNV-1a over "name NUL version NUL" in name order: equal sets, equal versions, on
  // every replica and across restarts.
  std::vector<const Resource*> sorted = selected;
  std::sort(sorted.begin(), sorted.end(),
            [](const Resource* a, const Resource* b) { return a->name < b->name; });
  std::uint64_t hash = 0xcbf29ce484222325ull;
  auto mix = [&hash](std::string_view bytes) {
    for (unsigned char c : bytes) {
      hash ^= c;
      hash *= 0x100000001b3ull;
    }
    hash *= 0x100000001b3ull;  // a NUL separator: ("ab","c") differs from ("a","bc")
  };
  for (const Resource* resource : sorted) {
    mix(resource->name);
    mix(resource->version);
  }
  return absl::StrFormat("%016x", hash);
}

AdsService::AdsService(ResourceCache& cache, XdsMetrics& metrics, unsigned worker_threads)
    : cache_(cache),
      metrics_(metrics),
      workers_(std::make_unique<internal::StreamWorkers>(
          worker_threads > 0 ? worker_threads
                             : std::max(1u, std::thread::hardware_concurrency()))) {}

AdsService::~AdsService() = default;

}  // namespace skewless::xds
