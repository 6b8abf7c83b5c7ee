// Turning a merged load generator result into the lab's per-pod report.
#include "skewless/lab/report.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "skewless/lab/websocket_report.h"

namespace skewless::lab {
namespace {

double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

std::string Label(const LabConfig& config) {
  if (config.dataplane == Dataplane::kSkewless || config.dataplane == Dataplane::kSkewlessL7) {
    const char* layer = config.dataplane == Dataplane::kSkewless ? "L4" : "L7";
    // What an L4 run chose with: the policy, and whether it saw the other nodes' load.
    std::string detail;
    if (config.dataplane == Dataplane::kSkewless) {
      detail = absl::StrCat(" ", config.lb_policy,
                            config.cluster_load ? " cluster-wide" : " node-local");
    }
    return config.traffic_distribution.empty()
               ? absl::StrCat("skewless ", layer, detail)
               : absl::StrCat("skewless ", layer, detail, " (", config.traffic_distribution, ")");
  }
  return absl::StrCat("kube-proxy ", DataplaneName(config.dataplane));
}

LabReport BuildReport(const LabPlan& plan, const LabConfig& config, const loadgen::Result& result,
                      const std::vector<PodCounters>& pods) {
  LabReport report;
  report.dataplane = DataplaneName(config.dataplane);
  report.label = Label(config);
  report.elapsed_s = result.elapsed_s;
  report.requests = result.rpcs;
  report.errors = result.errors;
  report.errors_by_code = result.errors_by_code;
  report.achieved_rps = result.achieved_rps;
  report.p50_ms = Ms(result.latency.PercentileNs(50));
  report.p90_ms = Ms(result.latency.PercentileNs(90));
  report.p99_ms = Ms(result.latency.PercentileNs(99));
  report.p999_ms = Ms(result.latency.PercentileNs(99.9));

  std::map<std::string, uint64_t> served;
  for (const auto& counter : pods) {
    served[counter.pod] = counter.work_served;
    report.server_requests += counter.work_served;
  }
  std::map<std::string, std::string> zone_of;
  // Every planned pod gets a row: an idle pod is the point of the report.
  for (const auto& pod : plan.pods) {
    zone_of[pod.name] = pod.zone;
    PodRow row{pod.name, pod.zone};
    row.server_served = served[pod.name];
    if (auto it = result.pods.find(pod.name); it != result.pods.end()) {
      row.requests = it->second.rpcs;
      row.p50_ms = Ms(it->second.latency.PercentileNs(50));
      row.p99_ms = Ms(it->second.latency.PercentileNs(99));
    }
    if (result.rpcs > 0) row.share = static_cast<double>(row.requests) / result.rpcs;
    if (row.requests == 0) ++report.idle_pods;
    report.pods.push_back(row);
  }

  const double n = static_cast<double>(report.pods.size());
  const double mean = static_cast<double>(result.rpcs) / n;
  double max_count = 0, sum_sq = 0;
  for (const auto& row : report.pods) {
    const double count = static_cast<double>(row.requests);
    max_count = std::max(max_count, count);
    sum_sq += (count - mean) * (count - mean);
  }
  if (mean > 0) {
    report.max_over_mean = max_count / mean;
    report.coefficient_of_variation = std::sqrt(sum_sq / n) / mean;
  }

  uint64_t cross = 0;
  for (const auto& client : result.clients) {
    ++report.clients;
    int pods_used = 0;
    for (const auto& [pod, count] : client.rpcs_by_pod) {
      if (count == 0) continue;
      ++pods_used;
      if (zone_of[pod] != client.zone) cross += count;
    }
    if (pods_used == 1) ++report.clients_on_one_pod;
  }
  if (result.rpcs > 0) report.cross_zone_share = static_cast<double>(cross) / result.rpcs;
  report.client_requests_including_warmup = result.rpcs + result.warmup_rpcs;
  return report;
}

// Every workload's fields.
static nlohmann::json CommonJson(const LabReport& r) {
  nlohmann::json pods = nlohmann::json::array();
  for (const auto& p : r.pods) {
    pods.push_back({{"pod", p.pod},
                    {"zone", p.zone},
                    {"requests", p.requests},
                    {"server_served", p.server_served},
                    {"share", p.share},
                    {"p50_ms", p.p50_ms},
                    {"p99_ms", p.p99_ms},
                    {"connections_end", p.connections_end}});
  }
  return {{"dataplane", r.dataplane},
          {"workload", r.workload},
          {"label", r.label},
          {"elapsed_s", r.elapsed_s},
          {"requests", r.requests},
          {"errors", r.errors},
          {"errors_by_code", r.errors_by_code},
          {"achieved_rps", r.achieved_rps},
          {"latency_ms",
           {{"p50", r.p50_ms}, {"p90", r.p90_ms}, {"p99", r.p99_ms}, {"p99.9", r.p999_ms}}},
          {"pods", pods},
          {"spread",
           {{"max_over_mean", r.max_over_mean},
            {"coefficient_of_variation", r.coefficient_of_variation},
            {"idle_pods", r.idle_pods}}},
          {"cross_zone_share", r.cross_zone_share},
          {"clients", r.clients},
          {"clients_on_one_pod", r.clients_on_one_pod},
          {"service_connects", r.service_connects},
          {"server_requests", r.server_requests},
          {"client_requests_including_warmup", r.client_requests_including_warmup},
          {"connections", ChangeReportJson(r)}};
}

nlohmann::json ToJson(const LabReport& r) {
  nlohmann::json json = CommonJson(r);
  if (r.workload == "websocket") AddWebSocketJson(r, json);
  return json;
}

void PrintReport(const LabReport& r, std::ostream& out) {
  const bool websocket = r.workload == "websocket";
  out << absl::StrFormat("\n== %s%s: %d %s in %.1f s (%.0f/s), %d errors ==\n", r.label,
                         websocket ? " (WebSocket)" : "", r.requests,
                         websocket ? "messages" : "requests", r.elapsed_s, r.achieved_rps,
                         r.errors);
  if (!r.errors_by_code.empty()) {
    out << "errors by gRPC status:";
    for (const auto& [code, n] : r.errors_by_code) out << " " << code << "=" << n;
    out << "\n";
  }
  out << absl::StrFormat("%-8s %-10s %10s %7s %9s %9s  %s\n", "POD", "ZONE", "REQUESTS", "SHARE",
                         "P50(ms)", "P99(ms)", "LOAD");
  for (const auto& p : r.pods) {
    // One '#' per 2.5% of all requests: the skew is visible at a glance.
    std::string bar(static_cast<size_t>(std::lround(p.share * 40)), '#');
    out << absl::StrFormat("%-8s %-10s %10d %6.1f%% %9.2f %9.2f  %s\n", p.pod, p.zone, p.requests,
                           100 * p.share, p.p50_ms, p.p99_ms, bar);
  }
  out << absl::StrFormat(
      "spread: max/mean share %.2f (1.00 = even), coefficient of variation %.2f, %d of %d pods "
      "idle\n",
      r.max_over_mean, r.coefficient_of_variation, r.idle_pods, r.pods.size());
  out << absl::StrFormat("cross-zone: %.1f%% of requests left the client's zone\n",
                         100 * r.cross_zone_share);
  out << absl::StrFormat("clients: %d of %d persistent connections sent every request to one pod\n",
                         r.clients_on_one_pod, r.clients);
  if (r.service_connects >= 0) {
    out << absl::StrFormat("connections: %d connect() calls to the Service (counted in BPF)\n",
                           r.service_connects);
  }
  out << absl::StrFormat("latency: p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  p99.9 %.2f ms\n",
                         r.p50_ms, r.p90_ms, r.p99_ms, r.p999_ms);
  out << absl::StrFormat("pods' own count: %d served, clients counted %d%s\n", r.server_requests,
                         r.client_requests_including_warmup,
                         r.server_requests == r.client_requests_including_warmup
                             ? " (match)"
                             : " (MISMATCH: see docs/lab.md)");
  PrintChangeReport(r, out);
  if (websocket) PrintWebSocketLines(r, out);
}

void PrintComparison(const std::vector<LabReport>& reports, std::ostream& out) {
  out << absl::StrFormat("%-28s %9s %9s %6s %6s %10s %8s %8s\n", "DATAPLANE", "REQUESTS",
                         "MAX/MEAN", "CV", "IDLE", "CROSS-ZONE", "P50(ms)", "P99(ms)");
  for (const auto& r : reports) {
    out << absl::StrFormat("%-28s %9d %9.2f %6.2f %3d/%-2d %9.1f%% %8.2f %8.2f\n", r.label,
                           r.requests, r.max_over_mean, r.coefficient_of_variation, r.idle_pods,
                           r.pods.size(), 100 * r.cross_zone_share, r.p50_ms, r.p99_ms);
  }
}

}  // namespace skewless::lab
