// Envoy's Load Reporting Service on the control plane's gRPC server: each stream is one
// reporter whose latest report goes to the LoadAggregator, answered once with "send every
// cluster, per endpoint, every interval" (docs/controlplane.md "Load reports (LRS)").
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "envoy/service/load_stats/v3/lrs.grpc.pb.h"
#include "lrs_metrics.h"
#include "skewless/controlplane/load_aggregator.h"
#include "skewless/xds/namespace_scope.h"

namespace skewless::controlplane {

struct LrsOptions {
  std::chrono::milliseconds interval{2000};  // the load_reporting_interval asked for
  std::size_t max_streams = 10000;           // LRS streams open at once
  std::size_t max_reports_per_second = 4;    // read from one stream; bursts of as many
  // With authentication on, only writers (the agent's account) may report connections:
  // any other caller claiming to be an agent is read as reporting requests.
  bool authenticated = false;
};

class LrsService final
    : public envoy::service::load_stats::v3::LoadReportingService::CallbackService {
 public:
  // Which clusters a caller may report on (its reader scope); none = all.
  using ScopeFunction = std::function<xds::NamespaceScope(const grpc::CallbackServerContext&)>;

  LrsService(LoadAggregator& aggregator, LrsMetrics& metrics, LrsOptions options,
             ScopeFunction scope_of = {});

  grpc::ServerBidiReactor<envoy::service::load_stats::v3::LoadStatsRequest,
                          envoy::service::load_stats::v3::LoadStatsResponse>*
  StreamLoadStats(grpc::CallbackServerContext* context) override;

 private:
  class Stream;

  LoadAggregator& aggregator_;
  LrsMetrics& metrics_;
  const LrsOptions options_;
  const ScopeFunction scope_of_;
  std::atomic<std::size_t> open_streams_{0};
  std::atomic<std::uint64_t> next_stream_id_{1};
};

}  // namespace skewless::controlplane
