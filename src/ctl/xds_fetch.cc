// One ADS (state of the world) stream: NodeInfo and CDS first, then EDS for every cluster,
// each response ACKed as an agent would, following CDS updates until the assignments
// received match the latest cluster set, then cancelled.
#include "skewless/ctl/xds_fetch.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "skewless/xds/resources.h"

namespace skewless::ctl {
namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

DiscoveryRequest Request(const XdsFetchOptions& options, std::string_view type_url,
                         const std::vector<std::string>& names) {
  DiscoveryRequest request;
  request.mutable_node()->set_id(options.node_id);
  request.mutable_node()->set_user_agent_name(kAgentUserAgent);
  request.set_type_url(std::string(type_url));
  for (const std::string& name : names) request.add_resource_names(name);
  return request;
}

DiscoveryRequest Ack(const XdsFetchOptions& options, const DiscoveryResponse& response,
                     const std::vector<std::string>& names) {
  DiscoveryRequest ack = Request(options, response.type_url(), names);
  ack.set_version_info(response.version_info());
  ack.set_response_nonce(response.nonce());
  return ack;
}

template <typename Message>
absl::StatusOr<Message> Unpack(const google::protobuf::Any& any) {
  Message message;
  if (!any.UnpackTo(&message)) {
    return absl::DataLossError(absl::StrCat("a resource of type ", any.type_url(),
                                            " could not be decoded as ",
                                            Message::descriptor()->full_name()));
  }
  return message;
}

// A whole file, or an error naming `what` and the path.
absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": cannot read"));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// TLS with the CA bundle and the name to verify, or plaintext when asked for.
absl::StatusOr<std::shared_ptr<grpc::Channel>> Channel(const XdsFetchOptions& options) {
  if (options.plaintext) {
    return grpc::CreateChannel(options.server, grpc::InsecureChannelCredentials());
  }
  absl::StatusOr<std::string> ca = ReadFile(options.ca_file, "--ca-file");
  if (!ca.ok()) return ca.status();
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = *std::move(ca);
  grpc::ChannelArguments arguments;
  if (!options.server_name.empty()) arguments.SetSslTargetNameOverride(options.server_name);
  return grpc::CreateCustomChannel(options.server, grpc::SslCredentials(tls), arguments);
}

}  // namespace

absl::Status ValidateXdsFetchSecurity(const XdsFetchOptions& options) {
  if (options.plaintext) {
    if (!options.ca_file.empty() || !options.server_name.empty()) {
      return absl::InvalidArgumentError(
          "--plaintext excludes --ca-file and --server-name: give TLS settings or --plaintext");
    }
    if (!options.token_file.empty()) {
      return absl::InvalidArgumentError(
          "--token-file: a bearer token is not sent over plaintext; give --ca-file instead "
          "of --plaintext");
    }
    return absl::OkStatus();
  }
  if (options.ca_file.empty()) {
    return absl::InvalidArgumentError(
        "the control plane is reached over TLS unless told otherwise: give its CA bundle "
        "(--ca-file) or, for a plaintext control plane, --plaintext");
  }
  return absl::OkStatus();
}

std::string EdsNameOf(const envoy::config::cluster::v3::Cluster& cluster) {
  const std::string& service_name = cluster.eds_cluster_config().service_name();
  return service_name.empty() ? cluster.name() : service_name;
}

