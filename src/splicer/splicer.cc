// Splicer: validates the options, binds every worker on one port, runs their loops.
#include "skewless/splicer/splicer.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "skewless/common/http_server.h"
#include "splicer_metrics.h"
#include "worker.h"

namespace skewless::splicer {
namespace {

absl::StatusOr<ResolvedBackend> Resolve(const SplicerBackend& backend) {
  std::string host;
  int port = 0;
  ResolvedBackend resolved{.spec = backend};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&resolved.address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&resolved.address);
  if (!SplitHostPort(backend.address, &host, &port) || port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("backend \"", backend.address, "\" is not IP:port"));
  }
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    resolved.address_length = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    resolved.address_length = sizeof(*v6);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("backend \"", backend.address, "\": \"", host, "\" is not an IP address"));
  }
  return resolved;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Splicer>> Splicer::Start(const SplicerOptions& options) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(options.listen, &host, &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", options.listen, "\" is not host:port"));
  }
  std::vector<ResolvedBackend> backends;
  for (const SplicerBackend& backend : options.backends) {
    absl::StatusOr<ResolvedBackend> resolved = Resolve(backend);
    if (!resolved.ok()) return resolved.status();
    backends.push_back(*std::move(resolved));
  }
  balance::Backends check({});
  if (absl::Status valid = check.Update(std::chrono::steady_clock::now(), BalanceSpecsOf(backends));
      !valid.ok()) {
    return valid;
  }
  const int workers = options.workers > 0
                          ? options.workers
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::unique_ptr<Splicer> splicer(new Splicer());
  splicer->metrics_ = std::make_unique<SplicerMetrics>(splicer->registry_, options.backends);
  for (int i = 0; i < workers; ++i) {
    auto worker = std::make_unique<Worker>(backends, options.zone, *splicer->metrics_);
    // The first worker may pick the port (0); the others join it.
    absl::StatusOr<int> bound = worker->Listen(host, i == 0 ? port : splicer->port_);
    if (!bound.ok()) return bound.status();
    splicer->port_ = *bound;
    splicer->workers_.push_back(std::move(worker));
  }
  for (auto& worker : splicer->workers_) worker->Start();
  return splicer;
}

Splicer::Splicer() = default;

Splicer::~Splicer() { Stop(); }

void Splicer::Drain(std::chrono::milliseconds grace) {
  for (auto& worker : workers_) worker->BeginDrain();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  auto open = [&] {
    std::size_t clients = 0;
    for (const auto& worker : workers_) clients += worker->clients();
    return clients;
  };
  while (open() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
}

void Splicer::Stop() {
  for (auto& worker : workers_) worker->Stop();
}

}  // namespace skewless::splicer
