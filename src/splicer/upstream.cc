// An upstream: per-stream choice, pooled backend connections, counts for the connect path.
#include "upstream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "skewless/common/log.h"

namespace skewless::splicer {

balance::PeakEwmaOptions SplicerLatencyOptions() {
  return balance::PeakEwmaOptions{
      .decay = std::chrono::seconds(5), .min_sample_weight = 0.05, .max_rise_per_sample = 1.5};
}

Upstream::Upstream(event_base* base, balance::BalanceOptions options, const SplicerLimits& limits,
                   SplicerMetrics& metrics, datapath::LoadCounters* loads, std::uint32_t mark,
                   UpstreamReporting reporting)
    : base_(base),
      limits_(limits),
      metrics_(metrics),
      loads_(loads),
      mark_(mark),
      reporting_(std::move(reporting)),
      balancer_(std::move(options)) {}

Upstream::~Upstream() {
  relays_.clear();
  targets_.clear();
}

absl::Status Upstream::Update(std::vector<UpstreamBackend> backends) {
  std::vector<balance::BackendSpec> specs;
  specs.reserve(backends.size());
  for (const UpstreamBackend& backend : backends) {
    specs.push_back({.address = backend.address,
                     .zone = backend.zone,
                     .weight = static_cast<std::uint16_t>(std::min<std::uint32_t>(
                         std::max<std::uint32_t>(backend.weight, 1), 0xffff)),
                     .draining = backend.draining});
  }
  if (absl::Status status = balancer_.Update(std::chrono::steady_clock::now(), specs);
      !status.ok()) {
    return status;
  }
  for (auto& [address, target] : targets_) target->listed = false;
  for (UpstreamBackend& backend : backends) {
    std::unique_ptr<UpstreamTarget>& target = targets_[backend.address];
    if (target == nullptr) {
      target = std::make_unique<UpstreamTarget>();
      target->metrics = metrics_.ForBackend(backend.address);
    } else if (target->spec.backend_id != backend.backend_id && target->outstanding > 0 &&
               loads_ != nullptr) {
      // The agent renumbered the address while streams run on it: move their count along.
      loads_->AddOutstanding(target->spec.backend_id,
                             -static_cast<std::int64_t>(target->outstanding));
      loads_->AddOutstanding(backend.backend_id, static_cast<std::int64_t>(target->outstanding));
    }
    if (reporting_.load != nullptr && !reporting_.cluster.empty() && target->load == nullptr &&
        target->outstanding == 0) {
      target->load = reporting_.load->For(reporting_.cluster, backend.ip_port.ip.ToString(),
                                          backend.ip_port.port,
                                          reporting_.zones ? backend.zone : std::string());
    }
    target->spec = std::move(backend);
    target->listed = true;
  }
  Prune();
  return absl::OkStatus();
}

void Upstream::Prune() {
  for (auto it = targets_.begin(); it != targets_.end();) {
    UpstreamTarget& target = *it->second;
    if (!target.listed && target.outstanding == 0) {
      // Its connections carry no stream of ours any more; closing them is the removal.
      target.metrics.connections->Add(-static_cast<double>(target.pool.size()));
      if (target.ejected) target.metrics.ejected->Add(-1);
      it = targets_.erase(it);
    } else {
      ++it;
    }
  }
}

void Upstream::PublishEjections(std::uint64_t now_ns, std::uint64_t hold_ns) {
  if (loads_ == nullptr) return;
  for (const balance::BackendStatus& status :
       balancer_.Statuses(std::chrono::steady_clock::now())) {
    if (status.health != balance::Health::kEjected) continue;
    auto target = targets_.find(status.address);
    if (target == targets_.end()) continue;
    loads_->EjectUntil(target->second->spec.backend_id, now_ns + hold_ns);
  }
}

void Upstream::UpdateEjectionMetrics() {
  for (const balance::BackendStatus& status :
       balancer_.Statuses(std::chrono::steady_clock::now())) {
    auto target = targets_.find(status.address);
    if (target == targets_.end()) continue;
    UpstreamTarget& t = *target->second;
    const bool ejected = status.health == balance::Health::kEjected;
    if (ejected == t.ejected) continue;
    t.ejected = ejected;
    t.metrics.ejected->Add(ejected ? 1 : -1);
    if (ejected) t.metrics.ejections->Increment();
  }
}

void Upstream::CountStart(UpstreamTarget& target) {
  ++target.outstanding;
  ++outstanding_;
  target.metrics.outstanding->Add(1);
  if (loads_ != nullptr) loads_->AddOutstanding(target.spec.backend_id, 1);
  if (target.load != nullptr) target.load->Start();
}

void Upstream::CountEnd(UpstreamTarget& target, balance::StreamOutcome outcome) {
  --target.outstanding;
  --outstanding_;
  target.metrics.outstanding->Add(-1);
  if (loads_ != nullptr) loads_->AddOutstanding(target.spec.backend_id, -1);
  if (target.load != nullptr) target.load->End(outcome);
}

int Upstream::ConnectSocket(const UpstreamBackend& backend) {
  const net::SocketAddress to = net::ToSocketAddress(backend.ip_port);
  const int fd = socket(to.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // The mark keeps the data path from sending this socket back to the splicer, should a
  // backend ever be a Service address.
  if (mark_ != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark_, sizeof(mark_)) != 0 &&
      !mark_failed_logged_) {
    mark_failed_logged_ = true;
    log::Warn("splicer: cannot mark backend sockets (needs CAP_NET_ADMIN)",
              {{"mark", absl::StrCat(mark_)}, {"error", std::strerror(errno)}});
  }
  if (connect(fd, to.get(), to.length) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

void Upstream::Forget(H2Connection* connection) {
  for (auto& [address, target] : targets_) {
    auto& pool = target->pool;
    for (auto it = pool.begin(); it != pool.end(); ++it) {
      if (it->get() == connection) {
        pool.erase(it);
        target->metrics.connections->Add(-1);
        return;
      }
    }
  }
}

BackendConnection* Upstream::ConnectionTo(UpstreamTarget& target) {
  for (auto& connection : target.pool) {
    if (connection->HasCapacity()) return connection.get();
  }
  const int fd = ConnectSocket(target.spec);
  if (fd < 0) return nullptr;
  target.metrics.connections->Add(1);
  target.pool.push_back(std::make_unique<BackendConnection>(
      base_, fd, limits_.stream_window_bytes, [this](H2Connection* gone) { Forget(gone); }));
  return target.pool.back().get();
}

bool Upstream::PassThrough(H2Connection& client, std::string first_bytes) {
  const auto now = std::chrono::steady_clock::now();
  const std::optional<balance::Choice> choice = balancer_.Pick(now, random_);
  if (!choice || !balancer_.OnStreamStart(choice->backend, now)) return false;
  const balance::BackendHandle pick = choice->backend;
  UpstreamTarget& target = *targets_.at(*balancer_.address(pick));
  const int fd = ConnectSocket(target.spec);
  if (fd < 0) {
    balancer_.OnStreamEnd(pick, now, {}, balance::StreamOutcome::kConnectFailure);
    return false;
  }
  metrics_.passthroughs().Increment();
  CountStart(target);
  auto relay = std::make_unique<TcpRelay>(
      base_, client.TakeSocket(), std::move(first_bytes), fd,
      RelayTimeouts{.idle = limits_.idle_timeout, .half_close = limits_.half_close_timeout},
      [this](TimeoutKind kind) { metrics_.timeouts(kind).Increment(); },
      [this, pick, &target](TcpRelay* done, bool backend_reached) {
        // A relay's length says nothing of the backend's speed: no latency sample.
        const balance::StreamOutcome outcome = backend_reached
                                                   ? balance::StreamOutcome::kCancelled
                                                   : balance::StreamOutcome::kConnectFailure;
        balancer_.OnStreamEnd(pick, std::chrono::steady_clock::now(), {}, outcome);
        CountEnd(target, outcome);
        relays_.erase(done);
      });
  TcpRelay* key = relay.get();
  relays_[key] = std::move(relay);
  return true;
}

void Upstream::Route(ProxiedStream& stream) {
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
  UpstreamTarget& target = *targets_.at(*balancer_.address(choice->backend));
  stream.target = &target;
  CountStart(target);
  BackendConnection* connection = ConnectionTo(target);
  if (connection == nullptr) {
    stream.client->RetryElsewhere(stream, absl::StrCat("cannot connect to ", target.spec.address),
                                  balance::StreamOutcome::kConnectFailure);
    return;
  }
  if (stream.request_header_bytes > connection->header_list_limit()) {
    // Sent, it would make the pod reset it or close the shared connection: the splicer
    // answers it instead, and the pod is not blamed (RefuseHeaders counts it as cancelled).
    metrics_.rejected_streams(RejectReason::kHeadersTooLarge).Increment();
    stream.client->RefuseHeaders(stream, connection->header_list_limit());
    return;
  }
  // Neither a stream that waits for the connect nor the connection's first (the peer's
  // per-connection setup) says how fast the backend serves.
  stream.timed = connection->connected() && connection->submitted() > 0;
  connection->Submit(stream);
}

namespace {

// What the backend's answer says about its health (balance/stream_outcome.h).
balance::StreamOutcome OutcomeOf(const ProxiedStream& stream) {
  if (stream.failure) return *stream.failure;
  if (!stream.response_seen) return balance::StreamOutcome::kCancelled;  // the client left
  int http_status = 0;
  std::optional<int> grpc_status;
  auto scan = [&](const HeaderBlock& headers) {
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

void Upstream::Reroute(ProxiedStream& stream, balance::StreamOutcome outcome) {
  stream.unreachable_backend = stream.pick;
  metrics_.reroutes().Increment();
  stream.failure = outcome;
  Finished(stream);  // the failed attempt, for the balancer
  stream.failure.reset();
  Route(stream);
}

void Upstream::Finished(ProxiedStream& stream) {
  if (!stream.counted) return;
  stream.counted = false;
  const auto now = std::chrono::steady_clock::now();
  // Latency is time to the response headers: what a peer's speed shows, whatever the
  // call's length (a long stream is not a slow backend).
  const auto latency = !stream.timed          ? std::chrono::nanoseconds::zero()
                       : stream.response_seen ? stream.response_at - stream.started
                                              : now - stream.started;
  const balance::StreamOutcome outcome = OutcomeOf(stream);
  balancer_.OnStreamEnd(stream.pick, now, latency, outcome);
  UpstreamTarget& target = *stream.target;
  CountEnd(target, outcome);
  target.metrics.streams[static_cast<std::size_t>(outcome)]->Increment();
  if (balance::IsFailure(outcome)) UpdateEjectionMetrics();
}

}  // namespace skewless::splicer
