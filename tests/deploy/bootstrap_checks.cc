// The example Envoy and gRPC bootstraps: ADS from the control plane's Service, in the
// shape each client requires.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "checks.h"

namespace skewless::deploy {
namespace {

constexpr char kEnvoy[] = "examples/envoy-bootstrap.yaml";
constexpr char kGrpc[] = "examples/grpc-xds-bootstrap.json";

// The names our control plane gives clusters: <namespace>/<service>:<port name or number>.
bool IsServicePortClusterName(const std::string& name) {
  const std::size_t slash = name.find('/');
  const std::size_t colon = name.find(':');
  return slash != std::string::npos && slash > 0 && colon != std::string::npos &&
         colon > slash + 1 && colon + 1 < name.size() &&
         name.find_first_of("/:", colon + 1) == std::string::npos;
}

YAML::Node StaticCluster(const YAML::Node& bootstrap, std::string_view name) {
  for (const YAML::Node& cluster : Items(At(bootstrap, {"static_resources", "clusters"}))) {
    if (Text(At(cluster, {"name"})) == name) return cluster;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

void CheckRoutes(const YAML::Node& bootstrap, Problems& problems) {
  for (const YAML::Node& listener : Items(At(bootstrap, {"static_resources", "listeners"}))) {
    for (const YAML::Node& chain : Items(At(listener, {"filter_chains"}))) {
      for (const YAML::Node& filter : Items(At(chain, {"filters"}))) {
        const YAML::Node hosts = At(filter, {"typed_config", "route_config", "virtual_hosts"});
        for (const YAML::Node& host : Items(hosts)) {
          for (const YAML::Node& route : Items(At(host, {"routes"}))) {
            const std::string cluster = Text(At(route, {"route", "cluster"}));
            if (!StaticCluster(bootstrap, cluster).IsDefined() &&
                !IsServicePortClusterName(cluster)) {
              problems.push_back(absl::StrCat(kEnvoy, ": route to \"", cluster,
                                              "\", neither a static cluster nor a "
                                              "<namespace>/<service>:<port> from CDS"));
            }
          }
        }
      }
    }
  }
}

}  // namespace

Problems CheckEnvoyBootstrap(const YAML::Node& bootstrap, const ManifestSet& set,
                             const std::string& cluster_domain) {
  Problems problems;
  auto require = [&](bool ok, const std::string& what) {
    if (!ok) problems.push_back(absl::StrCat(kEnvoy, ": ", what));
  };
  require(!Text(At(bootstrap, {"node", "id"})).empty(), "no node.id (ADS needs one)");

  const YAML::Node ads = At(bootstrap, {"dynamic_resources", "ads_config"});
  require(Text(At(ads, {"api_type"})) == "GRPC" || Text(At(ads, {"api_type"})) == "DELTA_GRPC",
          "ads_config.api_type is not GRPC or DELTA_GRPC");
  require(Text(At(ads, {"transport_api_version"})) == "V3",
          "ads_config.transport_api_version is not V3");
  const std::vector<YAML::Node> services = Items(At(ads, {"grpc_services"}));
  const std::string xds_cluster =
      services.empty() ? "" : Text(At(services.front(), {"envoy_grpc", "cluster_name"}));
  require(!xds_cluster.empty(), "ads_config names no envoy_grpc cluster");

  const YAML::Node cds = At(bootstrap, {"dynamic_resources", "cds_config"});
  require(At(cds, {"ads"}).IsDefined() && Text(At(cds, {"resource_api_version"})) == "V3",
          "cds_config is not ads with resource_api_version V3");

  const YAML::Node cluster = StaticCluster(bootstrap, xds_cluster);
  require(cluster.IsDefined(), absl::StrCat("no static cluster \"", xds_cluster, "\" for ADS"));
  require(
      Text(At(cluster, {"type"})) == "STRICT_DNS" || Text(At(cluster, {"type"})) == "LOGICAL_DNS",
      "the xDS cluster does not resolve the Service's DNS name");
  require(At(cluster, {"typed_extension_protocol_options",
                       "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                       "explicit_http_config", "http2_protocol_options"})
              .IsDefined(),
          "the xDS cluster does not speak HTTP/2 (gRPC needs it)");
  int addresses = 0;
  for (const YAML::Node& locality : Items(At(cluster, {"load_assignment", "endpoints"}))) {
    for (const YAML::Node& endpoint : Items(At(locality, {"lb_endpoints"}))) {
      const YAML::Node socket = At(endpoint, {"endpoint", "address", "socket_address"});
      ++addresses;
      const std::string address =
          absl::StrCat(Text(At(socket, {"address"})), ":", Text(At(socket, {"port_value"})));
      for (std::string& problem : CheckXdsAddress(set, address, cluster_domain, kEnvoy)) {
        problems.push_back(std::move(problem));
      }
    }
  }
  require(addresses > 0, "the xDS cluster has no address");
  CheckRoutes(bootstrap, problems);
  return problems;
}

Problems CheckGrpcBootstrap(const nlohmann::json& bootstrap, const ManifestSet& set,
                            const std::string& cluster_domain) {
  Problems problems;
  auto require = [&](bool ok, const std::string& what) {
    if (!ok) problems.push_back(absl::StrCat(kGrpc, ": ", what));
  };
  if (!bootstrap.is_object()) return {absl::StrCat(kGrpc, ": not a JSON object")};
  const nlohmann::json servers = bootstrap.value("xds_servers", nlohmann::json::array());
  require(servers.is_array() && !servers.empty(), "no xds_servers");
  for (const nlohmann::json& server : servers) {
    if (!server.is_object()) {
      problems.push_back(absl::StrCat(kGrpc, ": an xds_servers entry is not an object"));
      continue;
    }
    const std::string uri = server.value("server_uri", "");
    for (std::string& problem : CheckXdsAddress(set, uri, cluster_domain, kGrpc)) {
      problems.push_back(std::move(problem));
    }
    // gRFC A27: a server without channel_creds is unusable; the port is plaintext h2c.
    const nlohmann::json creds = server.value("channel_creds", nlohmann::json::array());
    require(std::any_of(creds.begin(), creds.end(),
                        [](const nlohmann::json& c) {
                          return c.is_object() && c.value("type", "") == "insecure";
                        }),
            "channel_creds has no {\"type\": \"insecure\"} (the ADS port has no TLS)");
    // gRFC A30: without xds_v3 the client speaks the v2 API, which we do not serve.
    const nlohmann::json features = server.value("server_features", nlohmann::json::array());
    require(std::find(features.begin(), features.end(), "xds_v3") != features.end(),
            "server_features lacks xds_v3");
  }
  const nlohmann::json node = bootstrap.value("node", nlohmann::json::object());
  require(node.is_object() && node.value("id", "") != "", "no node.id");
  // The control plane shapes each gRPC client's endpoints by this zone.
  require(node.is_object() && node.contains("locality") && node["locality"].is_object() &&
              node["locality"].value("zone", "") != "",
          "no node.locality.zone");
  return problems;
}

}  // namespace skewless::deploy
