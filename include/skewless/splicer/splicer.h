// skewless-splicer's core: a node-local HTTP/2 proxy that gives every stream (every
// gRPC call) of a client connection its own backend, so one long-lived connection is
// spread over all pods. One event loop per worker thread, each with its own
// SO_REUSEPORT listener, its own backend connections and its own balancer state:
// nothing is shared on the request path.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "skewless/common/prometheus.h"
#include "skewless/datapath/splice_maps.h"
#include "skewless/loadreport/lrs_client.h"

namespace skewless::splicer {

struct SplicerBackend {
  std::string address;  // IP:port ([v6]:port)
  std::string zone;
  std::uint32_t weight = 1;
};

inline constexpr std::uint32_t kDefaultMark = 0x5c;  // the agent's default --splicer-mark
// skewless-splicer's defaults for its process flags (--http-listen, --drain-seconds), here so
// the deploy checks read the same values the binary uses.
inline constexpr char kDefaultHttpListen[] = "0.0.0.0:9093";
inline constexpr double kDefaultDrainSeconds = 10;

// What one stream, client connection and worker may make the splicer hold, and how long a
// connection or stream may sit idle. Defaults follow Envoy's where it has one; each is a flag
// of skewless-splicer and a row of docs/splicer.md, and a test holds each bound.
struct SplicerLimits {
  // Flow-control window per stream and direction, so the most one stream buffers each way.
  std::uint32_t stream_window_bytes = 256 << 10;
  // Bodies and decoded headers held for one client connection's streams: over it, the
  // connection's largest stream is reset (RST_STREAM ENHANCE_YOUR_CALM, gRPC RESOURCE_EXHAUSTED).
  std::size_t connection_buffer_bytes = 16 << 20;
  // The same over all of a worker's connections: over it, the connection holding the most is
  // closed with GOAWAY ENHANCE_YOUR_CALM.
  std::size_t worker_buffer_bytes = 64 << 20;
  // Request header list (RFC 9113 counting), advertised to clients as
  // SETTINGS_MAX_HEADER_LIST_SIZE: gRPC servers' own default, so no request a pod would reject
  // reaches it. A pod that advertises less is held to its own.
  std::uint32_t max_request_headers_bytes = 8 << 10;
  std::uint32_t max_streams_per_connection = 1024;  // SETTINGS_MAX_CONCURRENT_STREAMS to clients
  std::size_t max_connections_per_worker = 10000;   // more are accepted and closed at once
  // Zero turns a timeout off.
  std::chrono::milliseconds preface_timeout{10000};  // accept → the HTTP/2 client preface
  std::chrono::milliseconds idle_timeout{3600000};   // a connection with no stream (Envoy: 1 h)
  std::chrono::milliseconds stream_idle_timeout{300000};      // no frame either way (Envoy: 5 min)
  std::chrono::milliseconds max_connection_age{0};            // then GOAWAY (Envoy: none)
  std::chrono::milliseconds max_connection_age_grace{10000};  // after it, for calls in flight
  // A relayed (not HTTP/2) connection: once one side has finished sending, the other has this
  // long to finish too; with no byte either way for idle_timeout, it is closed.
  std::chrono::milliseconds half_close_timeout{30000};
};

struct SplicerOptions {
  std::string listen = "127.0.0.1:15001";  // host:port; port 0 picks a free one
  int workers = 0;                         // 0: one per CPU
  // Fixed backends, for clients the data path did not redirect (or with no data path).
  std::vector<SplicerBackend> backends;
  std::string zone;  // this node's zone: its --backend ones there are preferred
  // The agent's pin dir: each redirected client's Service (SO_ORIGINAL_DST) is looked up in
  // its maps, and streams and ejections are counted in its load map. Empty = --backend only.
  std::string pin_dir;
  std::uint32_t mark = kDefaultMark;        // SO_MARK on backend sockets (0 = none)
  std::chrono::milliseconds refresh{1000};  // how often a Service's backends are read again
  SplicerLimits limits;
  // Report per-endpoint load (outstanding, issued, successful and failed streams) to the
  // control plane over LRS; unset = no reporting. Its user_agent and metric prefix are the
  // splicer's whatever they say.
  std::optional<loadreport::LrsClientOptions> load_reporting;
  // The cluster name (as the control plane serves it, "namespace/service:port") the
  // --backend endpoints are reported under; empty = they are not reported.
  std::string backend_cluster;
  // With pin_dir and load_reporting: the node agent's HTTP address, where the cluster names
  // of the Services it steers are read (the maps hold only their addresses).
  std::string agent_url = "http://127.0.0.1:9091";
};

class Worker;
class SplicerMetrics;
class SplicerLoad;
class ClusterNames;
class LeaseKeeper;
struct WorkerSetup;

class Splicer {
 public:
  // Binds every worker's listener and starts their loops; errors name the bad backend
  // or the address that cannot be bound.
  static absl::StatusOr<std::unique_ptr<Splicer>> Start(const SplicerOptions& options);
  ~Splicer();  // stops
  Splicer(const Splicer&) = delete;
  Splicer& operator=(const Splicer&) = delete;

  int port() const { return port_; }
  // skewless_splicer_* metrics (docs/splicer.md), for a /metrics handler.
  prometheus::Registry& registry() { return registry_; }
  int workers() const { return static_cast<int>(workers_.size()); }
  // Graceful: gives up the data path's lease (new connects are steered at L4 again),
  // stops accepting, sends every client GOAWAY and waits until their streams are done or
  // `grace` has passed. Stop() follows.
  void Drain(std::chrono::milliseconds grace);
  // Releases the lease, stops every loop and closes every connection; idempotent.
  void Stop();

 private:
  Splicer();
  prometheus::Registry registry_;
  std::unique_ptr<SplicerMetrics> metrics_;
  std::unique_ptr<datapath::PinnedServices> services_;
  std::unique_ptr<datapath::LoadCounters> loads_;
  std::unique_ptr<SplicerLoad> load_;  // with load_reporting; outlives lrs_ and the workers
  std::unique_ptr<ClusterNames> cluster_names_;  // with load_reporting and pin_dir
  std::unique_ptr<loadreport::LrsClient> lrs_;
  std::unique_ptr<WorkerSetup> setup_;
  std::vector<std::unique_ptr<Worker>> workers_;
  // With pin_dir: held from the moment every listener is up until Drain or Stop.
  std::unique_ptr<LeaseKeeper> lease_;
  int port_ = 0;
};

}  // namespace skewless::splicer
