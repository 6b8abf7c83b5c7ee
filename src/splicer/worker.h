// One splicer event loop: its listener, its clients' connections, and per Service an
// upstream with its own pool of backend connections and balancer state (nothing shared with
// other workers on the request path).
#pragma once

#include <event2/event.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "buffer_account.h"
#include "client_connection.h"
#include "skewless/common/log_limiter.h"
#include "skewless/common/net.h"
#include "skewless/datapath/splice_maps.h"
#include "splicer_metrics.h"
#include "upstream.h"

namespace skewless::splicer {

// What every worker shares (read-only, or lock-free).
struct WorkerSetup {
  std::vector<UpstreamBackend> static_backends;        // --backend: for clients with no origin
  std::string zone;                                    // this node's zone, for static backends
  const datapath::PinnedServices* services = nullptr;  // the agent's maps; null = static only
  datapath::LoadCounters* loads = nullptr;
  std::uint32_t mark = 0;                   // SO_MARK on backend sockets
  std::chrono::milliseconds refresh{1000};  // how often Services are read again
  SplicerLimits limits;
  // LRS: the ledger streams are counted in (null = no reporting), the cluster the static
  // backends are reported under, and a pinned Service's cluster name by VIP and port
  // (network order; "" or unset = that Service is not reported).
  SplicerLoad* load = nullptr;
  std::string backend_cluster;
  std::function<std::string(const skw_addr& vip, std::uint16_t port)> cluster_of;
};

class Worker {
 public:
  Worker(const WorkerSetup& setup, SplicerMetrics& metrics);
  ~Worker();

  // Binds a SO_REUSEPORT listener (every worker binds the same port); the bound port.
  absl::StatusOr<int> Listen(const net::IpPort& address);
  void Start();
  // Thread-safe: stops accepting and sends every client GOAWAY; their streams finish.
  void BeginDrain();
  // Client connections still open (read from any thread, for a drain's progress).
  std::size_t clients() const { return client_count_.load(); }
  // Thread-safe; joins the loop (connections still open are closed).
  void Stop();

 private:
  struct Client {
    std::unique_ptr<ClientConnection> connection;
    Upstream* upstream = nullptr;
  };
  struct PinnedUpstream {
    skw_addr vip{};
    std::uint16_t port = 0;  // network order
    std::unique_ptr<Upstream> upstream;
    bool listed = true;  // the Service was in the maps at the last read
  };

  // Where a newly accepted client's streams go, or null (the reason counted) to close it.
  Upstream* UpstreamFor(int client_fd);
  Upstream* PinnedUpstreamFor(const skw_addr& vip, std::uint16_t port);
  // Reads one pinned Service again into its upstream.
  void Refresh(PinnedUpstream& pinned);
  void Forget(H2Connection* connection);

  static void Accept(evutil_socket_t fd, short what, void* self);
  static void Break(evutil_socket_t fd, short what, void* self);
  static void Drain(evutil_socket_t fd, short what, void* self);
  static void ResumeAccept(evutil_socket_t fd, short what, void* self);
  static void OnRefresh(evutil_socket_t fd, short what, void* self);
  // Timeouts of every connection, ejection metrics, and the allocator trimmed after a burst.
  static void OnTick(evutil_socket_t fd, short what, void* self);
  // Sheds what is over a budget: the largest streams of connections over theirs, then the
  // costliest connections while the worker is over its own.
  static void Enforce(evutil_socket_t fd, short what, void* self);
  std::size_t Relays() const;

  const WorkerSetup& setup_;
  SplicerMetrics& metrics_;
  event_base* base_ = nullptr;
  int listen_fd_ = -1;
  sockaddr_storage listen_address_{};
  event* accept_event_ = nullptr;
  event* stop_event_ = nullptr;
  event* drain_event_ = nullptr;
  event* resume_accept_event_ = nullptr;  // a timer after accept ran out of descriptors
  event* refresh_event_ = nullptr;
  event* tick_event_ = nullptr;
  event* tick_more_event_ = nullptr;  // the rest of a tick that hit its batch
  event* enforce_event_ = nullptr;
  BufferAccount buffers_;  // every client connection's account counts in it
  ClientEnvironment client_env_;
  std::vector<H2Connection*> over_budget_;  // connections to shed at the next Enforce
  std::size_t clients_peak_ = 0;            // since the allocator was last trimmed
  log::Limiter accept_log_{std::chrono::seconds(10)};
  log::Limiter budget_log_{std::chrono::seconds(10)};
  bool draining_ = false;
  std::atomic<std::size_t> client_count_{0};
  std::thread thread_;
  std::unique_ptr<Upstream> static_upstream_;
  std::unordered_map<std::string, PinnedUpstream> pinned_;  // by VIP and port bytes
  std::unordered_map<H2Connection*, Client> clients_;
};

}  // namespace skewless::splicer
