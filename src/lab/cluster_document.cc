// Renders the lab's nodes, Service and pods as a file-source document.
#include "skewless/lab/cluster_document.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace skewless::lab {

std::string ClusterDocument(const LabConfig& config, const LabPlan& plan,
                            const std::vector<PodEndpoint>& pods, bool splice) {
  std::string ns = "default";
  std::string name = config.service_name;
  if (auto slash = name.find('/'); slash != std::string::npos) {
    ns = name.substr(0, slash);
    name = name.substr(slash + 1);
  }
  std::string yaml = absl::StrCat("# skewless-lab ", plan.id, ": written by the lab, rewritten ",
                                  "when a pod's endpoint changes\nnodes:\n");
  for (const auto& node : plan.nodes) {
    absl::StrAppend(&yaml, "  - {name: ", node.name, ", zone: ", node.zone, "}\n");
  }
  absl::StrAppend(&yaml, "services:\n  - namespace: ", ns, "\n    name: ", name,
                  "\n    clusterIPs: [", config.service_vip, "]\n");
  if (!config.traffic_distribution.empty()) {
    absl::StrAppend(&yaml, "    trafficDistribution: ", config.traffic_distribution, "\n");
  }
  absl::StrAppend(
      &yaml, "    annotations: {skewless.io/load-balancing: ", config.lb_policy,
      "}\n    ports:\n      - {name: ", config.workload == Workload::kWebSocket ? "http" : "grpc",
      ", port: ", config.service_port, ", targetPort: ", config.service_port, ", protocol: TCP",
      splice ? ", appProtocol: grpc" : "", "}\n");
  absl::StrAppend(&yaml, "endpointSlices:\n  - namespace: ", ns, "\n    service: ", name,
                  "\n    name: ", name, "-lab\n    endpoints:\n");
  bool any = false;
  for (size_t i = 0; i < plan.pods.size(); ++i) {
    const PodEndpoint state = i < pods.size() ? pods[i] : PodEndpoint::kReady;
    if (state == PodEndpoint::kRemoved) continue;
    const PodSpec& pod = plan.pods[i];
    absl::StrAppend(&yaml, "      - {address: ", pod.ip, ", nodeName: ", pod.node,
                    ", zone: ", pod.zone, ", hostname: ", pod.name);
    if (state == PodEndpoint::kTerminating) {
      absl::StrAppend(&yaml, ", conditions: {ready: false, serving: true, terminating: true}");
    }
    absl::StrAppend(&yaml, "}\n");
    any = true;
  }
  if (!any) absl::StrAppend(&yaml, "      []\n");
  return yaml;
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", temporary));
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) return absl::InternalError(absl::StrCat("renaming ", temporary, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace skewless::lab
