// One Service's backends inside one splicer worker: the balancer that picks a backend per
// stream, the pooled HTTP/2 connections to each, and the counts the connect path reads
// (outstanding streams and ejections, written into the pinned load map when there is one).
#pragma once

#include <event2/event.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "backend_connection.h"
#include "client_connection.h"
#include "skewless/balance/backends.h"
#include "skewless/common/net.h"
#include "skewless/datapath/splice_maps.h"
#include "splicer_load.h"
#include "splicer_metrics.h"
#include "tcp_relay.h"

namespace skewless::splicer {

struct UpstreamBackend {
  std::string address;  // IP:port, [v6]:port: the balancer's identity for it
  std::string zone;
  std::uint32_t weight = SKW_DEFAULT_WEIGHT;
  bool draining = false;         // no new streams, in-flight ones finish
  std::uint32_t backend_id = 0;  // its id in the agent's maps; 0 for --backend ones
  net::IpPort ip_port;           // `address` parsed
};

// The splicer's latency estimate: samples come by the thousand a second, so each gets a
// few percent of weight (a spike fades within tens of samples), one sample raises it by half
// at most (a hiccup stays within kSplicerLatencyTolerance and prices no pod out; a pod 10x
// slower gets there in six samples), and
// an estimate nobody samples decays with tau = 1 s rather than Linkerd's 10 s, so a backend
// that stopped winning draws is tried again within about a second.
balance::PeakEwmaOptions SplicerLatencyOptions();
// Pods within 2x of the median estimate count as equally fast: on a busy node scheduling
// jitter moves estimates by that much, and letting it steer would skew shares among like
// pods (at low load, where every pod is idle, latency alone decides each draw).
inline constexpr double kSplicerLatencyTolerance = 2.0;

// A backend the upstream has connections or streams on, listed or not (a removed one stays
// until its last stream is done).
struct UpstreamTarget {
  UpstreamBackend spec;
  std::vector<std::unique_ptr<BackendConnection>> pool;
  SplicerMetrics::Backend metrics;
  // Its LRS counters in the upstream's cluster; null when the upstream reports nothing.
  std::shared_ptr<EndpointCounters> load;
  std::uint64_t outstanding = 0;  // streams and relays on it now
  bool listed = true;
  bool ejected = false;  // as this worker's balancer last said (for the metrics)
};

// Where an upstream's streams are reported over LRS: the ledger and the cluster name the
// control plane serves the Service as. No ledger or no cluster = not reported.
struct UpstreamReporting {
  SplicerLoad* load = nullptr;
  std::string cluster;
  bool zones = true;  // the backends' zones are real zones (not the pinned set's tiers)
};

class Upstream final : public StreamRouter {
 public:
  // `loads` may be null (no data path: nothing to publish); `mark` 0 leaves sockets unmarked.
  Upstream(event_base* base, balance::BalanceOptions options, const SplicerLimits& limits,
           SplicerMetrics& metrics, datapath::LoadCounters* loads, std::uint32_t mark,
           UpstreamReporting reporting = {});
  ~Upstream() override;
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;

  // Replaces the backend list; state is kept for addresses that stay. An invalid list (a
  // duplicate or empty address) is refused and the old one kept.
  absl::Status Update(std::vector<UpstreamBackend> backends);
  // Names the cluster this upstream's load is reported under, once it is known (the agent
  // names a pinned Service after the splicer may have met it). Backends take counters at
  // the next Update, each once no stream runs on it uncounted.
  void ReportAs(const std::string& cluster) {
    if (reporting_.load != nullptr && reporting_.cluster.empty()) reporting_.cluster = cluster;
  }
  bool reported() const { return reporting_.load == nullptr || !reporting_.cluster.empty(); }
  // The Service's load-balancing policy (enum skw_lb_policy), followed from the next pick.
  void SetPolicy(std::uint8_t lb_policy) { balancer_.SetPolicy(lb_policy); }
  // Renews the connect path's view of the backends the balancer has ejected now, for `hold`
  // past `now_ns` (bpf_ktime_get_ns clock): refreshed while the ejection lasts, it lapses by
  // itself once it ends or the splicer is gone.
  void PublishEjections(std::uint64_t now_ns, std::uint64_t hold_ns);
  // Brings skewless_splicer_backend_ejected and _ejections_total up to the balancer's view
  // (after a failure, and on the worker's tick as ejections end).
  void UpdateEjectionMetrics();
  // Backend connections and targets left idle by removed backends.
  void Prune();
  bool idle() const { return clients == 0 && relays_.empty() && outstanding_ == 0; }
  std::size_t relays() const { return relays_.size(); }

  void Route(ProxiedStream& stream) override;
  void Finished(ProxiedStream& stream) override;
  void Reroute(ProxiedStream& stream, balance::StreamOutcome outcome) override;
  bool PassThrough(H2Connection& client, std::string first_bytes) override;

  std::size_t clients = 0;  // client connections routed here (kept by the worker)

 private:
  int ConnectSocket(const UpstreamBackend& backend);
  BackendConnection* ConnectionTo(UpstreamTarget& target);
  void Forget(H2Connection* connection);
  void CountStart(UpstreamTarget& target);
  void CountEnd(UpstreamTarget& target, balance::StreamOutcome outcome);

  event_base* const base_;
  const SplicerLimits& limits_;
  SplicerMetrics& metrics_;
  datapath::LoadCounters* const loads_;
  const std::uint32_t mark_;
  UpstreamReporting reporting_;
  balance::Backends balancer_;
  std::unordered_map<std::string, std::unique_ptr<UpstreamTarget>> targets_;  // by address
  std::unordered_map<TcpRelay*, std::unique_ptr<TcpRelay>> relays_;
  std::uint64_t outstanding_ = 0;
  bool mark_failed_logged_ = false;
  std::mt19937_64 random_{std::random_device{}()};
};

}  // namespace skewless::splicer
