// The WebSocket workload's command lines and results (skewless/lab/websocket_workload.h).
#include "skewless/lab/websocket_workload.h"

#include "absl/strings/str_cat.h"

namespace skewless::lab {

std::vector<std::string> WebSocketPodArgv(const std::string& bin_dir, const LabConfig& config,
                                          const PodSpec& pod) {
  return {bin_dir + "/" + kWebSocketPodServer,
          "--name",
          pod.name,
          "--zone",
          pod.zone,
          "--listen",
          absl::StrCat(pod.ip, ":", config.service_port),
          "--service-time-us",
          std::to_string(config.service_time_us),
          "--slow-factor",
          absl::StrCat(pod.slow_factor)};
}

std::vector<std::string> WebSocketLoadArgv(const std::string& bin_dir, const LabConfig& config,
                                           const ClientSpec& client, double rate,
                                           std::chrono::milliseconds warmup) {
  return {bin_dir + "/" + kWebSocketLoadgen,
          "--target",
          absl::StrCat(config.service_vip, ":", config.service_port),
          "--clients",
          std::to_string(client.connections),
          "--concurrency",
          std::to_string(config.concurrency),
          "--rate",
          absl::StrCat(rate),
          "--duration",
          absl::StrCat(config.duration.count(), "ms"),
          "--warmup",
          absl::StrCat(warmup.count(), "ms"),
          "--zone",
          client.zone};
}

absl::StatusOr<WebSocketRun> WebSocketRunFromJson(const nlohmann::json& j) {
  if (!j.is_object() || j.value("schema", "") != kWebSocketResultSchema) {
    return absl::InvalidArgumentError(absl::StrCat(
        "WebSocket client result: expected an object of schema ", kWebSocketResultSchema));
  }
  WebSocketRun run;
  loadgen::Result& r = run.result;
  try {
    r.target = j.at("target").get<std::string>();
    r.client_zone = j.at("zone").get<std::string>();
    r.offered_rps = j.at("offered_rate").get<double>();
    r.elapsed_s = j.at("elapsed_s").get<double>();
    for (const auto& c : j.at("connections")) {
      loadgen::ClientResult client;
      client.id = static_cast<int>(r.clients.size());
      client.zone = r.client_zone;
      client.rpcs = c.at("messages").get<uint64_t>();
      client.errors = c.at("failures").get<uint64_t>();
      const std::string pod = c.at("pod").get<std::string>();
      const std::string error = c.at("error").get<std::string>();
      if (!pod.empty()) {
        ++run.connections_by_pod[pod];
        client.rpcs_by_pod[pod] = client.rpcs;
        loadgen::PodResult& pod_result = r.pods[pod];
        pod_result.zone = c.at("pod_zone").get<std::string>();
        pod_result.rpcs += client.rpcs;
        for (const auto& us : c.at("rtt_us")) {
          const int64_t ns = us.get<int64_t>() * 1000;
          pod_result.latency.Record(ns);
          r.latency.Record(ns);
        }
      }
      if (!error.empty()) {
        ++run.failed_connections;
        client.errors_by_code[pod.empty() ? "CONNECT_FAILED" : "CONNECTION_BROKEN"] = 1;
        run.errors.push_back(absl::StrCat(pod.empty() ? "?" : pod, ": ", error));
      }
      if (client.errors > 0) client.errors_by_code["NOT_ECHOED"] = client.errors;
      r.rpcs += client.rpcs;
      r.errors += client.errors;
      r.warmup_rpcs += c.at("warmup_messages").get<uint64_t>();
      run.message_failures += client.errors;
      r.clients.push_back(std::move(client));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("WebSocket client result: ", e.what()));
  }
  for (const auto& client : r.clients) {
    for (const auto& [code, n] : client.errors_by_code) r.errors_by_code[code] += n;
  }
  if (r.elapsed_s > 0) r.achieved_rps = static_cast<double>(r.rpcs) / r.elapsed_s;
  return run;
}

void MergeWebSocketRuns(WebSocketRun& into, const WebSocketRun& from) {
  loadgen::MergeResults(into.result, from.result);
  for (const auto& [pod, n] : from.connections_by_pod) into.connections_by_pod[pod] += n;
  into.failed_connections += from.failed_connections;
  into.message_failures += from.message_failures;
  into.errors.insert(into.errors.end(), from.errors.begin(), from.errors.end());
}

}  // namespace skewless::lab
