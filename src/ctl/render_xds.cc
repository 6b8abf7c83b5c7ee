// xds as text and JSON: each cluster with its VIPs, then its endpoints.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "skewless/ctl/render.h"
#include "skewless/ctl/table.h"

namespace skewless::ctl {
namespace {

using Align = Table::Align;

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

std::string Address(const XdsEndpointView& endpoint) {
  const bool v6 = endpoint.address.find(':') != std::string::npos;
  return v6 ? absl::StrCat("[", endpoint.address, "]:", endpoint.port)
            : absl::StrCat(endpoint.address, ":", endpoint.port);
}

std::string NodeLine(const XdsView& view) {
  if (!view.node_known) {
    return absl::StrCat("node ", view.node_id,
                        ": the control plane knows no Node of that name (no zone served)");
  }
  return absl::StrCat("node ", view.node_id, ": zone ", OrDash(view.node_zone));
}

}  // namespace

std::string RenderXdsText(const XdsView& view) {
  std::string out = absl::StrCat("control plane ", OrDash(view.control_plane), " at ", view.server,
                                 ", asked as skewless-agent ", view.node_id, "\n", NodeLine(view),
                                 "\nclusters: ", view.clusters.size(), " (version ",
                                 OrDash(view.cluster_version), ")\n");
  if (view.clusters.empty()) return out;
  Table clusters({{"CLUSTER"},
                  {"VIPS"},
                  {"PORT", Align::kRight},
                  {"PROTOCOL"},
                  {"APP PROTOCOL"},
                  {"TRAFFIC DISTRIBUTION"},
                  {"ENDPOINTS", Align::kRight}});
  for (const XdsClusterView& cluster : view.clusters) {
    clusters.AddRow(
        {cluster.name, cluster.cluster_ips.empty() ? "-" : absl::StrJoin(cluster.cluster_ips, ","),
         cluster.port ? absl::StrCat(*cluster.port) : "-", OrDash(cluster.protocol),
         OrDash(cluster.app_protocol), OrDash(cluster.traffic_distribution),
         cluster.endpoints_received ? absl::StrCat(cluster.endpoints.size()) : "not received"});
  }
  absl::StrAppend(&out, "\n", clusters.Render());
  Table endpoints({{"CLUSTER"},
                   {"ENDPOINT"},
                   {"ZONE"},
                   {"NODE"},
                   {"HEALTH"},
                   {"WEIGHT", Align::kRight},
                   {"PRIORITY", Align::kRight}});
  for (const XdsClusterView& cluster : view.clusters) {
    bool first = true;
    for (const XdsEndpointView& endpoint : cluster.endpoints) {
      std::string address = Address(endpoint);
      if (!endpoint.additional_addresses.empty()) {
        absl::StrAppend(&address, " +", absl::StrJoin(endpoint.additional_addresses, ","));
      }
      endpoints.AddRow({first ? cluster.name : "", address, OrDash(endpoint.zone),
                        OrDash(endpoint.node_name), endpoint.health,
                        endpoint.weight ? absl::StrCat(*endpoint.weight) : "-",
                        absl::StrCat(endpoint.priority)});
      first = false;
    }
  }
  if (!endpoints.empty()) absl::StrAppend(&out, "\n", endpoints.Render());
  return out;
}

Json XdsJson(const XdsView& view) {
  Json clusters = Json::array();
  for (const XdsClusterView& cluster : view.clusters) {
    Json endpoints = Json::array();
    for (const XdsEndpointView& endpoint : cluster.endpoints) {
      endpoints.push_back({{"address", endpoint.address},
                           {"additional_addresses", endpoint.additional_addresses},
                           {"port", endpoint.port},
                           {"zone", endpoint.zone},
                           {"node_name", endpoint.node_name},
                           {"health", endpoint.health},
                           {"weight", endpoint.weight ? Json(*endpoint.weight) : Json(nullptr)},
                           {"priority", endpoint.priority}});
    }
    clusters.push_back({{"name", cluster.name},
                        {"eds_name", cluster.eds_name},
                        {"cluster_ips", cluster.cluster_ips},
                        {"port", cluster.port ? Json(*cluster.port) : Json(nullptr)},
                        {"protocol", cluster.protocol},
                        {"app_protocol", cluster.app_protocol},
                        {"trafficDistribution", cluster.traffic_distribution},
                        {"endpoints_received", cluster.endpoints_received},
                        {"endpoints", std::move(endpoints)}});
  }
  return Json{{"server", view.server},
              {"control_plane", view.control_plane},
              {"node",
               {{"id", view.node_id},
                {"known", view.node_known},
                {"zone", view.node_known ? Json(view.node_zone) : Json(nullptr)}}},
              {"cluster_version", view.cluster_version},
              {"clusters", std::move(clusters)}};
}

}  // namespace skewless::ctl
