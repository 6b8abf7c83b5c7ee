// A splicer worker: accept, find each client's Service, keep its upstream current.
#include "worker.h"

#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "service_backends.h"
#include "skewless/common/event_threads.h"
#include "skewless/common/log.h"
#include "skewless/datapath/backend_set.h"
#include "skewless/datapath/service_table.h"

namespace skewless::splicer {
namespace {

// netfilter's IP6T_SO_ORIGINAL_DST: its header does not build in C++.
constexpr int kIp6OriginalDst = 80;

// How long an ejection the splicer publishes lasts unless renewed: a few refreshes, so
// it survives a slow one and lapses soon after the splicer stops renewing it.
std::uint64_t EjectionHoldNs(std::chrono::milliseconds refresh) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(3 * refresh).count());
}

std::string KeyOf(const skw_addr& vip, std::uint16_t port) {
  std::string key(reinterpret_cast<const char*>(&vip), sizeof(vip));
  key.append(reinterpret_cast<const char*>(&port), sizeof(port));
  return key;
}

timeval ToTimeval(std::chrono::milliseconds interval) {
  return timeval{.tv_sec = static_cast<time_t>(interval.count() / 1000),
                 .tv_usec = static_cast<suseconds_t>(interval.count() % 1000 * 1000)};
}

}  // namespace

Worker::Worker(const WorkerSetup& setup, SplicerMetrics& metrics)
    : setup_(setup), metrics_(metrics), base_((UseLibeventThreads(), event_base_new())) {
  if (!setup_.static_backends.empty()) {
    static_upstream_ = std::make_unique<Upstream>(
        base_,
        balance::BalanceOptions{.prefer_local_zone = !setup_.zone.empty(),
                                .local_zone = setup_.zone,
                                .latency = SplicerLatencyOptions(),
                                .latency_tolerance = kSplicerLatencyTolerance},
        metrics_, nullptr, setup_.mark);
    // Splicer::Start checked the list with the same update.
    static_upstream_->Update(setup_.static_backends).IgnoreError();
  }
  stop_event_ = event_new(base_, -1, 0, &Break, this);
  drain_event_ = event_new(base_, -1, 0, &Drain, this);
  resume_accept_event_ = event_new(base_, -1, 0, &ResumeAccept, this);
  if (setup_.services != nullptr) {
    refresh_event_ = event_new(base_, -1, EV_PERSIST, &OnRefresh, this);
    const timeval interval = ToTimeval(setup_.refresh);
    event_add(refresh_event_, &interval);
  }
}

