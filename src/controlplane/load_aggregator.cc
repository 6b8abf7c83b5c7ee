// Per-reporter LRS load, replaced per report, expired when silent, summed per endpoint.
#include "skewless/controlplane/load_aggregator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "skewless/common/net.h"

namespace skewless::controlplane {

void LoadAggregator::SetCatalog(LoadCatalog catalog) {
  std::lock_guard lock(mutex_);
  catalog_ = std::move(catalog);
  ++changes_;
}

absl::StatusOr<ReportOutcome> LoadAggregator::Report(
    std::uint64_t stream_id, std::string_view node_id, ReporterKind kind,
    const envoy::service::load_stats::v3::LoadStatsRequest& request, Clock::time_point now,
    const std::function<bool(std::string_view cluster)>& allowed) {
  // Sized before anything is parsed or stored, so a huge report costs one pass.
  std::size_t entries = 0;
  for (const auto& cluster : request.cluster_stats()) {
    for (const auto& locality : cluster.upstream_locality_stats()) {
      entries += static_cast<std::size_t>(locality.upstream_endpoint_stats_size());
    }
  }
  if (entries > limits_.max_endpoints_per_report) {
    return absl::ResourceExhaustedError(
        absl::StrCat(std::string(kLimitEndpointsPerReport), ": the load report names ", entries,
                     " endpoints, more than ", limits_.max_endpoints_per_report,
                     " (--lrs-max-endpoints-per-report)"));
  }

  ReportOutcome outcome;
  Reporter fresh;
  fresh.node_id = std::string(node_id);
  fresh.kind = kind;
  fresh.last_report = now;
  std::lock_guard lock(mutex_);
  if (!reporters_.contains(stream_id) && reporters_.size() >= limits_.max_reporters) {
    return absl::ResourceExhaustedError(absl::StrCat(std::string(kLimitReporters), ": already ",
                                                     reporters_.size(),
                                                     " reporters, the most tracked at once "
                                                     "(--lrs-max-reporters)"));
  }
  for (const auto& cluster : request.cluster_stats()) {
    const auto served = catalog_.find(cluster.cluster_name());
    const bool known = served != catalog_.end() && (!allowed || allowed(cluster.cluster_name()));
    for (const auto& locality : cluster.upstream_locality_stats()) {
      if (locality.upstream_endpoint_stats().empty()) {
        // gRPC reports per locality only: nothing to say which pod is busy.
        if (known) ++outcome.locality_only;
        continue;
      }
      if (!known) {
        outcome.unknown_cluster +=
            static_cast<std::size_t>(locality.upstream_endpoint_stats_size());
        continue;
      }
      for (const auto& stats : locality.upstream_endpoint_stats()) {
        const auto& socket = stats.address().socket_address();
        absl::StatusOr<std::string> ip =
            net::CanonicalIp(socket.address(), net::V4Mapped::kReadAsIpv4);
        if (!stats.address().has_socket_address() || !ip.ok()) {
          ++outcome.invalid_address;
          continue;
        }
        EndpointKey key{*std::move(ip), socket.port_value()};
        if (!served->second.contains(key)) {
          ++outcome.unknown_endpoint;
          continue;
        }
        // An endpoint named twice (in two localities) adds up, to the bound in all.
        std::uint64_t& value = fresh.load[cluster.cluster_name()][key];
        const std::uint64_t room = limits_.max_per_endpoint - value;
        if (stats.total_requests_in_progress() > room) {
          value = limits_.max_per_endpoint;
          ++outcome.clamped;
        } else {
          value += stats.total_requests_in_progress();
        }
        ++outcome.endpoints;
        if (kind == ReporterKind::kRequests &&
            (stats.total_issued_requests() | stats.total_successful_requests() |
             stats.total_error_requests()) != 0) {
          RequestCounts& counts = outcome.requests[cluster.cluster_name()];
          counts.issued += stats.total_issued_requests();
          counts.successful += stats.total_successful_requests();
          counts.errors += stats.total_error_requests();
        }
      }
    }
  }
  // Heartbeats mostly repeat the previous report: counting them as changes would make the
  // publisher sum every reporter's entries each round for nothing, a cost that grows with
  // the cluster however quiet it is.
  auto previous = reporters_.find(stream_id);
  if (previous == reporters_.end()) {
    reporters_.emplace(stream_id, std::move(fresh));
    ++changes_;
  } else {
    const bool same = previous->second.kind == fresh.kind && previous->second.load == fresh.load;
    previous->second = std::move(fresh);
    if (!same) ++changes_;
  }
  return outcome;
}

void LoadAggregator::Remove(std::uint64_t stream_id) {
  std::lock_guard lock(mutex_);
  if (reporters_.erase(stream_id) > 0) ++changes_;
}

std::size_t LoadAggregator::Expire(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const std::size_t expired = std::erase_if(reporters_, [&](const auto& entry) {
    return now - entry.second.last_report > limits_.expiry;
  });
  if (expired > 0) ++changes_;
  return expired;
}

std::map<std::string, skewless::load::v1::ClusterLoad> LoadAggregator::Sums() const {
  struct Sum {
    std::uint64_t connections = 0;
    std::uint64_t requests = 0;
    std::uint32_t reporters = 0;
  };
  std::map<std::string, std::map<EndpointKey, Sum>, std::less<>> sums;
  std::lock_guard lock(mutex_);
  for (const auto& [stream_id, reporter] : reporters_) {
    for (const auto& [cluster, endpoints] : reporter.load) {
      const auto served = catalog_.find(cluster);
      if (served == catalog_.end()) continue;
      for (const auto& [key, value] : endpoints) {
        if (!served->second.contains(key)) continue;
        Sum& sum = sums[cluster][key];
        (reporter.kind == ReporterKind::kConnections ? sum.connections : sum.requests) += value;
        ++sum.reporters;
      }
    }
  }
  std::map<std::string, skewless::load::v1::ClusterLoad> loads;
  for (const auto& [cluster, endpoints] : sums) {
    skewless::load::v1::ClusterLoad& load = loads[cluster];
    load.set_cluster_name(cluster);
    for (const auto& [key, sum] : endpoints) {
      skewless::load::v1::EndpointLoad* endpoint = load.add_endpoints();
      endpoint->set_address(key.first);
      endpoint->set_port(key.second);
      endpoint->set_connections(sum.connections);
      endpoint->set_requests_in_progress(sum.requests);
      endpoint->set_reporters(sum.reporters);
    }
  }
  return loads;
}

std::uint64_t LoadAggregator::changes() const {
  std::lock_guard lock(mutex_);
  return changes_;
}

std::size_t LoadAggregator::reporters() const {
  std::lock_guard lock(mutex_);
  return reporters_.size();
}

}  // namespace skewless::controlplane
