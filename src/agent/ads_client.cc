// ADS streams from the agent to the control plane, delta and state of the world.
#include "skewless/agent/ads_client.h"

#include <malloc.h>

#include <algorithm>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "envoy/service/discovery/v3/ads.pb.h"
#include "skewless/common/log.h"
#include "skewless/h2/grpc_client_stream.h"
#include "skewless/loadreport/control_plane_call.h"
#include "skewless/xds/resources.h"
#include "skewless/xds/server_metrics.h"

namespace skewless::agent {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

constexpr char kDeltaMethod[] =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";
constexpr char kSotwMethod[] =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

// Unpacks every resource of a response into T; a resource that does not unpack is an
// error naming it (and the whole response is NACKed, nothing of it applied).
template <typename T>
absl::StatusOr<std::vector<T>> Unpack(const std::vector<const google::protobuf::Any*>& resources,
                                      std::string_view type_url) {
  std::vector<T> out;
  out.reserve(resources.size());
  for (const google::protobuf::Any* resource : resources) {
    const google::protobuf::Any& any = *resource;
    if (any.type_url() != type_url) {
      return absl::InvalidArgumentError(absl::StrCat("resource of type ", any.type_url(), " in a ",
                                                     std::string(type_url), " response"));
    }
    T message;
    if (!any.UnpackTo(&message)) {
      return absl::InvalidArgumentError(
          absl::StrCat("a ", std::string(type_url), " resource does not parse"));
    }
    out.push_back(std::move(message));
  }
  return out;
}

// Replaces a handled response with an empty one, and after a large one (an initial
// state) gives the freed heap back to the system: glibc would keep it, and the agent
// runs on every node.
template <typename Response>
void ReleaseIfLarge(Response& response) {
  const bool large = response.ByteSizeLong() > (std::size_t{64} << 10);
  response = Response();
  if (large) malloc_trim(0);
}

std::vector<std::string> Diff(const std::vector<std::string>& a, const std::set<std::string>& b) {
  std::vector<std::string> out;
  for (const std::string& name : a) {
    if (!b.contains(name)) out.push_back(name);
  }
  return out;
}

}  // namespace

AdsClient::AdsClient(AdsClientOptions options, AdsHandler& handler, prometheus::Registry& registry)
    : options_(std::move(options)),
      handler_(handler),
      metrics_{
          .connected =
              registry.AddGauge("skewless_agent_xds_connected",
                                "1 while an ADS stream to a control plane is open.", {"server"}),
          .streams = registry.AddCounter("skewless_agent_xds_streams_total",
                                         "ADS streams opened (the first and every reconnect).",
                                         {"server"}),
          .responses =
              registry.AddCounter("skewless_agent_xds_responses_total",
                                  "Discovery responses received, per resource type.", {"type"}),
          .nacks = registry.AddCounter(
              "skewless_agent_xds_nacks_total",
              "Responses rejected (NACKed) because something in them could not be applied.",
              {"type"}),
      } {}

AdsClient::~AdsClient() { Stop(); }

void AdsClient::Start() {
  thread_ = std::thread([this] { Run(); });
}

void AdsClient::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (stream_ != nullptr) stream_->Cancel();
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

bool AdsClient::Sleep(std::chrono::milliseconds duration) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, duration, [&] { return stopping_.load(); });
}

void AdsClient::Run() {
  std::mt19937 random(std::random_device{}());
  std::chrono::milliseconds backoff = options_.initial_backoff;
  for (std::size_t attempt = 0; !stopping_; ++attempt) {
    const std::string& server = options_.servers[attempt % options_.servers.size()];
    metrics_.streams.With({server}).Increment();
    const bool got_responses =
        options_.protocol == AdsProtocol::kDelta ? RunDelta(server) : RunSotw(server);
    handler_.OnStreamEnd();
    connected_ = false;
    metrics_.connected.With({server}).Set(0);
    if (stopping_) break;
    if (got_responses) backoff = options_.initial_backoff;
    // ±20% so that a fleet of agents does not reconnect in lockstep after an outage.
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    const auto wait = std::chrono::milliseconds(
        static_cast<long>(static_cast<double>(backoff.count()) * jitter(random)));
    log::Warn("ADS stream ended; the maps keep their last state",
              {{"server", server}, {"retry_in_ms", absl::StrCat(wait.count())}});
    if (!Sleep(wait)) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool AdsClient::Open(h2::GrpcClientStream& stream, const std::string& server) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    stream_ = &stream;
  }
  if (stream.Start().ok()) return true;
  EndStream(stream, server);
  return false;
}

