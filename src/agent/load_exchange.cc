// Load between the agent's maps and the control plane: samples out, cluster_conns in.
#include "skewless/agent/load_exchange.h"

#include "absl/strings/str_cat.h"
#include "skewless/common/log.h"

namespace skewless::agent {

LoadExchange::LoadExchange(datapath::LoadCounters& counters,
                           std::function<std::vector<loadreport::SteeredEndpoint>()> steered,
                           std::chrono::milliseconds max_age, prometheus::Registry& registry)
    : counters_(counters),
      steered_(std::move(steered)),
      updates_(registry.AddCounter(
          "skewless_agent_cluster_load_updates_total",
          "ClusterLoad updates (cluster-wide load) applied from the ADS stream.")),
      age_(registry.AddGauge("skewless_agent_cluster_load_age_seconds",
                             "Seconds since the last ClusterLoad update (-1 before the first).")),
      backends_(registry.AddGauge(
          "skewless_agent_cluster_load_backends",
          "Backends whose cluster_conns (other nodes' connections) is non-zero in the maps.")),
      fresh_(registry.AddGauge(
          "skewless_agent_cluster_load_fresh",
          "1 while cluster-wide load is current; 0 when it is stale or never came, and every "
          "cluster_conns is zeroed (choices use this node's counts).")),
      tracker_(max_age) {
  age_.With({}).Set(-1);
  backends_.With({}).Set(0);
  fresh_.With({}).Set(0);
}

LoadExchange::~LoadExchange() { Stop(); }

void LoadExchange::Start(const std::vector<std::uint32_t>& adopted_backends) {
  for (std::uint32_t id : adopted_backends) counters_.SetClusterConns(id, 0);
  Refresh();
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; })) {
      ApplyLocked();
    }
  });
}

void LoadExchange::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  stopped_ = true;
  tracker_.SetEndpoints({});
  for (const auto& [backend_id, connections] : tracker_.Plan(ClusterLoadTracker::Clock::now())) {
    counters_.SetClusterConns(backend_id, connections);
  }
}

void LoadExchange::OnStreamStart() {
  std::lock_guard lock(mutex_);
  tracker_.OnStreamStart(ClusterLoadTracker::Clock::now());
}

void LoadExchange::OnStreamEnd() {
  std::lock_guard lock(mutex_);
  tracker_.OnStreamEnd(ClusterLoadTracker::Clock::now());
}

absl::Status LoadExchange::OnClusterLoads(
    const std::vector<skewless::load::v1::ClusterLoad>& updated,
    const std::vector<std::string>& removed, bool full_state) {
  std::lock_guard lock(mutex_);
  const auto now = ClusterLoadTracker::Clock::now();
  absl::Status applied = tracker_.OnClusterLoads(updated, removed, full_state, now);
  if (tracker_.Age(now) == std::chrono::nanoseconds(0)) updates_.With({}).Increment();
  ApplyLocked();
  return applied;
}

void LoadExchange::Refresh() {
  // Unlocked while listing: `steered_` takes the agent's lock, which the ADS thread holds
  // while it calls into this object.
  std::vector<loadreport::SteeredEndpoint> steered = steered_();
  std::lock_guard lock(mutex_);
  tracker_.SetEndpoints(std::move(steered));
  ApplyLocked();
}

void LoadExchange::ApplyLocked() {
  const auto now = ClusterLoadTracker::Clock::now();
  for (const auto& [backend_id, connections] : tracker_.Plan(now)) {
    counters_.SetClusterConns(backend_id, connections);
  }
  const bool fresh = tracker_.Fresh(now);
  if (fresh != was_fresh_) {
    if (fresh) {
      log::Info("cluster-wide load in use: choices count other nodes' connections too");
    } else {
      log::Warn(
          "cluster-wide load is stale or absent: cluster_conns zeroed, choices use this "
          "node's own counts");
    }
    was_fresh_ = fresh;
  }
  fresh_.With({}).Set(fresh ? 1 : 0);
  backends_.With({}).Set(static_cast<double>(tracker_.loaded_backends()));
  if (const auto age = tracker_.Age(now)) {
    age_.With({}).Set(std::chrono::duration<double>(*age).count());
  }
}

std::vector<loadreport::EndpointLoadSample> LoadExchange::SampleLoads() {
  std::lock_guard lock(mutex_);
  std::vector<loadreport::EndpointLoadSample> samples;
  samples.reserve(tracker_.endpoints().size());
  for (const loadreport::SteeredEndpoint& endpoint : tracker_.endpoints()) {
    const skw_backend_load load = counters_.Read(endpoint.backend_id);
    samples.push_back(
        {.endpoint = endpoint, .in_progress = load.active_conns, .issued_total = load.total_conns});
  }
  return samples;
}

void LoadExchange::OnReportSent(loadreport::ReportedShares shares) {
  std::lock_guard lock(mutex_);
  tracker_.OnReportSent(std::move(shares));
  ApplyLocked();
}

}  // namespace skewless::agent
