// The agent's side of ADS: one stream at a time to one of several control-plane
// addresses, delta by default (state of the world on request), reconnecting with
// jittered exponential backoff. Responses are decoded and handed to an AdsHandler on the
// client's own thread; what the handler rejects is NACKed with its error as the detail.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "skewless/agent/v1/node_info.pb.h"
#include "skewless/common/prometheus.h"
#include "skewless/h2/tls_transport.h"
#include "skewless/load/v1/cluster_load.pb.h"

namespace skewless::h2 {
class GrpcClientStream;
}
namespace google::rpc {
class Status;
}
namespace google::protobuf {
class Any;
}

namespace skewless::agent {

class AdsHandler {
 public:
  virtual ~AdsHandler() = default;
  // A stream to `server` is open; a full re-read follows.
  virtual void OnStreamStart(const std::string& server) = 0;
  virtual absl::Status OnNodeInfo(const std::optional<skewless::agent::v1::NodeInfo>& info) = 0;
  virtual absl::Status OnClusters(const std::vector<envoy::config::cluster::v3::Cluster>& updated,
                                  const std::vector<std::string>& removed, bool full_state) = 0;
  virtual absl::Status OnAssignments(
      const std::vector<envoy::config::endpoint::v3::ClusterLoadAssignment>& updated,
      const std::vector<std::string>& removed) = 0;
  // The clusters whose endpoints to watch now (asked after every cluster update); their
  // ClusterLoads too when the client subscribes to those.
  virtual std::vector<std::string> EndpointSubscriptions() = 0;
  // Cluster-wide load (skewless.load.v1.ClusterLoad), only when subscribed.
  virtual absl::Status OnClusterLoads(const std::vector<skewless::load::v1::ClusterLoad>& updated,
                                      const std::vector<std::string>& removed, bool full_state) {
    (void)updated, (void)removed, (void)full_state;
    return absl::OkStatus();
  }
  // The stream OnStreamStart announced has ended (the client retries after a backoff).
  virtual void OnStreamEnd() {}
};

enum class AdsProtocol { kDelta, kStateOfTheWorld };

struct AdsClientOptions {
  std::vector<std::string> servers;  // host:port, tried in order, round robin on failure
  AdsProtocol protocol = AdsProtocol::kDelta;
  std::string node_name;  // node.id and the NodeInfo subscribed to
  std::string zone;       // node.locality.zone when known from a flag
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{30000};
  std::optional<h2::TlsClientOptions> tls;  // unset = plaintext
  std::string bearer_token_file;            // read at every connect; empty = no token
  // Also subscribe to the ClusterLoad of every cluster whose endpoints are watched. A
  // control plane that does not publish them answers with none (or not at all); the
  // stream is unaffected either way.
  bool cluster_load = false;
};

class AdsClient {
 public:
  AdsClient(AdsClientOptions options, AdsHandler& handler, prometheus::Registry& registry);
  ~AdsClient();  // stops

  void Start();
  // Cancels the stream and joins; idempotent.
  void Stop();
  bool connected() const { return connected_.load(); }

 private:
  struct Metrics {
    prometheus::Family<prometheus::Gauge>& connected;
    prometheus::Family<prometheus::Counter>& streams;
    prometheus::Family<prometheus::Counter>& responses;
    prometheus::Family<prometheus::Counter>& nacks;
  };

  using AnyList = std::vector<const google::protobuf::Any*>;

  void Run();
  // One stream until it ends; true if it got at least one response (resets backoff).
  bool RunDelta(const std::string& server);
  bool RunSotw(const std::string& server);
  // Shared by both protocols: the stream's context for Stop(), its end, the metrics and
  // log of a response and a NACK, and the decoding of resources for the handler.
  // Opens the call (false when stopping or it failed; the failure is logged).
  bool Open(h2::GrpcClientStream& stream, const std::string& server);
  void EndStream(h2::GrpcClientStream& stream, const std::string& server);
  void Received(const std::string& server, const char* protocol, const std::string& type_url,
                bool* first);
  void Nacked(const std::string& type_url, const absl::Status& error, google::rpc::Status* detail);
  absl::Status Dispatch(const std::string& type_url, const AnyList& resources,
                        const std::vector<std::string>& removed, bool full_state);
  bool Sleep(std::chrono::milliseconds duration);  // false when stopping

  const AdsClientOptions options_;
  AdsHandler& handler_;
  Metrics metrics_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::mutex mutex_;  // guards stream_ and the stop wakeup
  std::condition_variable wake_;
  h2::GrpcClientStream* stream_ = nullptr;
};

}  // namespace skewless::agent
