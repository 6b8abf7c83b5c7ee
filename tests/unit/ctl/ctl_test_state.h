// Data-path state for skewlessctl's tests, written the way the agent writes it: a real
// ServiceTable over the in-memory maps of tests/support, with a settable clock and loads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fake_steering_maps.h"
#include "gtest/gtest.h"
#include "skewless/ctl/datapath_state.h"
#include "skewless/ctl/zones.h"
#include "skewless/datapath/service_table.h"

namespace skewless::ctl::testing {

inline datapath::Endpoint Ready(const std::string& address, const std::string& zone = "",
                                std::uint16_t weight = SKW_DEFAULT_WEIGHT) {
  return datapath::Endpoint{.address = address, .port = 8080, .zone = zone, .weight = weight};
}

inline datapath::Endpoint Terminating(const std::string& address, const std::string& zone = "") {
  datapath::Endpoint endpoint = Ready(address, zone);
  endpoint.ready = false;
  endpoint.terminating = true;
  return endpoint;
}

class TestNode {
 public:
  explicit TestNode(const std::string& zone = "zone-a", const std::string& node_name = "node-1") {
    EXPECT_TRUE(table_.SetNode({.locality = {.zone = zone, .node_name = node_name}}).ok());
  }

  void Add(const std::string& vip, std::uint16_t port, std::vector<datapath::Endpoint> endpoints,
           datapath::TrafficDistribution distribution = datapath::TrafficDistribution::kNone,
           std::uint32_t slow_start_window_ms = 0,
           datapath::Protocol protocol = datapath::Protocol::kTcp,
           std::uint8_t lb_policy = SKW_LB_LEAST_REQUEST) {
    absl::Status status = table_.Upsert({.name = "test/" + vip,
                                         .vip = vip,
                                         .port = port,
                                         .protocol = protocol,
                                         .traffic_distribution = distribution,
                                         .slow_start_window_ms = slow_start_window_ms,
                                         .lb_policy = lb_policy,
                                         .endpoints = std::move(endpoints)});
    EXPECT_TRUE(status.ok()) << status;
  }

  // What sockops would count for the backend at address:8080.
  void SetActive(const std::string& address, std::uint64_t active_conns) {
    std::optional<std::uint32_t> id = table_.BackendId(address, 8080);
    ASSERT_TRUE(id.has_value()) << address;
    active_[*id] = active_conns;
  }

  // What the agent would write from the cluster-wide load for the backend at address:8080.
  void SetClusterConns(const std::string& address, std::uint64_t cluster_conns) {
    std::optional<std::uint32_t> id = table_.BackendId(address, 8080);
    ASSERT_TRUE(id.has_value()) << address;
    cluster_[*id] = cluster_conns;
  }

  std::uint32_t IdOf(const std::string& address) const {
    return table_.BackendId(address, 8080).value_or(0);
  }

  void AdvanceClock(std::uint64_t ns) { now_ns_ += ns; }
  datapath::testing::FakeMaps& maps() { return maps_; }

  DatapathState State() const {
    DatapathState state{.pin_dir = "/test/pins"};
    state.maps = *maps_.Read();
    for (const auto& [id, backend] : state.maps.backends) {
      auto active = active_.find(id);
      auto others = cluster_.find(id);
      state.loads[id] =
          skw_backend_load{.active_conns = active == active_.end() ? 0 : active->second,
                           .total_conns = 0,
                           .cluster_conns = others == cluster_.end() ? 0 : others->second};
    }
    state.now_ns = now_ns_;
    return state;
  }

  ZoneNames Zones() const {
    ZoneNames zones{.source = "test"};
    for (const auto& [name, id] : table_.zone_ids()) {
      if (id != 0) zones.by_id[id] = name;
    }
    return zones;
  }

 private:
  datapath::testing::FakeMaps maps_;
  std::uint64_t now_ns_ = 1'000'000'000'000;
  std::map<std::uint32_t, std::uint64_t> active_;
  std::map<std::uint32_t, std::uint64_t> cluster_;  // other nodes' connections
  datapath::ServiceTable table_{maps_, [this] { return now_ns_; }};
};

}  // namespace skewless::ctl::testing
