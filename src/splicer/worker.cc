// A splicer worker: accept, route each stream, pool backend connections.
#include "worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "skewless/common/event_threads.h"
#include "skewless/common/log.h"

namespace skewless::splicer {
namespace {

int NonBlockingSocket(int family) {
  const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return fd;
}

}  // namespace

std::vector<balance::BackendSpec> BalanceSpecsOf(const std::vector<ResolvedBackend>& backends) {
  std::vector<balance::BackendSpec> specs;
  for (const ResolvedBackend& backend : backends) {
    specs.push_back({.address = backend.spec.address,
                     .zone = backend.spec.zone,
                     .weight = static_cast<std::uint16_t>(
                         std::min<std::uint32_t>(backend.spec.weight, 0xffff))});
  }
  return specs;
}

Worker::Worker(std::vector<ResolvedBackend> backends, std::string zone, SplicerMetrics& metrics)
    : backends_(std::move(backends)),
      zone_(std::move(zone)),
      metrics_(metrics),
      base_((UseLibeventThreads(), event_base_new())),
      pools_(backends_.size()),
      balancer_(balance::BalanceOptions{.prefer_local_zone = !zone_.empty(),
                                        .local_zone = zone_,
                                        .latency = {.min_sample_weight = 0.05}}) {
  for (std::size_t i = 0; i < backends_.size(); ++i) index_of_[backends_[i].spec.address] = i;
  // Splicer::Start checked the list with the same update.
  balancer_.Update(std::chrono::steady_clock::now(), BalanceSpecsOf(backends_)).IgnoreError();
  stop_event_ = event_new(base_, -1, 0, &Break, this);
  drain_event_ = event_new(base_, -1, 0, &Drain, this);
  resume_accept_event_ = event_new(base_, -1, 0, &ResumeAccept, this);
}

Worker::~Worker() {
  Stop();
  // Clients first: their streams cancel backend streams that still exist.
  clients_.clear();
  relays_.clear();
  pools_.clear();
  if (accept_event_ != nullptr) event_free(accept_event_);
  if (stop_event_ != nullptr) event_free(stop_event_);
  if (drain_event_ != nullptr) event_free(drain_event_);
  if (resume_accept_event_ != nullptr) event_free(resume_accept_event_);
  if (listen_fd_ >= 0) close(listen_fd_);
  event_base_free(base_);
}

absl::StatusOr<int> Worker::Listen(const std::string& host, int port) {
  sockaddr_storage address{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    length = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    length = sizeof(*v6);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("listen host \"", host, "\" is not an IP"));
  }
  listen_fd_ = socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  // One listener per worker on the same port: the kernel spreads connections over them.
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      listen(listen_fd_, SOMAXCONN) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", host, ":", port, ": ", std::strerror(errno)));
  }
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  accept_event_ = event_new(base_, listen_fd_, EV_READ | EV_PERSIST, &Accept, this);
  event_add(accept_event_, nullptr);
  return ntohs(address.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
}

void Worker::Start() {
  thread_ = std::thread([this] { event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY); });
}

void Worker::Stop() {
  if (!thread_.joinable()) return;
  event_active(stop_event_, 0, 0);
  thread_.join();
}

void Worker::BeginDrain() { event_active(drain_event_, 0, 0); }

void Worker::Drain(evutil_socket_t, short, void* self) {
  auto& worker = *static_cast<Worker*>(self);
  if (worker.draining_) return;
  worker.draining_ = true;
  // New connections go to the kernel's other listeners (a restarted splicer) or fail.
  if (worker.accept_event_ != nullptr) event_del(worker.accept_event_);
  if (worker.listen_fd_ >= 0) {
    close(worker.listen_fd_);
    worker.listen_fd_ = -1;
  }
  for (auto& [key, client] : worker.clients_) client->GoAway();
}

void Worker::ResumeAccept(evutil_socket_t, short, void* self) {
  auto& worker = *static_cast<Worker*>(self);
  if (!worker.draining_ && worker.accept_event_ != nullptr) {
    event_add(worker.accept_event_, nullptr);
  }
}

void Worker::Break(evutil_socket_t, short, void* self) {
  event_base_loopbreak(static_cast<Worker*>(self)->base_);
}

void Worker::Accept(evutil_socket_t fd, short, void* self) {
  auto& worker = *static_cast<Worker*>(self);
  for (;;) {
    const int client = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) {
      const int error = errno;
      if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
        // Out of descriptors or memory: the listener stays readable, and a level-
        // triggered loop would spin on it. Pause accepting; pending clients wait in the
        // backlog.
        log::Warn("splicer: cannot accept, pausing for 100 ms", {{"error", std::strerror(error)}});
        event_del(worker.accept_event_);
        const timeval pause{.tv_sec = 0, .tv_usec = 100000};
        event_add(worker.resume_accept_event_, &pause);
      } else if (error != EAGAIN && error != EWOULDBLOCK && error != EINTR) {
        log::Warn("splicer: accept failed", {{"error", std::strerror(error)}});
      }
      return;
    }
    const int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto connection = std::make_unique<ClientConnection>(
        worker.base_, client, worker, worker.metrics_.buffered_bytes(),
        [&worker](H2Connection* gone) { worker.Forget(gone); });
    H2Connection* key = connection.get();
    worker.clients_[key] = std::move(connection);
    worker.client_count_ = worker.clients_.size();
    worker.metrics_.client_connections().Add(1);
  }
}