void AdsClient::EndStream(h2::GrpcClientStream& stream, const std::string& server) {
  {
    std::lock_guard lock(mutex_);
    stream_ = nullptr;
  }
  const absl::Status status = stream.Finish();
  if (!stopping_) {
    log::Warn("ADS stream failed", {{"server", server}, {"error", std::string(status.message())}});
  }
}

void AdsClient::Received(const std::string& server, const char* protocol,
                         const std::string& type_url, bool* first) {
  if (*first) {
    *first = false;
    connected_ = true;
    metrics_.connected.With({server}).Set(1);
    log::Info("ADS stream open", {{"server", server}, {"protocol", protocol}});
  }
  metrics_.responses.With({xds::TypeLabel(type_url)}).Increment();
}

void AdsClient::Nacked(const std::string& type_url, const absl::Status& error,
                       google::rpc::Status* detail) {
  metrics_.nacks.With({xds::TypeLabel(type_url)}).Increment();
  log::Warn("NACK: part of an xDS response could not be applied",
            {{"type", xds::TypeLabel(type_url)}, {"error", std::string(error.message())}});
  detail->set_code(static_cast<int>(absl::StatusCode::kInvalidArgument));
  detail->set_message(std::string(error.message()));
}

absl::Status AdsClient::Dispatch(const std::string& type_url, const AnyList& resources,
                                 const std::vector<std::string>& removed, bool full_state) {
  if (type_url == xds::kNodeInfoTypeUrl) {
    auto infos = Unpack<skewless::agent::v1::NodeInfo>(resources, type_url);
    if (!infos.ok()) return infos.status();
    std::optional<skewless::agent::v1::NodeInfo> mine;
    for (auto& info : *infos) {
      if (info.name() == options_.node_name) mine = std::move(info);
    }
    return handler_.OnNodeInfo(mine);
  }
  if (type_url == xds::kClusterTypeUrl) {
    auto clusters = Unpack<envoy::config::cluster::v3::Cluster>(resources, type_url);
    if (!clusters.ok()) return clusters.status();
    return handler_.OnClusters(*clusters, removed, full_state);
  }
  if (type_url == xds::kClusterLoadAssignmentTypeUrl) {
    auto assignments =
        Unpack<envoy::config::endpoint::v3::ClusterLoadAssignment>(resources, type_url);
    if (!assignments.ok()) return assignments.status();
    return handler_.OnAssignments(*assignments, removed);
  }
  if (type_url == xds::kClusterLoadTypeUrl && options_.cluster_load) {
    auto loads = Unpack<skewless::load::v1::ClusterLoad>(resources, type_url);
    if (!loads.ok()) return loads.status();
    return handler_.OnClusterLoads(*loads, removed, full_state);
  }
  return absl::OkStatus();  // a type we did not ask for: ACKed, ignored
}

bool AdsClient::RunDelta(const std::string& server) {
  h2::GrpcClientStream stream(loadreport::ControlPlaneCall(
      server, kDeltaMethod, loadreport::kAgentUserAgent, options_.tls, options_.bearer_token_file));
  if (!Open(stream, server)) return false;
  bool first = true;
  std::set<std::string> endpoint_names;
  handler_.OnStreamStart(server);

  auto send_endpoint_subscriptions = [&]() {
    const std::vector<std::string> wanted = handler_.EndpointSubscriptions();
    const std::set<std::string> wanted_set(wanted.begin(), wanted.end());
    DeltaDiscoveryRequest request;
    request.set_type_url(std::string(xds::kClusterLoadAssignmentTypeUrl));
    for (const std::string& name : Diff(wanted, endpoint_names)) {
      request.add_resource_names_subscribe(name);
    }
    for (const std::string& name : endpoint_names) {
      if (!wanted_set.contains(name)) request.add_resource_names_unsubscribe(name);
    }
    endpoint_names = wanted_set;
    if (request.resource_names_subscribe_size() == 0 &&
        request.resource_names_unsubscribe_size() == 0) {
      return true;
    }
    if (!stream.Write(request)) return false;
    if (!options_.cluster_load) return true;
    // The same names: the load of exactly the clusters steered here.
    request.set_type_url(std::string(xds::kClusterLoadTypeUrl));
    return stream.Write(request);
  };

  DeltaDiscoveryRequest node_request;
  *node_request.mutable_node() =
      loadreport::ClientNode(loadreport::kAgentUserAgent, options_.node_name, options_.zone);
  node_request.set_type_url(std::string(xds::kNodeInfoTypeUrl));
  node_request.add_resource_names_subscribe(options_.node_name);
  DeltaDiscoveryRequest clusters_request;
  clusters_request.set_type_url(std::string(xds::kClusterTypeUrl));
  // (Assigned, not add_...(const char*): g++ 12 -Wrestrict misfires on that inline.)
  clusters_request.add_resource_names_subscribe()->assign(1, '*');
  bool ok = stream.Write(node_request) && stream.Write(clusters_request);

  // A response per read: a reused message would keep the capacity of the largest one
  // (the initial state of every cluster) for the life of the stream.
  for (DeltaDiscoveryResponse response; ok && stream.Read(&response); ReleaseIfLarge(response)) {
    const std::string& type_url = response.type_url();
    Received(server, "delta", type_url, &first);
    AnyList resources;
    for (const auto& resource : response.resources()) resources.push_back(&resource.resource());
    const absl::Status applied =
        Dispatch(type_url, resources,
                 {response.removed_resources().begin(), response.removed_resources().end()},
                 /*full_state=*/false);
    DeltaDiscoveryRequest ack;
    ack.set_type_url(type_url);
    ack.set_response_nonce(response.nonce());
    if (!applied.ok()) Nacked(type_url, applied, ack.mutable_error_detail());
    ok = stream.Write(ack);
    if (ok && type_url == xds::kClusterTypeUrl) ok = send_endpoint_subscriptions();
  }
  EndStream(stream, server);
  return !first;
}

