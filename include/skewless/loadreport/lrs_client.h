// The reporting side of LRS (envoy.service.load_stats.v3.LoadReportingService), shared by
// the agent and the splicer: one StreamLoadStats call at a time to one of the
// control-plane addresses, with the reporter's transport and Node, following the server's
// interval and cluster list and reconnecting with jittered exponential backoff. Its own
// thread: a control plane that does not answer (or does not implement LRS) delays nothing
// else.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "skewless/common/prometheus.h"
#include "skewless/h2/tls_transport.h"
#include "skewless/loadreport/load_report.h"

namespace skewless::h2 {
class GrpcClientStream;
}

namespace skewless::loadreport {

// Where reports come from and what they said; called on the client's thread.
class LoadSource {
 public:
  virtual ~LoadSource() = default;
  virtual std::vector<EndpointLoadSample> SampleLoads() = 0;
  virtual void OnReportSent(ReportedShares shares) = 0;
};

struct LrsClientOptions {
  std::vector<std::string> servers;  // host:port, tried in order, round robin on failure
  std::string node_name;
  std::string zone;
  // The Node's user_agent_name (kAgentUserAgent, kSplicerUserAgent): what the control plane
  // reads the in-progress counts as.
  std::string user_agent = "skewless-agent";
  // Names the client's metrics: <prefix>_lrs_reports_total, ...
  std::string metric_prefix = "skewless_agent";
  ReportOptions report;
  std::optional<h2::TlsClientOptions> tls;  // unset = plaintext
  std::string bearer_token_file;
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
  // Reports are never more frequent than this, whatever the server asks: an interval of
  // 0 would otherwise spin.
  std::chrono::milliseconds min_interval{1000};
  // When the server's response has no load_reporting_interval.
  std::chrono::milliseconds default_interval{10000};
  // The reporter's counts are checked this often and reported at once when they changed, so
  // the other nodes learn of a pick within a fraction of a second instead of an interval
  // (the server's interval is then a heartbeat). 0 = report at the interval only.
  std::chrono::milliseconds change_interval{250};
};

class LrsClient {
 public:
  LrsClient(LrsClientOptions options, LoadSource& source, prometheus::Registry& registry);
  ~LrsClient();  // stops

  void Start();
  void Stop();  // cancels the stream and joins; idempotent
  bool connected() const { return connected_.load(); }

 private:
  void Run();
  // One stream until it ends: true if the server answered (resets the backoff), and
  // `unimplemented` when it said it has no LRS.
  bool RunStream(const std::string& server, bool* unimplemented);
  bool Sleep(std::chrono::milliseconds duration);  // false when stopping

  const LrsClientOptions options_;
  LoadSource& source_;
  prometheus::Family<prometheus::Counter>& reports_;
  prometheus::Family<prometheus::Gauge>& stream_up_;
  prometheus::Family<prometheus::Counter>& streams_;
  LoadReportBuilder builder_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::mutex mutex_;  // guards stream_ and the stop wakeup
  std::condition_variable wake_;
  h2::GrpcClientStream* stream_ = nullptr;
};

}  // namespace skewless::loadreport