void Worker::Forget(H2Connection* connection) {
  if (clients_.erase(connection) > 0) {
    client_count_ = clients_.size();
    metrics_.client_connections().Add(-1);
    return;
  }
  for (std::size_t backend = 0; backend < pools_.size(); ++backend) {
    auto& pool = pools_[backend];
    for (auto it = pool.begin(); it != pool.end(); ++it) {
      if (it->get() == connection) {
        pool.erase(it);
        metrics_.backend(backend).connections->Add(-1);
        return;
      }
    }
  }
}

int Worker::ConnectSocket(std::size_t backend) {
  const ResolvedBackend& target = backends_[backend];
  const int fd = NonBlockingSocket(target.address.ss_family);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&target.address), target.address_length) != 0 &&
      errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

bool Worker::PassThrough(H2Connection& client, std::string first_bytes) {
  const auto now = std::chrono::steady_clock::now();
  const std::optional<balance::Choice> choice = balancer_.Pick(now, random_);
  if (!choice || !balancer_.OnStreamStart(choice->backend, now)) return false;
  const balance::BackendHandle pick = choice->backend;
  const std::size_t backend = index_of_.at(*balancer_.address(pick));
  const int fd = ConnectSocket(backend);
  if (fd < 0) {
    balancer_.OnStreamEnd(pick, now, {}, balance::StreamOutcome::kConnectFailure);
    return false;
  }
  metrics_.passthroughs().Increment();
  metrics_.backend(backend).outstanding->Add(1);
  auto relay = std::make_unique<TcpRelay>(
      base_, client.TakeSocket(), std::move(first_bytes), fd,
      [this, pick, backend](TcpRelay* done, bool backend_reached) {
        // A relay's length says nothing of the backend's speed: no latency sample.
        balancer_.OnStreamEnd(pick, std::chrono::steady_clock::now(), {},
                              backend_reached ? balance::StreamOutcome::kCancelled
                                              : balance::StreamOutcome::kConnectFailure);
        metrics_.backend(backend).outstanding->Add(-1);
        relays_.erase(done);
      });
  TcpRelay* key = relay.get();
  relays_[key] = std::move(relay);
  return true;
}

BackendConnection* Worker::ConnectionTo(std::size_t backend) {
  for (auto& connection : pools_[backend]) {
    if (connection->HasCapacity()) return connection.get();
  }
  const int fd = ConnectSocket(backend);
  if (fd < 0) return nullptr;
  metrics_.backend(backend).connections->Add(1);
  pools_[backend].push_back(std::make_unique<BackendConnection>(
      base_, fd, backend, [this](H2Connection* gone) { Forget(gone); }));
  return pools_[backend].back().get();
}

void Worker::Route(ProxiedStream& stream) {
  const auto now = std::chrono::steady_clock::now();
  // A retried stream avoids the backend that just refused it while others exist (with
  // two backends P2C would compare the same pair again).
  const std::optional<balance::Choice> choice =
      balancer_.Pick(now, random_, stream.unreachable_backend);
  if (!choice || !balancer_.OnStreamStart(choice->backend, now)) {
    stream.client->OnBackendFailed(stream, "no backend takes new streams",
                                   balance::StreamOutcome::kCancelled);
    return;
  }
  stream.pick = choice->backend;
  stream.counted = true;
  ++stream.attempts;
  const std::size_t backend = index_of_.at(*balancer_.address(choice->backend));
  stream.backend_index = backend;
  metrics_.backend(backend).outstanding->Add(1);
  BackendConnection* connection = ConnectionTo(backend);
  if (connection == nullptr) {
    stream.client->RetryElsewhere(
        stream, absl::StrCat("cannot connect to ", backends_[backend].spec.address),
        balance::StreamOutcome::kConnectFailure);
    return;
  }
  connection->Submit(stream);
}

namespace {

// What the backend's answer says about its health (balance/stream_outcome.h).
balance::StreamOutcome OutcomeOf(const ProxiedStream& stream) {
  if (stream.failure) return *stream.failure;
  if (!stream.response_seen) return balance::StreamOutcome::kCancelled;  // the client left
  int http_status = 0;
  std::optional<int> grpc_status;
  auto scan = [&](const Headers& headers) {
    for (const Header& header : headers) {
      int value = 0;
      if (header.name == ":status" && absl::SimpleAtoi(header.value, &value)) http_status = value;
      if (header.name == "grpc-status" && absl::SimpleAtoi(header.value, &value)) {
        grpc_status = value;
      }
    }
  };
  scan(stream.response_headers);
  scan(stream.response_trailers);
  return balance::OutcomeOfResponse(http_status, grpc_status);
}

}  // namespace

void Worker::Reroute(ProxiedStream& stream, balance::StreamOutcome outcome) {
  stream.unreachable_backend = stream.pick;
  metrics_.reroutes().Increment();
  stream.failure = outcome;
  Finished(stream);  // the failed attempt, for the balancer
  stream.failure.reset();
  Route(stream);
}

void Worker::Finished(ProxiedStream& stream) {
  if (!stream.counted) return;
  stream.counted = false;
  const auto now = std::chrono::steady_clock::now();
  // Latency is time to the response headers: what a peer's speed shows, whatever the
  // call's length (a long stream is not a slow backend).
  const auto latency = (stream.response_seen ? stream.response_at : now) - stream.started;
  const balance::StreamOutcome outcome = OutcomeOf(stream);
  balancer_.OnStreamEnd(stream.pick, now, latency, outcome);
  SplicerMetrics::Backend& metrics = metrics_.backend(stream.backend_index);
  metrics.outstanding->Add(-1);
  metrics.streams[static_cast<std::size_t>(outcome)]->Increment();
}

}  // namespace skewless::splicer
