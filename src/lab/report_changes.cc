// The report's view of connections over time: where each client's connection was,
// from the loadgens' pod timelines, and what the pod changes did to it.
#include <algorithm>
#include <iterator>
#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "skewless/lab/report.h"

namespace skewless::lab {
namespace {

// Fine enough to see a 1 s slow start; at most a few thousand samples however long the run.
constexpr int64_t kSpreadSampleMs = 100;
constexpr int64_t kShareSampleMs = 10;
constexpr int64_t kMaxSamples = 5000;

// Clients per pod at `t`: each client counts where its latest reply before `t` came from.
std::map<std::string, int> ConnectionsAt(const loadgen::Result& result, int64_t t) {
  std::map<std::string, int> per_pod;
  for (const auto& client : result.clients) {
    // The timeline is in time order: the entry before the first one after `t`.
    auto after = std::upper_bound(
        client.pod_timeline.begin(), client.pod_timeline.end(), t,
        [](int64_t at, const std::pair<int64_t, std::string>& entry) { return at < entry.first; });
    if (after != client.pod_timeline.begin()) ++per_pod[std::prev(after)->second];
  }
  return per_pod;
}

// The pods the EndpointSlice listed at `t`.
std::set<std::string> ListedAt(const LabPlan& plan, const std::vector<PodChange>& changes,
                               int64_t t) {
  std::set<std::string> listed;
  for (const auto& pod : plan.pods) {
    if (!pod.joins_late) listed.insert(pod.name);
  }
  for (const auto& change : changes) {
    if (change.applied_unix_ms > t) continue;
    if (change.kind == PodChange::kAdded) {
      listed.insert(change.pod);
    } else {
      listed.erase(change.pod);
    }
  }
  return listed;
}

// Busiest listed pod / mean over the listed pods, counting the clients on listed pods
// (a client still on a removed pod is between connections); 0 if there are none.
double Spread(const std::map<std::string, int>& per_pod, const std::set<std::string>& listed) {
  int total = 0, busiest = 0;
  for (const auto& pod : listed) {
    auto it = per_pod.find(pod);
    const int n = it == per_pod.end() ? 0 : it->second;
    total += n;
    busiest = std::max(busiest, n);
  }
  if (total == 0 || listed.empty()) return 0;
  return busiest / (static_cast<double>(total) / static_cast<double>(listed.size()));
}

}  // namespace

void AddChangeReport(const LabPlan& plan, const LabConfig& config, const loadgen::Result& result,
                     int64_t measure_start_unix_ms, const std::vector<PodChange>& changes,
                     LabReport& report) {
  int answered_clients = 0;
  for (const auto& client : result.clients) {
    report.reconnects_by_age += client.reconnects_by_age;
    report.reconnects_after_error += client.reconnects_after_error;
    answered_clients += client.pod_timeline.empty() ? 0 : 1;
  }
  const int64_t end = measure_start_unix_ms + config.duration.count();
  const auto connections_end = ConnectionsAt(result, end);
  for (auto& row : report.pods) {
    auto it = connections_end.find(row.pod);
    row.connections_end = it == connections_end.end() ? 0 : it->second;
  }
  report.connections_max_over_mean_end =
      Spread(ConnectionsAt(result, end), ListedAt(plan, changes, end));
  double sum = 0;
  int samples = 0;
  const int64_t spread_step =
      std::max<int64_t>(kSpreadSampleMs, config.duration.count() / kMaxSamples);
  const int64_t share_step =
      std::max<int64_t>(kShareSampleMs, config.duration.count() / kMaxSamples);
  for (int64_t t = measure_start_unix_ms; t <= end; t += spread_step) {
    const auto per_pod = ConnectionsAt(result, t);
    int placed = 0;
    for (const auto& [pod, n] : per_pod) placed += n;
    if (placed < answered_clients) continue;  // a client still making its first connection
    const double spread = Spread(per_pod, ListedAt(plan, changes, t));
    sum += spread;
    ++samples;
    report.connections_max_over_mean_worst =
        std::max(report.connections_max_over_mean_worst, spread);
  }
  if (samples > 0) report.connections_max_over_mean_mean = sum / samples;

  for (const auto& change : changes) {
    if (change.kind == PodChange::kAdded) {
      report.added_pod = change.pod;
      const auto at_end = ConnectionsAt(result, end);
      const auto listed = ListedAt(plan, changes, end);
      auto it = at_end.find(change.pod);
      report.added_pod_connections_end = it == at_end.end() ? 0 : it->second;
      if (answered_clients > 0) {
        report.added_pod_connection_share_end =
            static_cast<double>(report.added_pod_connections_end) / answered_clients;
      }
      report.added_pod_fair_share = 1.0 / static_cast<double>(std::max<size_t>(listed.size(), 1));
      for (const auto& row : report.pods) {
        if (row.pod != change.pod || report.requests == 0) continue;
        const double since = static_cast<double>(end - change.applied_unix_ms) /
                             static_cast<double>(config.duration.count());
        if (since > 0) {
          report.added_pod_request_share_since_added =
              static_cast<double>(row.requests) / (static_cast<double>(report.requests) * since);
        }
      }
      for (int64_t t = change.applied_unix_ms; t <= end; t += share_step) {
        const auto per_pod = ConnectionsAt(result, t);
        auto pod = per_pod.find(change.pod);
        const double fair = static_cast<double>(answered_clients) /
                            static_cast<double>(ListedAt(plan, changes, t).size());
        if (pod != per_pod.end() && pod->second >= 0.8 * fair) {
          report.added_pod_ms_to_80pct_fair = t - change.applied_unix_ms;
          break;
        }
      }
    } else {
      report.removed_pod = change.pod;
      auto before = ConnectionsAt(result, change.applied_unix_ms);
      report.removed_pod_clients = before.count(change.pod) ? before[change.pod] : 0;
      auto at_end = ConnectionsAt(result, end);
      report.removed_pod_clients_at_end = at_end.count(change.pod) ? at_end[change.pod] : 0;
    }
  }
}

nlohmann::json ChangeReportJson(const LabReport& r) {
  nlohmann::json j = {{"max_over_mean_end", r.connections_max_over_mean_end},
                      {"max_over_mean_mean", r.connections_max_over_mean_mean},
                      {"max_over_mean_worst", r.connections_max_over_mean_worst},
                      {"reconnects_by_age", r.reconnects_by_age},
                      {"reconnects_after_error", r.reconnects_after_error}};
  if (!r.added_pod.empty()) {
    j["added"] = {{"pod", r.added_pod},
                  {"connections_end", r.added_pod_connections_end},
                  {"connection_share_end", r.added_pod_connection_share_end},
                  {"fair_share", r.added_pod_fair_share},
                  {"request_share_since_added", r.added_pod_request_share_since_added},
                  {"ms_to_80pct_fair", r.added_pod_ms_to_80pct_fair}};
  }
  if (!r.removed_pod.empty()) {
    j["removed"] = {{"pod", r.removed_pod},
                    {"clients", r.removed_pod_clients},
                    {"clients_at_end", r.removed_pod_clients_at_end}};
  }
  return j;
}

void PrintChangeReport(const LabReport& r, std::ostream& out) {
  out << absl::StrFormat(
      "connections per pod: max/mean %.2f at the end, %.2f mean and %.2f worst over the run; "
      "%d reconnects by age, %d after an error\n",
      r.connections_max_over_mean_end, r.connections_max_over_mean_mean,
      r.connections_max_over_mean_worst, r.reconnects_by_age, r.reconnects_after_error);
  if (!r.added_pod.empty()) {
    out << absl::StrFormat(
        "added %s: %d connections at the end (%.1f%% of all, fair share %.1f%%), %.1f%% of the "
        "calls since it joined; 80%% of its fair share of connections %s\n",
        r.added_pod, r.added_pod_connections_end, 100 * r.added_pod_connection_share_end,
        100 * r.added_pod_fair_share, 100 * r.added_pod_request_share_since_added,
        r.added_pod_ms_to_80pct_fair < 0
            ? std::string("never reached")
            : absl::StrFormat("after %.1f s", r.added_pod_ms_to_80pct_fair / 1e3));
  }
  if (!r.removed_pod.empty()) {
    out << absl::StrFormat("removed %s: its %d clients moved, %d still on it at the end\n",
                           r.removed_pod, r.removed_pod_clients, r.removed_pod_clients_at_end);
  }
}

}  // namespace skewless::lab
