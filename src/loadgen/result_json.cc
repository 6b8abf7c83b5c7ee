// Result <-> JSON, the format loadgen processes hand to the lab for merging.
#include "skewless/loadgen/result_json.h"

#include "absl/strings/str_cat.h"

namespace skewless::loadgen {
namespace {

using nlohmann::json;

json ClientToJson(const ClientResult& c) {
  return {{"id", c.id},
          {"zone", c.zone},
          {"rpcs", c.rpcs},
          {"errors", c.errors},
          {"rpcs_by_pod", c.rpcs_by_pod},
          {"errors_by_code", c.errors_by_code},
          {"reconnects_by_age", c.reconnects_by_age},
          {"reconnects_after_error", c.reconnects_after_error},
          {"pod_timeline", c.pod_timeline}};
}

json ServerStatsToJson(const ServerStatsDelta& s) {
  json j = {{"address", s.address},
            {"pod", s.pod},
            {"zone", s.zone},
            {"work_served", s.work_served},
            {"connections_seen", s.connections_seen}};
  if (!s.error.empty()) j["error"] = s.error;
  return j;
}

// nlohmann reports type errors by exception; these helpers keep them inside
// ResultFromJson, which turns them into a Status.
ClientResult ClientFromJson(const json& j) {
  ClientResult c;
  c.id = j.at("id").get<int>();
  c.zone = j.at("zone").get<std::string>();
  c.rpcs = j.at("rpcs").get<uint64_t>();
  c.errors = j.at("errors").get<uint64_t>();
  c.rpcs_by_pod = j.at("rpcs_by_pod").get<std::map<std::string, uint64_t>>();
  c.errors_by_code = j.at("errors_by_code").get<std::map<std::string, uint64_t>>();
  // Added later than the fields above: results without them read as no churn.
  c.reconnects_by_age = j.value("reconnects_by_age", uint64_t{0});
  c.reconnects_after_error = j.value("reconnects_after_error", uint64_t{0});
  if (j.contains("pod_timeline")) {
    c.pod_timeline = j.at("pod_timeline").get<std::vector<std::pair<int64_t, std::string>>>();
  }
  return c;
}

ServerStatsDelta ServerStatsFromJson(const json& j) {
  ServerStatsDelta s;
  s.address = j.at("address").get<std::string>();
  s.pod = j.at("pod").get<std::string>();
  s.zone = j.at("zone").get<std::string>();
  s.work_served = j.at("work_served").get<uint64_t>();
  s.connections_seen = j.at("connections_seen").get<uint64_t>();
  s.error = j.value("error", "");
  return s;
}

}  // namespace

json ToJson(const Result& r) {
  json clients = json::array();
  for (const auto& c : r.clients) clients.push_back(ClientToJson(c));
  json pods = json::object();
  for (const auto& [name, p] : r.pods) {
    pods[name] = {{"zone", p.zone}, {"rpcs", p.rpcs}, {"latency", p.latency.ToJson()}};
  }
  json server_stats = json::array();
  for (const auto& s : r.server_stats) server_stats.push_back(ServerStatsToJson(s));
  return {{"schema", kResultSchema},
          {"target", r.target},
          {"client_zone", r.client_zone},
          {"concurrency", r.concurrency},
          {"offered_rps", r.offered_rps},
          {"elapsed_s", r.elapsed_s},
          {"achieved_rps", r.achieved_rps},
          {"rpcs", r.rpcs},
          {"errors", r.errors},
          {"errors_by_code", r.errors_by_code},
          {"warmup_rpcs", r.warmup_rpcs},
          {"latency", r.latency.ToJson()},
          {"clients", std::move(clients)},
          {"pods", std::move(pods)},
          {"server_stats", std::move(server_stats)}};
}

absl::StatusOr<Result> ResultFromJson(const json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("loadgen result: expected a JSON object");
  if (j.value("schema", "") != kResultSchema) {
    return absl::InvalidArgumentError(absl::StrCat("loadgen result: schema must be ", kResultSchema,
                                                   ", got ", j.value("schema", "(none)")));
  }
  Result r;
  try {
    r.target = j.at("target").get<std::string>();
    r.client_zone = j.at("client_zone").get<std::string>();
    r.concurrency = j.at("concurrency").get<int>();
    r.offered_rps = j.at("offered_rps").get<double>();
    r.elapsed_s = j.at("elapsed_s").get<double>();
    r.achieved_rps = j.at("achieved_rps").get<double>();
    r.rpcs = j.at("rpcs").get<uint64_t>();
    r.errors = j.at("errors").get<uint64_t>();
    r.errors_by_code = j.at("errors_by_code").get<std::map<std::string, uint64_t>>();
    r.warmup_rpcs = j.at("warmup_rpcs").get<uint64_t>();
    auto latency = Histogram::FromJson(j.at("latency"));
    if (!latency.ok()) return latency.status();
    r.latency = *latency;
    for (const auto& c : j.at("clients")) r.clients.push_back(ClientFromJson(c));
    for (const auto& [name, p] : j.at("pods").items()) {
      PodResult pod;
      pod.zone = p.at("zone").get<std::string>();
      pod.rpcs = p.at("rpcs").get<uint64_t>();
      auto pod_latency = Histogram::FromJson(p.at("latency"));
      if (!pod_latency.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("loadgen result: pod ", name, ": ", pod_latency.status().message()));
      }
      pod.latency = *pod_latency;
      r.pods.emplace(name, std::move(pod));
    }
    for (const auto& s : j.at("server_stats")) r.server_stats.push_back(ServerStatsFromJson(s));
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("loadgen result: ", e.what()));
  }
  return r;
}

}  // namespace skewless::loadgen
