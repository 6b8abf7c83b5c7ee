// The agent's two-way load traffic with the control plane, over the pinned
// skw_backend_loads map: samples this node's counters for LRS reports, and writes the
// cluster-wide figures (ClusterLoadTracker) into cluster_conns, now on every update and
// once a second for staleness and backends that left.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "skewless/agent/cluster_load_tracker.h"
#include "skewless/agent/lrs_client.h"
#include "skewless/common/prometheus.h"
#include "skewless/datapath/splice_maps.h"

namespace skewless::agent {

class LoadExchange final : public LoadSource {
 public:
  // `steered`: the endpoints programmed now, called without this object's lock held.
  LoadExchange(datapath::LoadCounters& counters,
               std::function<std::vector<SteeredEndpoint>()> steered,
               std::chrono::milliseconds max_age, prometheus::Registry& registry);
  ~LoadExchange() override;  // stops

  void Start();
  void Stop();  // joins; the values written stay (they age out in no one's hands, so a
                // restarted agent zeroes what it does not confirm on its first pass)

  // From the ADS stream.
  void OnStreamStart();
  void OnStreamEnd();
  absl::Status OnClusterLoads(const std::vector<skewless::load::v1::ClusterLoad>& updated,
                              const std::vector<std::string>& removed, bool full_state);
  // The programmed endpoints may have changed: write what follows now.
  void Refresh();

  // LoadSource, from the LRS client.
  std::vector<EndpointLoadSample> SampleLoads() override;
  void OnReportSent(ReportedShares shares) override;

 private:
  void RefreshLocked(std::vector<SteeredEndpoint> steered);

  datapath::LoadCounters& counters_;
  const std::function<std::vector<SteeredEndpoint>()> steered_;
  prometheus::Family<prometheus::Counter>& updates_;
  prometheus::Family<prometheus::Gauge>& age_;
  prometheus::Family<prometheus::Gauge>& backends_;
  prometheus::Family<prometheus::Gauge>& fresh_;
  std::mutex mutex_;  // guards tracker_, was_fresh_, stopping_
  ClusterLoadTracker tracker_;
  bool was_fresh_ = false;
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace skewless::agent
