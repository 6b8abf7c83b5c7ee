// The agent's two-way load traffic with the control plane, over the pinned
// skw_backend_loads map: samples this node's counters for LRS reports, and writes the
// cluster-wide figures (ClusterLoadTracker) into cluster_conns, at once on every update
// and once a second for staleness. The programmed endpoints are read from the agent only
// when it says they may have changed (Refresh): at 100,000 endpoints listing them costs
// milliseconds, which a once-a-second tick should not spend.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "skewless/agent/cluster_load_tracker.h"
#include "skewless/common/prometheus.h"
#include "skewless/datapath/splice_maps.h"
#include "skewless/loadreport/lrs_client.h"

namespace skewless::agent {

class LoadExchange final : public loadreport::LoadSource {
 public:
  // `steered`: the endpoints programmed now; called from Start and Refresh only, without
  // this object's lock held.
  LoadExchange(datapath::LoadCounters& counters,
               std::function<std::vector<loadreport::SteeredEndpoint>()> steered,
               std::chrono::milliseconds max_age, prometheus::Registry& registry);
  ~LoadExchange() override;  // stops

  // `adopted_backends`: ids a previous agent may have left a cluster_conns on; zeroed, as
  // nothing vouches for them until the control plane speaks.
  void Start(const std::vector<std::uint32_t>& adopted_backends);
  // Joins and zeroes every cluster_conns written: no agent is left to age them, and the
  // data path must not steer by other nodes' load of long ago.
  void Stop();

  // From the ADS stream.
  void OnStreamStart();
  void OnStreamEnd();
  absl::Status OnClusterLoads(const std::vector<skewless::load::v1::ClusterLoad>& updated,
                              const std::vector<std::string>& removed, bool full_state);
  // The programmed endpoints may have changed (an xDS update wrote the maps): read them
  // again and write what follows now (a backend that left has its cluster_conns cleared).
  void Refresh();

  // loadreport::LoadSource, from the LRS client.
  std::vector<loadreport::EndpointLoadSample> SampleLoads() override;
  void OnReportSent(loadreport::ReportedShares shares) override;

 private:
  // Writes what the tracker plans now, and the metrics.
  void ApplyLocked();

  datapath::LoadCounters& counters_;
  const std::function<std::vector<loadreport::SteeredEndpoint>()> steered_;
  prometheus::Family<prometheus::Counter>& updates_;
  prometheus::Family<prometheus::Gauge>& age_;
  prometheus::Family<prometheus::Gauge>& backends_;
  prometheus::Family<prometheus::Gauge>& fresh_;
  std::mutex mutex_;  // guards everything below
  ClusterLoadTracker tracker_;
  bool was_fresh_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace skewless::agent
