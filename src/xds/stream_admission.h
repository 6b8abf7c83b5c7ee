// What every ADS stream may cost, enforced in one place shared by all streams: stream
// counts (all peers, per peer), the per-stream name and memory limits, the memory
// estimate's gauge, rate-limited logging per peer and kind of event, and handing freed
// memory back to the system after streams close.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "grpcpp/grpcpp.h"
#include "skewless/common/log_limiter.h"
#include "skewless/xds/ads_server.h"
#include "skewless/xds/server_metrics.h"

namespace skewless::xds::internal {

class StreamAdmission {
 public:
  StreamAdmission(const StreamLimits& limits, XdsMetrics& metrics);
  ~StreamAdmission();
  StreamAdmission(const StreamAdmission&) = delete;
  StreamAdmission& operator=(const StreamAdmission&) = delete;

  const StreamLimits& limits() const { return limits_; }
  XdsMetrics& metrics() { return metrics_; }

  // A new stream from `peer_address` (gRPC's "ipv4:10.0.0.1:5555"): OK, or the
  // RESOURCE_EXHAUSTED status to end it with when max_streams are open. Every OK is
  // matched by one Closed().
  grpc::Status Open(std::string_view peer_address);
  void Closed();

  // The stream named its node: counts it against its peer (node.id, or the IP without
  // one). Every OK is matched by one LeavePeer(peer).
  grpc::Status JoinPeer(const std::string& peer, std::string_view stream_id);
  void LeavePeer(const std::string& peer);

  // Counts a rejection for `limit` (a reason label) and logs it, rate-limited per peer;
  // returns the status that closes the stream.
  grpc::Status Reject(std::string_view limit, std::string_view peer, std::string_view stream_id,
                      const std::string& detail);

  // True when an event of `kind` from `peer` should be logged now; `suppressed` then
  // holds how many were not since the last. Counts what is not logged.
  bool ShouldLog(std::string_view kind, std::string_view peer, std::uint64_t* suppressed);

  // A stream's estimate changed by `delta_bytes` (the gauge is the sum over streams).
  void AddMemory(std::int64_t delta_bytes);

 private:
  void TrimLoop();

  const StreamLimits limits_;
  XdsMetrics& metrics_;
  log::KeyedLimiter log_limiter_;
  std::atomic<std::size_t> streams_{0};

  std::mutex peers_mutex_;
  std::map<std::string, std::size_t, std::less<>> peers_;  // peer → streams

  std::mutex trim_mutex_;
  std::condition_variable trim_wake_;
  bool trim_pending_ = false;
  bool stopping_ = false;
  std::thread trimmer_;
};

// The peer of a stream for limits and logs: its node.id when it sent one (cut, with a
// hash of the rest, when longer than a log field), else the IP of `peer_address`.
std::string PeerKey(std::string_view node_id, std::string_view peer_address);

}  // namespace skewless::xds::internal
