// A splicer worker: accept, find each client's Service, keep its upstream current.
#include "worker.h"

#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "service_backends.h"
#include "skewless/common/event_threads.h"
#include "skewless/common/log.h"
#include "skewless/common/net.h"
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

// How often timeouts are checked: a quarter of the shortest one, so one fires within 25% of
// its time, but no more than every 10 ms nor less than every second.
std::chrono::milliseconds TickInterval(const SplicerLimits& limits) {
  std::chrono::milliseconds shortest{1000};
  for (std::chrono::milliseconds limit :
       {limits.preface_timeout, limits.idle_timeout, limits.stream_idle_timeout,
        limits.max_connection_age, limits.max_connection_age_grace, limits.half_close_timeout}) {
    if (limit.count() > 0) shortest = std::min(shortest, limit / 4);
  }
  return std::max(shortest, std::chrono::milliseconds(10));
}

// After a burst the allocator keeps the pages it grew by; they go back to the system once what
// is held has fallen to a quarter of a peak at least this large.
constexpr std::int64_t kTrimAfterBufferedBytes = 4 << 20;
constexpr std::size_t kTrimAfterClients = 256;

}  // namespace

Worker::Worker(const WorkerSetup& setup, SplicerMetrics& metrics)
    : setup_(setup),
      metrics_(metrics),
      base_((UseLibeventThreads(), event_base_new())),
      buffers_(nullptr, setup.limits.worker_buffer_bytes, &metrics.buffered_bytes(),
               [this] { event_active(enforce_event_, 0, 0); }),
      client_env_{.limits = setup.limits,
                  .worker_buffers = buffers_,
                  .metrics = metrics,
                  .over_budget = [this](ClientConnection& connection) {
                    over_budget_.push_back(&connection);
                    event_active(enforce_event_, 0, 0);
                  }} {
  enforce_event_ = event_new(base_, -1, 0, &Enforce, this);
  tick_event_ = event_new(base_, -1, EV_PERSIST, &OnTick, this);
  tick_more_event_ = event_new(base_, -1, 0, &OnTick, this);
  const timeval tick = ToTimeval(TickInterval(setup_.limits));
  event_add(tick_event_, &tick);
  if (!setup_.static_backends.empty()) {
    static_upstream_ = std::make_unique<Upstream>(
        base_,
        balance::BalanceOptions{.prefer_local_zone = !setup_.zone.empty(),
                                .local_zone = setup_.zone,
                                .latency = SplicerLatencyOptions(),
                                .latency_tolerance = kSplicerLatencyTolerance},
        setup_.limits, metrics_, nullptr, setup_.mark,
        UpstreamReporting{.load = setup_.load, .cluster = setup_.backend_cluster});
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
  for (event* e : {accept_event_, stop_event_, drain_event_, resume_accept_event_, refresh_event_,
                   tick_event_, tick_more_event_, enforce_event_}) {
    if (e != nullptr) event_free(e);
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  event_base_free(base_);
}

absl::StatusOr<int> Worker::Listen(const net::IpPort& on) {
  net::SocketAddress bound = net::ToSocketAddress(on);
  sockaddr_storage& address = bound.storage;
  socklen_t& length = bound.length;
  listen_fd_ = socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  // One listener per worker on the same port: the kernel spreads connections over them.
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      listen(listen_fd_, SOMAXCONN) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", net::FormatIpPort(on), ": ", std::strerror(errno)));
  }
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  listen_address_ = address;
  accept_event_ = event_new(base_, listen_fd_, EV_READ | EV_PERSIST, &Accept, this);
  event_add(accept_event_, nullptr);
  absl::StatusOr<net::IpPort> local = net::FromSocketAddress(address);
  if (!local.ok()) return local.status();
  return local->port;
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
      if (absl::StatusOr<net::IpPort> dialled = net::FromSocketAddress(original);
          redirected && dialled.ok()) {
        return PinnedUpstreamFor(net::ToSkwAddr(dialled->ip), htons(dialled->port));
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
              {{"service", absl::StrCat(net::FormatSkwAddr(vip), ":", ntohs(port))},
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
    pinned.upstream = std::make_unique<Upstream>(
        base_, backends->options, setup_.limits, metrics_, setup_.loads, setup_.mark,
        UpstreamReporting{.load = setup_.load,
                          .cluster = setup_.load != nullptr && setup_.cluster_of
                                         ? setup_.cluster_of(vip, port)
                                         : std::string(),
                          .zones = false});
    it = pinned_.emplace(key, std::move(pinned)).first;
  }
  it->second.upstream->SetPolicy(backends->options.lb_policy);
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
  if (!pinned.upstream->reported() && setup_.cluster_of) {
    pinned.upstream->ReportAs(setup_.cluster_of(pinned.vip, pinned.port));
  }
  pinned.upstream->SetPolicy(backends->options.lb_policy);
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

void Worker::OnTick(evutil_socket_t, short, void* self) {
  auto& worker = *static_cast<Worker*>(self);
  const auto now = std::chrono::steady_clock::now();
  // Thousands of connections timing out together (a flood of half-open ones) are closed a
  // few dozen per loop turn, the rest in turns that follow at once: clients still being
  // served wait for one batch, not for all.
  constexpr int kTimeoutsPerTurn = 32;
  int acted = 0;
  for (auto& [key, client] : worker.clients_) {
    if (client.connection->Tick(now) && ++acted == kTimeoutsPerTurn) {
      const timeval at_once{};
      event_add(worker.tick_more_event_, &at_once);
      return;
    }
  }
  if (worker.static_upstream_ != nullptr) worker.static_upstream_->UpdateEjectionMetrics();
  for (auto& [key, pinned] : worker.pinned_) pinned.upstream->UpdateEjectionMetrics();
  worker.clients_peak_ = std::max(worker.clients_peak_, worker.clients_.size());
  const bool buffers_fell = worker.buffers_.peak() >= kTrimAfterBufferedBytes &&
                            worker.buffers_.used() <= worker.buffers_.peak() / 4;
  const bool clients_fell = worker.clients_peak_ >= kTrimAfterClients &&
                            worker.clients_.size() <= worker.clients_peak_ / 4;
  if (buffers_fell || clients_fell) {
    // glibc keeps freed pages in its arenas: without this a burst's peak stays resident.
    malloc_trim(0);
    worker.buffers_.ResetPeak();
    worker.clients_peak_ = worker.clients_.size();
  }
}

void Worker::Enforce(evutil_socket_t, short, void* self) {
  auto& worker = *static_cast<Worker*>(self);
  std::vector<H2Connection*> over = std::move(worker.over_budget_);
  worker.over_budget_.clear();
  for (H2Connection* key : over) {
    auto it = worker.clients_.find(key);  // it may have closed since
    if (it != worker.clients_.end()) it->second.connection->ShedOverBudget();
  }
  while (worker.buffers_.over()) {
    ClientConnection* costliest = nullptr;
    for (auto& [key, client] : worker.clients_) {
      ClientConnection& connection = *client.connection;
      if (connection.closing()) continue;
      if (costliest == nullptr || connection.buffered() > costliest->buffered()) {
        costliest = &connection;
      }
    }
    if (costliest == nullptr || costliest->buffered() == 0) break;
    worker.metrics_.budget_resets(BudgetScope::kWorker).Increment();
    if (std::uint64_t suppressed = 0; worker.budget_log_.Allow(&suppressed)) {
      log::Warn("splicer: worker over its buffer budget, closing the connection holding most",
                {{"buffered_bytes", absl::StrCat(costliest->buffered())},
                 {"worker_budget_bytes", absl::StrCat(worker.buffers_.limit())},
                 {"suppressed", absl::StrCat(suppressed)}});
    }
    // Its streams are released (and their bytes uncounted) before Terminate returns.
    costliest->Terminate(NGHTTP2_ENHANCE_YOUR_CALM, "over the worker's buffer budget");
  }
}

std::size_t Worker::Relays() const {
  std::size_t relays = static_upstream_ != nullptr ? static_upstream_->relays() : 0;
  for (const auto& [key, pinned] : pinned_) relays += pinned.upstream->relays();
  return relays;
}

void Worker::Accept(evutil_socket_t fd, short, void* self) {
  auto& worker = *static_cast<Worker*>(self);
  // A burst of thousands of connects is taken a few dozen per loop turn, so the streams of
  // clients already connected go on between them (the listener stays readable).
  constexpr int kAcceptsPerTurn = 16;
  for (int accepted = 0; accepted < kAcceptsPerTurn; ++accepted) {
    const int client = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) {
      const int error = errno;
      if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
        // Out of descriptors or memory: the listener stays readable, and a level-
        // triggered loop would spin on it. Pause accepting; pending clients wait in the
        // backlog.
        if (std::uint64_t suppressed = 0; worker.accept_log_.Allow(&suppressed)) {
          log::Warn("splicer: cannot accept, pausing for 100 ms",
                    {{"error", std::strerror(error)}, {"suppressed", absl::StrCat(suppressed)}});
        }
        event_del(worker.accept_event_);
        const timeval pause{.tv_sec = 0, .tv_usec = 100000};
        event_add(worker.resume_accept_event_, &pause);
      } else if (error != EAGAIN && error != EWOULDBLOCK && error != EINTR) {
        if (std::uint64_t suppressed = 0; worker.accept_log_.Allow(&suppressed)) {
          log::Warn("splicer: accept failed",
                    {{"error", std::strerror(error)}, {"suppressed", absl::StrCat(suppressed)}});
        }
      }
      return;
    }
    if (worker.clients_.size() + worker.Relays() >=
        worker.setup_.limits.max_connections_per_worker) {
      // Closed at once rather than left in the backlog: the client sees it and may retry;
      // the preface and idle timeouts free the places held by clients that do nothing.
      close(client);
      worker.metrics_.rejected_connections().Increment();
      continue;
    }
    Upstream* upstream = worker.UpstreamFor(client);
    if (upstream == nullptr) {
      close(client);
      continue;
    }
    const int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto connection =
        std::make_unique<ClientConnection>(worker.base_, client, *upstream, worker.client_env_,
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