absl::StatusOr<XdsSnapshot> FetchXds(const XdsFetchOptions& options) {
  XdsSnapshot snapshot{.server = options.server, .node_id = options.node_id};
  if (absl::Status secure = ValidateXdsFetchSecurity(options); !secure.ok()) return secure;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Channel(options);
  if (!channel.ok()) return channel.status();
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(*channel);
  grpc::ClientContext context;
  if (!options.token_file.empty()) {
    // Read now, not kept: a projected token is rewritten in place as it rotates.
    absl::StatusOr<std::string> token = ReadFile(options.token_file, "--token-file");
    if (!token.ok()) return token.status();
    const std::string trimmed(absl::StripAsciiWhitespace(*token));
    if (trimmed.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token-file ", options.token_file, " is empty"));
    }
    context.AddMetadata("authorization", "Bearer " + trimmed);
  }
  // One deadline for the whole exchange: a CLI must not hang on a silent server.
  context.set_deadline(std::chrono::system_clock::now() + options.timeout);
  auto stream = stub->StreamAggregatedResources(&context);

  const std::vector<std::string> node_names = {options.node_id};
  std::vector<std::string> eds_names;
  std::set<std::string> eds_pending;
  bool clusters_received = false;
  // NodeInfo first, as the control plane orders it for agents; a Node it does not know is
  // simply never answered, so nothing waits for it.
  bool writes_ok = stream->Write(Request(options, xds::kNodeInfoTypeUrl, node_names)) &&
                   stream->Write(Request(options, xds::kClusterTypeUrl, {}));
  DiscoveryResponse response;
  while (writes_ok && stream->Read(&response)) {
    if (!response.control_plane().identifier().empty()) {
      snapshot.control_plane = response.control_plane().identifier();
    }
    const std::string& type = response.type_url();
    if (type == xds::kNodeInfoTypeUrl) {
      for (const auto& any : response.resources()) {
        absl::StatusOr<skewless::agent::v1::NodeInfo> node =
            Unpack<skewless::agent::v1::NodeInfo>(any);
        if (!node.ok()) return node.status();
        if (node->name() == options.node_id) snapshot.node = *node;
      }
      writes_ok = stream->Write(Ack(options, response, node_names));
    } else if (type == xds::kClusterTypeUrl) {
      // Every CDS response is the full set: a Service deleted (or added) while we wait
      // changes which assignments we wait for, so follow it until the two agree.
      clusters_received = true;
      snapshot.cluster_version = response.version_info();
      snapshot.clusters.clear();
      std::vector<std::string> names;
      for (const auto& any : response.resources()) {
        absl::StatusOr<envoy::config::cluster::v3::Cluster> cluster =
            Unpack<envoy::config::cluster::v3::Cluster>(any);
        if (!cluster.ok()) return cluster.status();
        names.push_back(EdsNameOf(*cluster));
        snapshot.clusters.push_back(*std::move(cluster));
      }
      std::sort(snapshot.clusters.begin(), snapshot.clusters.end(),
                [](const auto& a, const auto& b) { return a.name() < b.name(); });
      std::sort(names.begin(), names.end());
      names.erase(std::unique(names.begin(), names.end()), names.end());
      const std::set<std::string> wanted(names.begin(), names.end());
      std::erase_if(snapshot.assignments,
                    [&](const auto& entry) { return !wanted.contains(entry.first); });
      eds_pending.clear();
      for (const std::string& name : names) {
        if (!snapshot.assignments.contains(name)) eds_pending.insert(name);
      }
      writes_ok = stream->Write(Ack(options, response, {}));
      if (eds_pending.empty()) break;
      if (names != eds_names) {
        eds_names = std::move(names);
        writes_ok = writes_ok &&
                    stream->Write(Request(options, xds::kClusterLoadAssignmentTypeUrl, eds_names));
      }
    } else if (type == xds::kClusterLoadAssignmentTypeUrl) {
      for (const auto& any : response.resources()) {
        absl::StatusOr<envoy::config::endpoint::v3::ClusterLoadAssignment> assignment =
            Unpack<envoy::config::endpoint::v3::ClusterLoadAssignment>(any);
        if (!assignment.ok()) return assignment.status();
        // An assignment for a cluster the latest CDS no longer has is not kept.
        if (!std::binary_search(eds_names.begin(), eds_names.end(), assignment->cluster_name())) {
          continue;
        }
        eds_pending.erase(assignment->cluster_name());
        snapshot.assignments[assignment->cluster_name()] = *std::move(assignment);
      }
      writes_ok = stream->Write(Ack(options, response, eds_names));
      if (eds_pending.empty()) break;
    }
  }
  context.TryCancel();
  const grpc::Status status = stream->Finish();
  if (!clusters_received) {
    const std::string why = absl::StrCat(status.error_message(), " (gRPC code ",
                                         static_cast<int>(status.error_code()), ")");
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return absl::DeadlineExceededError(absl::StrCat("the ADS server at ", options.server,
                                                      " sent no clusters within ",
                                                      options.timeout.count(), " ms"));
    }
    return absl::UnavailableError(
        absl::StrCat("no clusters from the ADS server at ", options.server, ": ", why,
                     "; is skewless-controlplane running there? (--server sets the address)"));
  }
  snapshot.missing_assignments.assign(eds_pending.begin(), eds_pending.end());
  return snapshot;
}

}  // namespace skewless::ctl
