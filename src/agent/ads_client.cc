// ADS streams from the agent to the control plane, delta and state of the world.
#include "skewless/agent/ads_client.h"

#include <grpcpp/grpcpp.h>
#include <malloc.h>

#include <algorithm>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "skewless/common/log.h"
#include "skewless/xds/resources.h"
#include "skewless/xds/server_metrics.h"

namespace skewless::agent {
namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

constexpr char kVersion[] = "0.1.0";

envoy::config::core::v3::Node NodeOf(const AdsClientOptions& options) {
  envoy::config::core::v3::Node node;
  node.set_id(options.node_name);
  node.set_user_agent_name("skewless-agent");
  node.set_user_agent_version(kVersion);
  if (!options.zone.empty()) node.mutable_locality()->set_zone(options.zone);
  return node;
}

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& server) {
  grpc::ChannelArguments args;
  // A control plane that vanished without a FIN is noticed within a minute, not hours.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // The initial state of a large cluster is one response (100,000 endpoints are ~9 MB);
  // gRPC's default 4 MiB cap would refuse it and the agent would never sync.
  args.SetMaxReceiveMessageSize(-1);
  // Our own backoff decides when to redial; gRPC's would add a second, hidden one.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), args);
}

// Unpacks every resource of a response into T; a resource that does not unpack is an
// error naming it (and the whole response is NACKed, nothing of it applied).
template <typename T, typename Resources>
absl::StatusOr<std::vector<T>> Unpack(const Resources& resources,
                                      std::string_view type_url) {
  std::vector<T> out;
  for (const auto& any : resources) {
    if (any.type_url() != type_url) {
      return absl::InvalidArgumentError(
          absl::StrCat("resource of type ", any.type_url(), " in a ", std::string(type_url),
                       " response"));
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

AdsClient::AdsClient(AdsClientOptions options, AdsHandler& handler,
                     prometheus::Registry& registry)
    : options_(std::move(options)),
      handler_(handler),
      metrics_{
          .connected = registry.AddGauge("skewless_agent_xds_connected",
                                         "1 while an ADS stream to a control plane is open.",
                                         {"server"}),
          .streams = registry.AddCounter("skewless_agent_xds_streams_total",
                                         "ADS streams opened (the first and every reconnect).",
                                         {"server"}),
          .responses = registry.AddCounter("skewless_agent_xds_responses_total",
                                           "Discovery responses received, per resource type.",
                                           {"type"}),
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
    if (context_ != nullptr) context_->TryCancel();
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
    const bool got_responses = options_.protocol == AdsProtocol::kDelta ? RunDelta(server)
                                                                        : RunSotw(server);
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

bool AdsClient::RunDelta(const std::string& server) {
  auto stub = AggregatedDiscoveryService::NewStub(ChannelTo(server));
  grpc::ClientContext context;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    context_ = &context;
  }
  auto stream = stub->DeltaAggregatedResources(&context);
  bool got_response = false;
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
    return stream->Write(request);
  };

  DeltaDiscoveryRequest node_request;
  *node_request.mutable_node() = NodeOf(options_);
  node_request.set_type_url(std::string(xds::kNodeInfoTypeUrl));
  node_request.add_resource_names_subscribe(options_.node_name);
  DeltaDiscoveryRequest clusters_request;
  clusters_request.set_type_url(std::string(xds::kClusterTypeUrl));
  // (Assigned, not add_...(const char*): g++ 12 -Wrestrict misfires on that inline.)
  clusters_request.add_resource_names_subscribe()->assign(1, '*');
  bool ok = stream->Write(node_request) && stream->Write(clusters_request);

  // A response per read: a reused message would keep the capacity of the largest one
  // (the initial state of every cluster) for the life of the stream.
  for (DeltaDiscoveryResponse response; ok && stream->Read(&response);
       ReleaseIfLarge(response)) {
    if (!got_response) {
      got_response = true;
      connected_ = true;
      metrics_.connected.With({server}).Set(1);
      log::Info("ADS stream open", {{"server", server}, {"protocol", "delta"}});
    }
    const std::string& type_url = response.type_url();
    metrics_.responses.With({xds::TypeLabel(type_url)}).Increment();
    std::vector<std::string> removed(response.removed_resources().begin(),
                                     response.removed_resources().end());
    std::vector<google::protobuf::Any> anys;
    for (const auto& resource : response.resources()) anys.push_back(resource.resource());
    absl::Status applied;
    if (type_url == xds::kNodeInfoTypeUrl) {
      auto infos = Unpack<skewless::agent::v1::NodeInfo>(anys, type_url);
      if (!infos.ok()) {
        applied = infos.status();
      } else {
        std::optional<skewless::agent::v1::NodeInfo> mine;
        for (auto& info : *infos) {
          if (info.name() == options_.node_name) mine = info;
        }
        applied = handler_.OnNodeInfo(mine);
      }
    } else if (type_url == xds::kClusterTypeUrl) {
      auto clusters = Unpack<envoy::config::cluster::v3::Cluster>(anys, type_url);
      applied = clusters.ok() ? handler_.OnClusters(*clusters, removed, false) : clusters.status();
    } else if (type_url == xds::kClusterLoadAssignmentTypeUrl) {
      auto assignments = Unpack<envoy::config::endpoint::v3::ClusterLoadAssignment>(anys, type_url);
      applied =
          assignments.ok() ? handler_.OnAssignments(*assignments, removed) : assignments.status();
    }
    DeltaDiscoveryRequest ack;
    ack.set_type_url(type_url);
    ack.set_response_nonce(response.nonce());
    if (!applied.ok()) {
      metrics_.nacks.With({xds::TypeLabel(type_url)}).Increment();
      log::Warn("NACK: part of an xDS response could not be applied",
                {{"type", xds::TypeLabel(type_url)}, {"error", std::string(applied.message())}});
      ack.mutable_error_detail()->set_code(static_cast<int>(absl::StatusCode::kInvalidArgument));
      ack.mutable_error_detail()->set_message(std::string(applied.message()));
    }
    ok = stream->Write(ack);
    if (ok && type_url == xds::kClusterTypeUrl) ok = send_endpoint_subscriptions();
  }
  {
    std::lock_guard lock(mutex_);
    context_ = nullptr;
  }
  context.TryCancel();
  grpc::Status status = stream->Finish();
  if (!stopping_) {
    log::Warn("ADS stream failed", {{"server", server}, {"error", status.error_message()}});
  }
  return got_response;
}

bool AdsClient::RunSotw(const std::string& server) {
  auto stub = AggregatedDiscoveryService::NewStub(ChannelTo(server));
  grpc::ClientContext context;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    context_ = &context;
  }
  auto stream = stub->StreamAggregatedResources(&context);
  bool got_response = false;
  bool node_answered = false;
  std::vector<std::string> endpoint_names;
  // Per type: the version and nonce last accepted / seen, for ACKs and NACKs.
  std::map<std::string, std::pair<std::string, std::string>> acked;
  handler_.OnStreamStart(server);

  auto request_for = [&](std::string_view type_url, const std::vector<std::string>& names) {
    DiscoveryRequest request;
    request.set_type_url(std::string(type_url));
    for (const std::string& name : names) request.add_resource_names(name);
    auto it = acked.find(std::string(type_url));
    if (it != acked.end()) {
      request.set_version_info(it->second.first);
      request.set_response_nonce(it->second.second);
    }
    return request;
  };

  DiscoveryRequest node_request = request_for(xds::kNodeInfoTypeUrl, {options_.node_name});
  *node_request.mutable_node() = NodeOf(options_);
  bool ok = stream->Write(node_request) && stream->Write(request_for(xds::kClusterTypeUrl, {}));

  for (DiscoveryResponse response; ok && stream->Read(&response); ReleaseIfLarge(response)) {
    if (!got_response) {
      got_response = true;
      connected_ = true;
      metrics_.connected.With({server}).Set(1);
      log::Info("ADS stream open", {{"server", server}, {"protocol", "sotw"}});
    }
    const std::string& type_url = response.type_url();
    metrics_.responses.With({xds::TypeLabel(type_url)}).Increment();
    absl::Status applied;
    if (type_url == xds::kNodeInfoTypeUrl) {
      node_answered = true;
      auto infos = Unpack<skewless::agent::v1::NodeInfo>(response.resources(), type_url);
      if (!infos.ok()) {
        applied = infos.status();
      } else {
        std::optional<skewless::agent::v1::NodeInfo> mine;
        for (auto& info : *infos) {
          if (info.name() == options_.node_name) mine = info;
        }
        applied = handler_.OnNodeInfo(mine);
      }
    } else if (type_url == xds::kClusterTypeUrl) {
      // State of the world never answers a name that does not exist, and the control
      // plane answers NodeInfo before clusters: no NodeInfo by now means an unknown node.
      if (!node_answered) {
        node_answered = true;
        applied = handler_.OnNodeInfo(std::nullopt);
      }
      auto clusters = Unpack<envoy::config::cluster::v3::Cluster>(response.resources(), type_url);
      absl::Status status =
          clusters.ok() ? handler_.OnClusters(*clusters, {}, true) : clusters.status();
      if (applied.ok()) applied = status;
    } else if (type_url == xds::kClusterLoadAssignmentTypeUrl) {
      auto assignments = Unpack<envoy::config::endpoint::v3::ClusterLoadAssignment>(
          response.resources(), type_url);
      applied = assignments.ok() ? handler_.OnAssignments(*assignments, {}) : assignments.status();
    }
    auto& [version, nonce] = acked[type_url];
    nonce = response.nonce();
    std::vector<std::string> names;
    if (type_url == xds::kNodeInfoTypeUrl) names = {options_.node_name};
    if (type_url == xds::kClusterLoadAssignmentTypeUrl) names = endpoint_names;
    DiscoveryRequest ack;
    if (applied.ok()) {
      version = response.version_info();
      ack = request_for(type_url, names);
    } else {
      metrics_.nacks.With({xds::TypeLabel(type_url)}).Increment();
      log::Warn("NACK: part of an xDS response could not be applied",
                {{"type", xds::TypeLabel(type_url)}, {"error", std::string(applied.message())}});
      ack = request_for(type_url, names);
      ack.mutable_error_detail()->set_code(static_cast<int>(absl::StatusCode::kInvalidArgument));
      ack.mutable_error_detail()->set_message(std::string(applied.message()));
    }
    ok = stream->Write(ack);
    if (ok && type_url == xds::kClusterTypeUrl) {
      std::vector<std::string> wanted = handler_.EndpointSubscriptions();
      if (wanted != endpoint_names) {
        endpoint_names = std::move(wanted);
        ok = stream->Write(request_for(xds::kClusterLoadAssignmentTypeUrl, endpoint_names));
      }
    }
  }
  {
    std::lock_guard lock(mutex_);
    context_ = nullptr;
  }
  context.TryCancel();
  grpc::Status status = stream->Finish();
  if (!stopping_) {
    log::Warn("ADS stream failed", {{"server", server}, {"error", status.error_message()}});
  }
  return got_response;
}

}  // namespace skewless::agent
