// What the splicer reports to the control plane over LRS: per cluster and endpoint, the
// streams outstanding now and the streams issued, completed successfully and failed, as
// running totals the LRS client turns into per-report deltas. Workers count with atomic
// adds on counters they hold (found once per backend list, not per stream); the LRS
// client's thread samples them.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "skewless/balance/stream_outcome.h"
#include "skewless/loadreport/lrs_client.h"

namespace skewless::splicer {

struct EndpointCounters {
  std::atomic<std::uint64_t> in_progress{0};
  std::atomic<std::uint64_t> issued{0};
  std::atomic<std::uint64_t> successful{0};
  std::atomic<std::uint64_t> errors{0};

  void Start() {
    in_progress.fetch_add(1, std::memory_order_relaxed);
    issued.fetch_add(1, std::memory_order_relaxed);
  }
  // A stream (or relayed connection) on the endpoint ended. A success is an answer from
  // the endpoint; an error is a failure the endpoint caused (balance::IsFailure: connect
  // failures, resets, 5xx, UNAVAILABLE); a cancelled stream (the client left, or a GOAWAY
  // sent it elsewhere unprocessed) is neither.
  void End(balance::StreamOutcome outcome);
};

class SplicerLoad final : public loadreport::LoadSource {
 public:
  // The counters of the endpoint `ip`:`port` (canonical IP text) in `cluster`, made on first
  // use and shared by every worker. Thread-safe.
  std::shared_ptr<EndpointCounters> For(const std::string& cluster, const std::string& ip,
                                        std::uint16_t port, const std::string& zone);

  // LoadSource. An endpoint no worker holds any more is sampled once more (its last
  // completions) and then forgotten, so the ledger follows the Services' endpoints.
  std::vector<loadreport::EndpointLoadSample> SampleLoads() override;
  void OnReportSent(loadreport::ReportedShares /*shares*/) override {}

  std::size_t endpoints() const;

 private:
  struct Entry {
    std::uint32_t id = 0;  // the counters' identity for the report's deltas, never reused
    std::string zone;
    std::shared_ptr<EndpointCounters> counters;
  };
  mutable std::mutex mutex_;
  std::map<loadreport::EndpointKey, Entry> entries_;
  std::uint32_t next_id_ = 1;
};

}  // namespace skewless::splicer
