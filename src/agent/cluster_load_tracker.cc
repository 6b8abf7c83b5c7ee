// ClusterLoad resources → per-backend cluster_conns, with this node's share taken off.
#include "skewless/agent/cluster_load_tracker.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace skewless::agent {

void ClusterLoadTracker::OnStreamStart(Clock::time_point now) {
  stream_open_ = true;
  stream_change_ = now;
  updated_this_stream_ = false;
}

void ClusterLoadTracker::OnStreamEnd(Clock::time_point now) {
  if (!stream_open_) return;
  stream_open_ = false;
  stream_change_ = now;
}

absl::Status ClusterLoadTracker::OnClusterLoads(
    const std::vector<skewless::load::v1::ClusterLoad>& updated,
    const std::vector<std::string>& removed, bool full_state, Clock::time_point now) {
  std::vector<std::string> errors;
  std::set<std::string> present;
  // An answer that neither names a load nor drops one we hold is what a control plane
  // without ClusterLoad sends for names it does not know: it confirms nothing.
  bool news = !updated.empty();
  if (full_state) {
    news = news || !loads_.empty();
    loads_.clear();
  }
  for (const std::string& name : removed) news = loads_.erase(name) > 0 || news;
  if (!news) return absl::OkStatus();
  for (const skewless::load::v1::ClusterLoad& load : updated) {
    if (load.cluster_name().empty()) {
      errors.push_back("a ClusterLoad without cluster_name");
      continue;
    }
    if (!present.insert(load.cluster_name()).second) {
      errors.push_back(absl::StrCat("ClusterLoad ", load.cluster_name(), " twice in one response"));
      continue;
    }
    auto& endpoints = loads_[load.cluster_name()];
    endpoints.clear();
    for (const skewless::load::v1::EndpointLoad& endpoint : load.endpoints()) {
      if (endpoint.port() == 0 || endpoint.port() > 65535) {
        errors.push_back(absl::StrCat("ClusterLoad ", load.cluster_name(), ": endpoint ",
                                      endpoint.address(), " has port ", endpoint.port()));
        continue;
      }
      endpoints[{endpoint.address(), endpoint.port()}] = endpoint.connections();
    }
  }
  // The control plane has had this node's latest report for at least the time it took to
  // send it; a sum published before reading it can only lag by one publication.
  included_ = sent_;
  last_update_ = now;
  updated_this_stream_ = true;
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
}

bool ClusterLoadTracker::Fresh(Clock::time_point now) const {
  if (stream_open_ && updated_this_stream_) return true;
  // Closed, or open without an update yet: the figures age from the later of the last
  // update and the stream's last start or end.
  if (!last_update_) return false;
  Clock::time_point since = *last_update_;
  if (stream_change_) since = std::max(since, *stream_change_);
  return now - since < max_age_;
}

std::optional<std::chrono::nanoseconds> ClusterLoadTracker::Age(Clock::time_point now) const {
  if (!last_update_) return std::nullopt;
  return now - *last_update_;
}

std::map<std::uint32_t, std::uint64_t> ClusterLoadTracker::Desired(Clock::time_point now) const {
  std::map<std::uint32_t, std::uint64_t> desired;
  const bool fresh = Fresh(now);
  for (const loadreport::SteeredEndpoint& endpoint : endpoints_) {
    if (endpoint.backend_id == 0) continue;
    std::uint64_t others = 0;
    if (fresh) {
      auto cluster = loads_.find(endpoint.key.cluster);
      if (cluster != loads_.end()) {
        auto load = cluster->second.find({endpoint.key.address, endpoint.key.port});
        if (load != cluster->second.end()) {
          const std::uint64_t own = included_.Of(endpoint.key.cluster, endpoint.backend_id);
          others = load->second > own ? load->second - own : 0;
        }
      }
    }
    // One backend in several clusters (two Services selecting the same pods): each
    // cluster's sum counts every connection to it, so the largest is the truest.
    std::uint64_t& value = desired[endpoint.backend_id];
    value = std::max(value, others);
  }
  return desired;
}

std::map<std::uint32_t, std::uint64_t> ClusterLoadTracker::Plan(Clock::time_point now) {
  std::map<std::uint32_t, std::uint64_t> desired = Desired(now);
  std::map<std::uint32_t, std::uint64_t> writes;
  for (const auto& [id, value] : desired) {
    auto it = written_.find(id);
    if (it == written_.end() || it->second != value) writes[id] = value;
  }
  for (const auto& [id, value] : written_) {
    if (!desired.contains(id)) writes[id] = 0;  // no longer programmed: cleared
  }
  written_ = std::move(desired);
  return writes;
}

std::size_t ClusterLoadTracker::loaded_backends() const {
  return static_cast<std::size_t>(std::count_if(
      written_.begin(), written_.end(), [](const auto& entry) { return entry.second != 0; }));
}

}  // namespace skewless::agent
