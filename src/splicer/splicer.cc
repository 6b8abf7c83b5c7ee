// Splicer: validates the options, binds every worker on one port, runs their loops.
#include "skewless/splicer/splicer.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "cluster_names.h"
#include "lease_keeper.h"
#include "proxied_stream.h"
#include "skewless/common/net.h"
#include "skewless/loadreport/control_plane_call.h"
#include "splicer_load.h"
#include "splicer_metrics.h"
#include "worker.h"

namespace skewless::splicer {
namespace {

// Renewed twice a second for two seconds ahead: a splicer that crashed stops being sent
// connects within 2 s; a renewal may be late by 1.5 s (a stalled machine) before it lapses.
constexpr std::chrono::milliseconds kLeaseRenewal{500};
constexpr std::chrono::milliseconds kLease{2000};
constexpr std::chrono::milliseconds kLeaseReleaseGrace{50};
// How often the agent's cluster names are read: a new Service's load is reported this long
// after the agent steers it, at most.
constexpr std::chrono::milliseconds kClusterNamesRefresh{2000};

// The limits must leave room for one stream's worth in every budget; errors name the flag.
absl::Status CheckLimits(const SplicerLimits& limits) {
  constexpr std::uint32_t kMinWindow = 1 << 10;
  constexpr std::uint32_t kMaxWindow = (1u << 31) - 1;  // RFC 9113 §6.9.2
  if (limits.stream_window_bytes < kMinWindow || limits.stream_window_bytes > kMaxWindow) {
    return absl::InvalidArgumentError(absl::StrCat("--stream-window-bytes ",
                                                   limits.stream_window_bytes, " must be from ",
                                                   kMinWindow, " to ", kMaxWindow));
  }
  if (limits.max_request_headers_bytes < 1024 ||
      limits.max_request_headers_bytes > kMaxHeaderListBytes) {
    return absl::InvalidArgumentError(absl::StrCat("--max-request-headers-bytes ",
                                                   limits.max_request_headers_bytes,
                                                   " must be from 1024 to ", kMaxHeaderListBytes));
  }
  // One stream may hold its window each way, its headers and its replay copy.
  const std::size_t one_stream = 2 * std::size_t{limits.stream_window_bytes} +
                                 limits.max_request_headers_bytes + kMaxHeaderListBytes +
                                 kReplayLimitBytes;
  if (limits.connection_buffer_bytes < one_stream) {
    return absl::InvalidArgumentError(
        absl::StrCat("--connection-buffer-bytes ", limits.connection_buffer_bytes,
                     " is below what one stream may hold (", one_stream,
                     ": twice --stream-window-bytes, the header lists and a 64 KiB replay copy)"));
  }
  if (limits.worker_buffer_bytes < limits.connection_buffer_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--worker-buffer-bytes ", limits.worker_buffer_bytes,
                     " is below --connection-buffer-bytes ", limits.connection_buffer_bytes));
  }
  if (limits.max_streams_per_connection == 0 || limits.max_connections_per_worker == 0) {
    return absl::InvalidArgumentError(
        "--max-streams-per-connection and --max-connections-per-worker must be at least 1");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Splicer>> Splicer::Start(const SplicerOptions& options) {
  absl::StatusOr<net::IpPort> listen_on = net::ParseIpPort(options.listen);
  if (!listen_on.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address: ", listen_on.status().message(), " (want IP:port)"));
  }
  if (absl::Status limits = CheckLimits(options.limits); !limits.ok()) return limits;
  std::unique_ptr<Splicer> splicer(new Splicer());
  splicer->setup_ = std::make_unique<WorkerSetup>();
  WorkerSetup& setup = *splicer->setup_;
  std::vector<balance::BackendSpec> specs;
  for (const SplicerBackend& backend : options.backends) {
    absl::StatusOr<net::IpPort> ip_port = net::ParseIpPort(backend.address);
    if (ip_port.ok() && ip_port->port == 0) ip_port = absl::InvalidArgumentError("port 0");
    if (!ip_port.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("backend \"", backend.address, "\": ", ip_port.status().message()));
    }
    specs.push_back({.address = backend.address});
    setup.static_backends.push_back(UpstreamBackend{.address = backend.address,
                                                    .zone = backend.zone,
                                                    .weight = backend.weight,
                                                    .ip_port = *ip_port});
  }
  balance::Backends check({});
  if (absl::Status valid = check.Update(std::chrono::steady_clock::now(), specs); !valid.ok()) {
    return valid;
  }
  std::unique_ptr<datapath::SplicerLease> lease;
  setup.zone = options.zone;
  setup.mark = options.mark;
  setup.refresh = options.refresh;
  setup.limits = options.limits;
  if (options.load_reporting) {
    if (options.load_reporting->servers.empty()) {
      return absl::InvalidArgumentError("load reporting needs a control-plane address");
    }
    splicer->load_ = std::make_unique<SplicerLoad>();
    setup.load = splicer->load_.get();
    setup.backend_cluster = options.backend_cluster;
    if (!options.pin_dir.empty()) {
      splicer->cluster_names_ =
          std::make_unique<ClusterNames>(options.agent_url, kClusterNamesRefresh);
      setup.cluster_of = [names = splicer->cluster_names_.get()](const skw_addr& vip,
                                                                 std::uint16_t port) {
        return names->Lookup(vip, port);
      };
    }
  }
  if (!options.pin_dir.empty()) {
    absl::StatusOr<std::unique_ptr<datapath::PinnedServices>> services =
        datapath::PinnedServices::Open(options.pin_dir);
    if (!services.ok()) return services.status();
    absl::StatusOr<std::unique_ptr<datapath::LoadCounters>> loads =
        datapath::LoadCounters::Open(options.pin_dir);
    if (!loads.ok()) return loads.status();
    absl::StatusOr<std::unique_ptr<datapath::SplicerLease>> opened =
        datapath::SplicerLease::Open(options.pin_dir);
    if (!opened.ok()) return opened.status();
    lease = *std::move(opened);
    splicer->services_ = *std::move(services);
    splicer->loads_ = *std::move(loads);
    // One splicer per node: whatever an earlier one counted and never took back (it
    // crashed) must not weigh on connects.
    absl::StatusOr<std::vector<std::uint32_t>> ids = splicer->services_->BackendIds();
    if (!ids.ok()) return ids.status();
    for (std::uint32_t id : *ids) splicer->loads_->ResetOutstanding(id);
    setup.services = splicer->services_.get();
    setup.loads = splicer->loads_.get();
  }
  const int workers = options.workers > 0
                          ? options.workers
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  splicer->metrics_ = std::make_unique<SplicerMetrics>(splicer->registry_);
  splicer->metrics_->SetLimits(options.limits, workers);
  for (int i = 0; i < workers; ++i) {
    auto worker = std::make_unique<Worker>(setup, *splicer->metrics_);
    // The first worker may pick the port (0); the others join it.
    absl::StatusOr<int> bound = worker->Listen(
        {.ip = listen_on->ip,
         .port = i == 0 ? listen_on->port : static_cast<std::uint16_t>(splicer->port_)});
    if (!bound.ok()) return bound.status();
    splicer->port_ = *bound;
    splicer->workers_.push_back(std::move(worker));
  }
  for (auto& worker : splicer->workers_) worker->Start();
  if (options.load_reporting) {
    loadreport::LrsClientOptions lrs = *options.load_reporting;
    lrs.user_agent = loadreport::kSplicerUserAgent;
    lrs.metric_prefix = "skewless_splicer";
    // Streams are the splicer's own from its start: an endpoint's first ones count.
    lrs.report = {.unit = loadreport::LoadUnit::kRequests, .counters_start_at_zero = true};
    splicer->lrs_ = std::make_unique<loadreport::LrsClient>(std::move(lrs), *splicer->load_,
                                                            splicer->registry_);
    splicer->lrs_->Start();
  }
  if (lease) {
    splicer->lease_ = std::make_unique<LeaseKeeper>(std::move(lease), kLeaseRenewal, kLease);
  }
  return splicer;
}

Splicer::Splicer() = default;

Splicer::~Splicer() {
  Stop();
  workers_.clear();  // before the setup, maps and ledger they use
}

void Splicer::Drain(std::chrono::milliseconds grace) {
  if (lease_) {
    lease_->Release();
    // A connect that passed the hook just before finds the listener still open.
    std::this_thread::sleep_for(kLeaseReleaseGrace);
  }
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
  if (lease_) lease_->Release();
  if (lrs_) lrs_->Stop();
  for (auto& worker : workers_) worker->Stop();
}

}  // namespace skewless::splicer