Worker::~Worker() {
  Stop();
  // Clients first: their streams cancel backend streams that still exist.
  clients_.clear();
  pinned_.clear();
  static_upstream_.reset();
  for (event* e :
       {accept_event_, stop_event_, drain_event_, resume_accept_event_, refresh_event_}) {
    if (e != nullptr) event_free(e);
  }
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
  listen_address_ = address;
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
  for (auto& [key, client] : worker.clients_) client.connection->GoAway();
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

Upstream* Worker::UpstreamFor(int client_fd) {
  if (setup_.services != nullptr) {
    // The data path's answer for a redirected connection; for one that dialled the splicer
    // directly the kernel answers with the splicer's own address, or an error.
    sockaddr_storage original{};
    socklen_t length = sizeof(original);
    const bool v4 = listen_address_.ss_family == AF_INET;
    if (getsockopt(client_fd, v4 ? SOL_IP : SOL_IPV6, v4 ? SO_ORIGINAL_DST : kIp6OriginalDst,
                   &original, &length) == 0) {
      sockaddr_storage local{};
      socklen_t local_length = sizeof(local);
      getsockname(client_fd, reinterpret_cast<sockaddr*>(&local), &local_length);
      const bool redirected =
          !(length == local_length && std::memcmp(&original, &local, length) == 0);
      if (redirected && original.ss_family == AF_INET) {
        const auto& in = reinterpret_cast<const sockaddr_in&>(original);
        skw_addr vip{};
        vip.words[2] = htonl(0xffff);
        vip.words[3] = in.sin_addr.s_addr;
        return PinnedUpstreamFor(vip, in.sin_port);
      }
      if (redirected && original.ss_family == AF_INET6) {
        const auto& in6 = reinterpret_cast<const sockaddr_in6&>(original);
        skw_addr vip{};
        std::memcpy(vip.words, &in6.sin6_addr, sizeof(vip.words));
        return PinnedUpstreamFor(vip, in6.sin6_port);
      }
    }
  }
  if (static_upstream_ != nullptr) return static_upstream_.get();
  metrics_.unrouted(UnroutedReason::kNoOrigin).Increment();
  return nullptr;
}

Upstream* Worker::PinnedUpstreamFor(const skw_addr& vip, std::uint16_t port) {
  const std::string key = KeyOf(vip, port);
  auto it = pinned_.find(key);
  if (it != pinned_.end() && it->second.listed) return it->second.upstream.get();
  absl::StatusOr<std::optional<datapath::SpliceService>> service = setup_.services->Find(vip, port);
  if (!service.ok()) {
    metrics_.unrouted(UnroutedReason::kMapError).Increment();
    log::Warn("splicer: cannot read the Service a client dialled",
              {{"service", absl::StrCat(datapath::FormatAddress(vip), ":", ntohs(port))},
               {"error", std::string(service.status().message())}});
    return nullptr;
  }
  if (!service->has_value()) {
    metrics_.unrouted(UnroutedReason::kUnknownService).Increment();
    return nullptr;
  }
  absl::StatusOr<ServiceBackends> backends = ServiceBackendsOf(**service);
  if (!backends.ok()) {
    metrics_.unrouted(UnroutedReason::kMapError).Increment();
    return nullptr;
  }
  if (it == pinned_.end()) {
    PinnedUpstream pinned{.vip = vip, .port = port};
    pinned.upstream =
        std::make_unique<Upstream>(base_, backends->options, metrics_, setup_.loads, setup_.mark);
    it = pinned_.emplace(key, std::move(pinned)).first;
  }
  if (absl::Status updated = it->second.upstream->Update(std::move(backends->backends));
      !updated.ok()) {
    metrics_.unrouted(UnroutedReason::kMapError).Increment();
    return nullptr;
  }
  it->second.listed = true;
  return it->second.upstream.get();
}

void Worker::Refresh(PinnedUpstream& pinned) {
  absl::StatusOr<std::optional<datapath::SpliceService>> service =
      setup_.services->Find(pinned.vip, pinned.port);
  if (!service.ok()) return;  // keep serving the last good state; the next read retries
  if (!service->has_value()) {
    // The Service is gone: no new streams, in-flight ones finish.
    pinned.listed = false;
    pinned.upstream->Update({}).IgnoreError();
    return;
  }
  absl::StatusOr<ServiceBackends> backends = ServiceBackendsOf(**service);
  if (!backends.ok()) return;
  if (pinned.upstream->Update(std::move(backends->backends)).ok()) pinned.listed = true;
}

void Worker::OnRefresh(evutil_socket_t, short, void* self) {
  auto& worker = *static_cast<Worker*>(self);
  const std::uint64_t now_ns = datapath::MonotonicNowNs();
  for (auto it = worker.pinned_.begin(); it != worker.pinned_.end();) {
    PinnedUpstream& pinned = it->second;
    worker.Refresh(pinned);
    pinned.upstream->PublishEjections(now_ns, EjectionHoldNs(worker.setup_.refresh));
    if (!pinned.listed && pinned.upstream->idle()) {
      it = worker.pinned_.erase(it);
    } else {
      ++it;
    }
  }
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
    Upstream* upstream = worker.UpstreamFor(client);
    if (upstream == nullptr) {
      close(client);
      continue;
    }
    const int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto connection = std::make_unique<ClientConnection>(
        worker.base_, client, *upstream, worker.metrics_.buffered_bytes(),
        [&worker](H2Connection* gone) { worker.Forget(gone); });
    H2Connection* key = connection.get();
    worker.clients_[key] = Client{.connection = std::move(connection), .upstream = upstream};
    ++upstream->clients;
    worker.client_count_ = worker.clients_.size();
    worker.metrics_.client_connections().Add(1);
  }
}

void Worker::Forget(H2Connection* connection) {
  auto it = clients_.find(connection);
  if (it == clients_.end()) return;
  --it->second.upstream->clients;
  clients_.erase(it);
  client_count_ = clients_.size();
  metrics_.client_connections().Add(-1);
}

}  // namespace skewless::splicer
