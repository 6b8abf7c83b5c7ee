// What a lab run shows: per-pod load, its spread, zones crossed, and whether
// the load generator's counts agree with the pods' own.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "skewless/lab/config.h"
#include "skewless/lab/node.h"
#include "skewless/lab/pod_changes.h"
#include "skewless/loadgen/result.h"

namespace skewless::lab {

struct PodRow {
  std::string pod;
  std::string zone;
  uint64_t requests = 0;       // as the clients saw them answered
  uint64_t server_served = 0;  // as the pod itself counted
  double share = 0;            // of all requests
  double p50_ms = 0;
  double p99_ms = 0;
  int connections_end = 0;  // clients on it at the end of the measured period
  // WebSocket workload: connections the pod greeted (each holds for the whole run).
  int connections = 0;
};

struct LabReport {
  std::string dataplane;
  std::string label;  // for people: "kube-proxy iptables", "skewless L4 (PreferClose)"
  double elapsed_s = 0;
  uint64_t requests = 0;
  uint64_t errors = 0;
  std::map<std::string, uint64_t> errors_by_code;  // gRPC status name → failed calls
  double achieved_rps = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0;
  std::vector<PodRow> pods;
  // Spread of requests over pods: max share / mean share (1 = perfectly
  // even), and the coefficient of variation of per-pod counts (0 = even).
  double max_over_mean = 0;
  double coefficient_of_variation = 0;
  int idle_pods = 0;
  // Requests answered by a pod in another zone than the client's.
  double cross_zone_share = 0;
  int clients = 0;
  // Clients whose every answered request came from a single pod.
  int clients_on_one_pod = 0;
  // connect() calls from the clients to the Service (its VIP, or its pods
  // where a connect hook rewrote the VIP first), counted by the BPF connect
  // observer; -1 when it could not be attached.
  int64_t service_connects = -1;
  // Work the pods say they served (warmup included) against what the
  // clients counted; equal when nothing was lost or double counted.
  uint64_t server_requests = 0;
  uint64_t client_requests_including_warmup = 0;

  // Where the clients' connections were (each client's pod is that of its latest reply,
  // loadgen pod_timeline), as busiest pod / mean over the pods listed at that moment.
  // At the end of the measured period, and sampled every 100 ms over it (mean, worst);
  // 0 when no client was answered.
  double connections_max_over_mean_end = 0;
  double connections_max_over_mean_mean = 0;
  double connections_max_over_mean_worst = 0;
  // New connections the clients opened: at the end of a connection's age (churn,
  // --max-connection-age), and after their pod went away.
  uint64_t reconnects_by_age = 0;
  uint64_t reconnects_after_error = 0;
  // --add-pod-at: the new pod's connections at the end, its share of all connections and
  // its fair share (1 / pods listed); its share of the calls answered since it joined
  // (the calls since then taken pro rata of the run: the lab's load is a fixed total
  // rate); and how long after it was listed it first held 80% of its fair share of
  // connections (-1: never).
  std::string added_pod;
  int added_pod_connections_end = 0;
  double added_pod_connection_share_end = 0;
  double added_pod_fair_share = 0;
  double added_pod_request_share_since_added = 0;
  int64_t added_pod_ms_to_80pct_fair = -1;
  // --remove-pod-at: the clients on the pod when it was unlisted, and how many were
  // still on it (had not been answered elsewhere) at the end.
  std::string removed_pod;
  int removed_pod_clients = 0;
  int removed_pod_clients_at_end = 0;
  // "grpc", or "websocket": then requests are echoed WebSocket messages, latency their
  // round trips, errors the messages never echoed, and the figures below are filled
  // (skewless/lab/websocket_report.h).
  std::string workload = "grpc";
  // Connections per pod: busiest / mean (1.00 = even), the mean and the busiest count.
  double connections_max_over_mean = 0;
  double connections_per_pod_mean = 0;
  int connections_per_pod_max = 0;
  // Connections never greeted by a pod, or broken before the end.
  int failed_connections = 0;
};

// The fields above that follow the clients' connections and the pod changes.
// `measure_start_unix_ms`: when the measured period began (the loadgens' clock).
void AddChangeReport(const LabPlan& plan, const LabConfig& config, const loadgen::Result& result,
                     int64_t measure_start_unix_ms, const std::vector<PodChange>& changes,
                     LabReport& report);
// Their JSON object ("connections") and lines of the printed report.
nlohmann::json ChangeReportJson(const LabReport& report);
void PrintChangeReport(const LabReport& report, std::ostream& out);

LabReport BuildReport(const LabPlan& plan, const LabConfig& config, const loadgen::Result& result,
                      const std::vector<PodCounters>& pods);

nlohmann::json ToJson(const LabReport& report);
void PrintReport(const LabReport& report, std::ostream& out);
// One row per report: the runs of a demo in one table.
void PrintComparison(const std::vector<LabReport>& reports, std::ostream& out);

}  // namespace skewless::lab