bool AdsClient::RunSotw(const std::string& server) {
  h2::GrpcClientStream stream(loadreport::ControlPlaneCall(
      server, kSotwMethod, loadreport::kAgentUserAgent, options_.tls, options_.bearer_token_file));
  if (!Open(stream, server)) return false;
  bool first = true;
  bool node_answered = false;
  std::vector<std::string> endpoint_names;
  // Per type: the version last accepted and the nonce last seen, for ACKs and NACKs.
  std::map<std::string, std::pair<std::string, std::string>> acked;
  handler_.OnStreamStart(server);

  auto request_for = [&](std::string_view type_url) {
    DiscoveryRequest request;
    request.set_type_url(std::string(type_url));
    if (type_url == xds::kNodeInfoTypeUrl) request.add_resource_names(options_.node_name);
    if (type_url == xds::kClusterLoadAssignmentTypeUrl || type_url == xds::kClusterLoadTypeUrl) {
      for (const std::string& name : endpoint_names) request.add_resource_names(name);
    }
    auto it = acked.find(std::string(type_url));
    if (it != acked.end()) {
      request.set_version_info(it->second.first);
      request.set_response_nonce(it->second.second);
    }
    return request;
  };

  DiscoveryRequest node_request = request_for(xds::kNodeInfoTypeUrl);
  *node_request.mutable_node() =
      loadreport::ClientNode(loadreport::kAgentUserAgent, options_.node_name, options_.zone);
  bool ok = stream.Write(node_request) && stream.Write(request_for(xds::kClusterTypeUrl));

  for (DiscoveryResponse response; ok && stream.Read(&response); ReleaseIfLarge(response)) {
    const std::string& type_url = response.type_url();
    Received(server, "sotw", type_url, &first);
    absl::Status applied;
    if (type_url == xds::kNodeInfoTypeUrl) node_answered = true;
    if (type_url == xds::kClusterTypeUrl && !node_answered) {
      // State of the world never answers a name that does not exist, and the control
      // plane answers NodeInfo before clusters: no NodeInfo by now means an unknown node.
      node_answered = true;
      applied = handler_.OnNodeInfo(std::nullopt);
    }
    AnyList resources;
    for (const auto& resource : response.resources()) resources.push_back(&resource);
    const absl::Status dispatched = Dispatch(type_url, resources, {}, /*full_state=*/true);
    if (applied.ok()) applied = dispatched;
    auto& [version, nonce] = acked[type_url];
    nonce = response.nonce();
    if (applied.ok()) version = response.version_info();
    DiscoveryRequest ack = request_for(type_url);
    if (!applied.ok()) Nacked(type_url, applied, ack.mutable_error_detail());
    ok = stream.Write(ack);
    if (ok && type_url == xds::kClusterTypeUrl) {
      std::vector<std::string> wanted = handler_.EndpointSubscriptions();
      if (wanted != endpoint_names) {
        endpoint_names = std::move(wanted);
        ok = stream.Write(request_for(xds::kClusterLoadAssignmentTypeUrl));
        if (ok && options_.cluster_load) ok = stream.Write(request_for(xds::kClusterLoadTypeUrl));
      }
    }
  }
  EndStream(stream, server);
  return !first;
}

}  // namespace skewless::agent
