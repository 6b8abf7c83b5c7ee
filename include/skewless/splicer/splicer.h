// skewless-splicer's core: a node-local HTTP/2 proxy that gives every stream (every
// gRPC call) of a client connection its own backend, so one long-lived connection is
// spread over all pods. One event loop per worker thread, each with its own
// SO_REUSEPORT listener, its own backend connections and its own balancer state:
// nothing is shared on the request path.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "skewless/common/prometheus.h"
#include "skewless/datapath/splice_maps.h"

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
};

class Worker;
class SplicerMetrics;
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
  std::unique_ptr<WorkerSetup> setup_;
  std::vector<std::unique_ptr<Worker>> workers_;
  // With pin_dir: held from the moment every listener is up until Drain or Stop.
  std::unique_ptr<LeaseKeeper> lease_;
  int port_ = 0;
};

}  // namespace skewless::splicer
