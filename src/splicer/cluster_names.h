// The cluster names of the Services the agent steers, by VIP and port: the pinned maps hold
// addresses only, and a load report must name a cluster as the control plane serves it
// ("namespace/service:port"). Read from the node agent's /debug/clusters on a thread of its
// own, so a slow or absent agent delays no stream; until a name is known, that Service's
// load is not reported.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "skewless/abi.h"

namespace skewless::splicer {

// (canonical VIP text, port) → cluster name.
using ClusterNameMap = std::map<std::pair<std::string, std::uint16_t>, std::string>;

// Parses /debug/clusters: {"clusters": [{"name": ..., "vips": [...], "port": N}]}. Errors
// say what is malformed.
absl::StatusOr<ClusterNameMap> ParseAgentClusters(std::string_view json);

class ClusterNames {
 public:
  // `agent_url`: http://host:port of the agent. Reads it at once and every `interval`.
  ClusterNames(std::string agent_url, std::chrono::milliseconds interval);
  ~ClusterNames();  // stops
  ClusterNames(const ClusterNames&) = delete;
  ClusterNames& operator=(const ClusterNames&) = delete;

  // The cluster at `vip`:`port` (network order), "" when the agent has not named it.
  // Thread-safe.
  std::string Lookup(const skw_addr& vip, std::uint16_t port_network_order) const;

 private:
  void Run();
  const std::string agent_url_;
  const std::chrono::milliseconds interval_;
  mutable std::mutex mutex_;  // guards names_ and stopping_
  ClusterNameMap names_;
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace skewless::splicer
