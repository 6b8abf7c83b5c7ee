// One splicer event loop: its listener, its clients' connections, its own pool of
// backend connections and its own balancer state (nothing shared with other workers).
#pragma once

#include <event2/event.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "backend_connection.h"
#include "client_connection.h"
#include "skewless/balance/backends.h"
#include "skewless/splicer/splicer.h"
#include "splicer_metrics.h"
#include "tcp_relay.h"

namespace skewless::splicer {

struct ResolvedBackend {
  SplicerBackend spec;
  sockaddr_storage address{};
  socklen_t address_length = 0;
};

// The balancer's view of the backends (weights above 65535 are capped).
std::vector<balance::BackendSpec> BalanceSpecsOf(const std::vector<ResolvedBackend>& backends);

class Worker final : public StreamRouter {
 public:
  Worker(std::vector<ResolvedBackend> backends, std::string zone, SplicerMetrics& metrics);
  ~Worker() override;

  // Binds a SO_REUSEPORT listener (every worker binds the same port); the bound port.
  absl::StatusOr<int> Listen(const std::string& host, int port);
  void Start();
  // Thread-safe: stops accepting and sends every client GOAWAY; their streams finish.
  void BeginDrain();
  // Client connections still open (read from any thread, for a drain's progress).
  std::size_t clients() const { return client_count_.load(); }
  // Thread-safe; joins the loop (connections still open are closed).
  void Stop();

 private:
  void Route(ProxiedStream& stream) override;
  void Finished(ProxiedStream& stream) override;
  void Reroute(ProxiedStream& stream, balance::StreamOutcome outcome) override;
  bool PassThrough(H2Connection& client, std::string first_bytes) override;
  // A nonblocking socket connecting to the backend, or -1.
  int ConnectSocket(std::size_t backend);
  BackendConnection* ConnectionTo(std::size_t backend);
  void Forget(H2Connection* connection);

  static void Accept(evutil_socket_t fd, short what, void* self);
  static void Break(evutil_socket_t fd, short what, void* self);
  static void Drain(evutil_socket_t fd, short what, void* self);
  static void ResumeAccept(evutil_socket_t fd, short what, void* self);

  const std::vector<ResolvedBackend> backends_;
  const std::string zone_;
  SplicerMetrics& metrics_;
  event_base* base_ = nullptr;
  int listen_fd_ = -1;
  event* accept_event_ = nullptr;
  event* stop_event_ = nullptr;
  event* drain_event_ = nullptr;
  event* resume_accept_event_ = nullptr;  // a timer after accept ran out of descriptors
  bool draining_ = false;
  std::atomic<std::size_t> client_count_{0};
  std::thread thread_;
  std::unordered_map<H2Connection*, std::unique_ptr<ClientConnection>> clients_;
  std::vector<std::vector<std::unique_ptr<BackendConnection>>> pools_;  // per backend
  std::unordered_map<TcpRelay*, std::unique_ptr<TcpRelay>> relays_;
  std::unordered_map<std::string, std::size_t> index_of_;  // address → backends_ index
  balance::Backends balancer_;
  std::mt19937_64 random_{std::random_device{}()};
};

}  // namespace skewless::splicer
