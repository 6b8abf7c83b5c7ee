// Connections per pod and failures of the WebSocket workload (skewless/lab/websocket_report.h).
#include "skewless/lab/websocket_report.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace skewless::lab {

void AddWebSocketFigures(const WebSocketRun& run, LabReport& report) {
  report.workload = WorkloadName(Workload::kWebSocket);
  report.failed_connections = run.failed_connections;
  int total = 0;
  for (auto& row : report.pods) {
    auto it = run.connections_by_pod.find(row.pod);
    row.connections = it == run.connections_by_pod.end() ? 0 : it->second;
    total += row.connections;
    report.connections_per_pod_max = std::max(report.connections_per_pod_max, row.connections);
  }
  if (report.pods.empty() || total == 0) return;
  // Over every planned pod: an idle pod counts, as in the request spread.
  report.connections_per_pod_mean = static_cast<double>(total) / report.pods.size();
  report.connections_max_over_mean =
      report.connections_per_pod_max / report.connections_per_pod_mean;
}

void AddWebSocketJson(const LabReport& r, nlohmann::json& json) {
  for (std::size_t i = 0; i < r.pods.size() && i < json["pods"].size(); ++i) {
    json["pods"][i]["connections"] = r.pods[i].connections;
  }
  // Requests, latency and errors are messages, their round trips and unechoed messages.
  json["websocket"] = {{"connections_max_over_mean", r.connections_max_over_mean},
                       {"connections_per_pod_mean", r.connections_per_pod_mean},
                       {"connections_per_pod_max", r.connections_per_pod_max},
                       {"failed_connections", r.failed_connections},
                       {"message_failures", r.errors}};
}

void PrintWebSocketLines(const LabReport& r, std::ostream& out) {
  std::string per_pod;
  for (const auto& p : r.pods) absl::StrAppendFormat(&per_pod, " %s=%d", p.pod, p.connections);
  out << absl::StrFormat(
      "websocket connections per pod:%s; busiest %d = %.2fx the mean %.2f (1.00 = even)\n", per_pod,
      r.connections_per_pod_max, r.connections_max_over_mean, r.connections_per_pod_mean);
  out << absl::StrFormat(
      "websocket failures: %d connections (never greeted or broken), %d messages never echoed; "
      "message round trip p50 %.2f ms p99 %.2f ms\n",
      r.failed_connections, r.errors, r.p50_ms, r.p99_ms);
}

}  // namespace skewless::lab
