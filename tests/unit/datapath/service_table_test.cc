// The service table against in-memory maps: write order, diffing, ids, recovery.
#include "skewless/datapath/service_table.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fake_steering_maps.h"  // tests/support
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::datapath {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using testing::FakeMaps;

Endpoint Ready(std::string address, std::string zone = "") {
  return Endpoint{.address = std::move(address), .port = 8080, .zone = std::move(zone)};
}

Endpoint Terminating(std::string address) {
  Endpoint endpoint = Ready(std::move(address));
  endpoint.ready = false;
  endpoint.terminating = true;
  return endpoint;
}

ServiceSpec Service(std::string vip, std::vector<Endpoint> endpoints) {
  return ServiceSpec{.name = "default/" + vip,
                     .vip = std::move(vip),
                     .port = 80,
                     .endpoints = std::move(endpoints)};
}

class ServiceTableTest : public ::testing::Test {
 protected:
  std::uint64_t now_ns_ = 1000;
  FakeMaps maps_;
  ServiceTable table_{maps_, [this] { return now_ns_; }};
};

TEST_F(ServiceTableTest, WritesBackendsThenTheSetThenTheService) {
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.1"), Ready("10.0.0.2")})}).ok());
  EXPECT_THAT(maps_.log, ElementsAre("backend+1", "backend+2", "set=1", "service+1"));
  const std::vector<skw_slot>& slots = maps_.sets.at(1);
  ASSERT_EQ(slots.size(), 3u);
  EXPECT_EQ(slots[0].backend_id, 0u);
  EXPECT_EQ(slots[0].n_ready, 2);
  EXPECT_EQ(slots[1].backend_id, 1u);
  EXPECT_EQ(slots[2].backend_id, 2u);
  const skw_backend& backend = maps_.backends.at(1);
  EXPECT_EQ(backend.port, htons(8080));
  EXPECT_EQ(backend.state, SKW_BACKEND_READY);
  EXPECT_EQ(backend.weight, SKW_DEFAULT_WEIGHT);
  EXPECT_EQ(backend.addr.words[3], inet_addr("10.0.0.1"));
  const auto& [key, service] = maps_.services.begin()->second;
  EXPECT_EQ(key.port, htons(80));
  EXPECT_EQ(key.proto, IPPROTO_TCP);
  EXPECT_EQ(key.vip.words[2], htonl(0xffff));
  EXPECT_EQ(service.service_id, 1u);
  EXPECT_EQ(service.flags, 0u);
}

TEST_F(ServiceTableTest, AnHttp2PortIsFlaggedForTheSplicerTheNodeNames) {
  ServiceSpec grpc = Service("10.96.0.1", {Ready("10.0.0.1")});
  grpc.splice = true;
  ASSERT_TRUE(table_.Apply({grpc, Service("10.96.0.2", {Ready("10.0.0.2")})}).ok());
  std::map<std::uint32_t, std::uint32_t> flags_by_vip;
  for (const auto& [id, entry] : maps_.services) {
    flags_by_vip[ntohl(entry.first.vip.words[3])] = entry.second.flags;
  }
  EXPECT_EQ(flags_by_vip.at(ntohl(inet_addr("10.96.0.1"))), std::uint32_t{SKW_SVC_F_SPLICE});
  EXPECT_EQ(flags_by_vip.at(ntohl(inet_addr("10.96.0.2"))), 0u);

  ASSERT_TRUE(table_.SetNode({.splicer_address = "10.0.0.9:15001", .splicer_mark = 0x5c}).ok());
  EXPECT_EQ(maps_.node.splicer_addr.words[3], inet_addr("10.0.0.9"));
  EXPECT_EQ(maps_.node.splicer_addr.words[2], htonl(0xffff));
  EXPECT_EQ(maps_.node.splicer_port, htons(15001));
  EXPECT_EQ(maps_.node.splicer_mark, 0x5cu);
  ASSERT_TRUE(table_.SetNode({}).ok());
  EXPECT_EQ(maps_.node.splicer_port, 0) << "no splicer named: none in the map";

  absl::Status bad = table_.SetNode({.splicer_address = "splicer:15001"});
  EXPECT_THAT(std::string(bad.message()), HasSubstr("splicer address \"splicer:15001\""));
}

TEST_F(ServiceTableTest, ReapplyingTheSameStateWritesNothing) {
  const std::vector<ServiceSpec> desired = {
      Service("10.96.0.1", {Ready("10.0.0.1", "a"), Ready("10.0.0.2", "b")}),
      Service("fd00::1", {Ready("fd00::10"), Terminating("fd00::11")})};
  ASSERT_TRUE(table_.Apply(desired).ok());
  const std::uint64_t writes = table_.write_counts().total();
  EXPECT_EQ(table_.write_counts().set_swap_batches, 1u);
  ASSERT_TRUE(table_.Apply(desired).ok());
  EXPECT_EQ(table_.write_counts().total(), writes);
  ASSERT_TRUE(table_.Upsert(desired[0]).ok());
  EXPECT_EQ(table_.write_counts().total(), writes);
}

TEST_F(ServiceTableTest, BackendIdsListTheListedAndThosePendingDelete) {
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.1"), Ready("10.0.0.2")})}).ok());
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.2")})}).ok());
  std::vector<std::uint32_t> ids = table_.BackendIds();
  std::sort(ids.begin(), ids.end());
  EXPECT_THAT(ids, ElementsAre(1, 2));  // 10.0.0.1 still in its grace
  now_ns_ += ServiceTable::kBackendDeleteGraceNs;
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.2")})}).ok());
  EXPECT_THAT(table_.BackendIds(), ElementsAre(*table_.BackendId("10.0.0.2", 8080)));
}

TEST_F(ServiceTableTest, EndpointOrderDoesNotMatter) {
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.1"), Ready("10.0.0.2")})}).ok());
  const std::uint64_t writes = table_.write_counts().total();
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.2"), Ready("10.0.0.1")})}).ok());
  EXPECT_EQ(table_.write_counts().total(), writes);
}

TEST_F(ServiceTableTest, ADroppedBackendIsDeletedOnlyAfterTheNewSetIsSwappedInAndItsGraceEnds) {
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.1"), Ready("10.0.0.2")})}).ok());
  maps_.log.clear();
  const std::vector<ServiceSpec> desired = {
      Service("10.96.0.1", {Ready("10.0.0.2"), Ready("10.0.0.3")})};
  ASSERT_TRUE(table_.Apply(desired).ok());
  EXPECT_THAT(maps_.log, ElementsAre("backend+3", "set=1"));
  EXPECT_EQ(table_.pending_backend_deletes(), 1u);
  now_ns_ += ServiceTable::kBackendDeleteGraceNs - 1;
  ASSERT_TRUE(table_.Apply(desired).ok());
  EXPECT_TRUE(maps_.backends.contains(1)) << "deleted before its grace ended";
  now_ns_ += 1;
  ASSERT_TRUE(table_.Apply(desired).ok());
  EXPECT_THAT(maps_.log, ElementsAre("backend+3", "set=1", "backend-1"));
  EXPECT_EQ(table_.pending_backend_deletes(), 0u);
  EXPECT_EQ(table_.write_counts().set_swaps, 2u);
  EXPECT_EQ(table_.write_counts().service_writes, 1u);
}

TEST_F(ServiceTableTest, ABackendListedAgainWithinItsGraceKeepsItsIdAndIsNotRewritten) {
  const ServiceSpec a = Service("10.96.0.1", {Ready("10.0.0.1")});
  const ServiceSpec b = Service("10.96.0.1", {Ready("10.0.0.2")});
  ASSERT_TRUE(table_.Apply({a}).ok());
  ASSERT_TRUE(table_.Upsert(b).ok());
  maps_.log.clear();
  ASSERT_TRUE(table_.Upsert(a).ok());
  EXPECT_THAT(maps_.log, ElementsAre("set=1"));
  EXPECT_EQ(table_.BackendId("10.0.0.1", 8080), 1u);
  EXPECT_EQ(table_.BackendId("10.0.0.2", 8080), std::nullopt);
  EXPECT_EQ(table_.pending_backend_deletes(), 1u);
}

TEST_F(ServiceTableTest, RemovalGoesServiceThenSetThenBackendsAfterTheirGrace) {
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.1")})}).ok());
  maps_.log.clear();
  ASSERT_TRUE(table_.Apply({}).ok());
  now_ns_ += ServiceTable::kBackendDeleteGraceNs;
  ASSERT_TRUE(table_.Apply({}).ok());
  EXPECT_THAT(maps_.log, ElementsAre("service-", "set-1", "backend-1"));
  EXPECT_TRUE(maps_.services.empty());
  EXPECT_TRUE(maps_.sets.empty());
  EXPECT_TRUE(maps_.backends.empty());
}

// 1. every backend a new set references, 2. all changed sets in one batch,
// 3. service entries, 4. removed services' entries, then their sets in one
// batch, 5. (after the grace) backends no set references.
TEST_F(ServiceTableTest, ApplyOfManyServicesKeepsTheOrderAcrossTheWholeBatch) {
  std::vector<ServiceSpec> old_services;
  for (int i = 0; i < 3; ++i) {
    old_services.push_back(
        Service(absl::StrCat("10.96.1.", i), {Ready(absl::StrCat("10.1.0.", i))}));
  }
  ASSERT_TRUE(table_.Apply(old_services).ok());
  maps_.log.clear();
  std::vector<ServiceSpec> new_services;
  for (int i = 0; i < 100; ++i) {
    new_services.push_back(
        Service(absl::StrCat("10.96.0.", i), {Ready(absl::StrCat("10.0.0.", i))}));
  }
  const MapWriteCounts before = table_.write_counts();
  ASSERT_TRUE(table_.Apply(new_services).ok());
  now_ns_ += ServiceTable::kBackendDeleteGraceNs;
  ASSERT_TRUE(table_.Apply(new_services).ok());

  EXPECT_EQ(table_.write_counts().set_swap_batches - before.set_swap_batches, 1u);
  EXPECT_EQ(table_.write_counts().set_swaps - before.set_swaps, 100u);
  std::vector<std::string> kinds;  // the log with ids dropped, runs merged
  for (const std::string& entry : maps_.log) {
    const std::string kind = entry.substr(0, entry.find_first_of("=+-") + 1);
    if (kinds.empty() || kinds.back() != kind) kinds.push_back(kind);
  }
  EXPECT_THAT(kinds, ElementsAre("backend+", "set=", "service+", "service-", "set-", "backend-"));
  EXPECT_EQ(std::count(maps_.log.begin(), maps_.log.end(), "set-4,5,6") +
                std::count(maps_.log.begin(), maps_.log.end(), "set-1,2,3"),
            1);
  EXPECT_EQ(maps_.services.size(), 100u);
  EXPECT_EQ(maps_.sets.size(), 100u);
  EXPECT_EQ(maps_.backends.size(), 100u);
}

TEST_F(ServiceTableTest, ChangeTouchesOnlyTheNamedServicesInOneBatch) {
  std::vector<ServiceSpec> services;
  for (int i = 0; i < 4; ++i) {
    services.push_back(Service(absl::StrCat("10.96.0.", i), {Ready(absl::StrCat("10.0.0.", i))}));
  }
  ASSERT_TRUE(table_.Apply(services).ok());
  const MapWriteCounts before = table_.write_counts();
  // Two services move to new pods, one goes, one is left alone.
  ServiceSpec moved0 = Service("10.96.0.0", {Ready("10.0.1.0")});
  ServiceSpec moved1 = Service("10.96.0.1", {Ready("10.0.1.1")});
  ASSERT_TRUE(table_.Change({moved0, moved1}, {{.vip = "10.96.0.2", .port = 80}}).ok());
  EXPECT_EQ(table_.write_counts().set_swap_batches - before.set_swap_batches, 1u);
  EXPECT_EQ(table_.write_counts().set_swaps - before.set_swaps, 2u);
  EXPECT_EQ(table_.write_counts().service_deletes - before.service_deletes, 1u);
  EXPECT_EQ(table_.service_count(), 3u);
  EXPECT_TRUE(table_.ServiceId("10.96.0.3", 80, Protocol::kTcp).has_value());
  EXPECT_FALSE(table_.ServiceId("10.96.0.2", 80, Protocol::kTcp).has_value());
  EXPECT_TRUE(table_.BackendId("10.0.1.0", 8080).has_value());
  // Nothing changed: nothing written. An invalid upsert writes nothing and is named.
  const MapWriteCounts settled = table_.write_counts();
  ASSERT_TRUE(table_.Change({moved0}, {{.vip = "10.96.0.2", .port = 80}}).ok());
  EXPECT_EQ(table_.write_counts().total(), settled.total());
  absl::Status bad = table_.Change({Service("10.96.0.9", {Ready("10.0.9.x")})},
                                   {{.vip = "10.96.0.3", .port = 80}});
  EXPECT_THAT(std::string(bad.message()), HasSubstr("10.0.9.x"));
  EXPECT_TRUE(table_.ServiceId("10.96.0.3", 80, Protocol::kTcp).has_value());
}

TEST_F(ServiceTableTest, BackendIdsAreStablePerAddressAndPortAndNotReusedAtOnce) {
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.1"), Ready("10.0.0.2")})}).ok());
  EXPECT_EQ(table_.BackendId("10.0.0.1", 8080), 1u);
  EXPECT_EQ(table_.BackendId("10.0.0.2", 8080), 2u);
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.2"), Ready("10.0.0.3")})}).ok());
  EXPECT_EQ(table_.BackendId("10.0.0.1", 8080), std::nullopt);
  EXPECT_EQ(table_.BackendId("10.0.0.2", 8080), 2u);
  EXPECT_EQ(table_.BackendId("10.0.0.3", 8080), 3u);
}

TEST_F(ServiceTableTest, ANotReadyEndpointKeepsItsIdButLeavesTheSet) {
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.1"), Ready("10.0.0.2")})}).ok());
  Endpoint down = Ready("10.0.0.1");
  down.ready = false;
  down.serving = false;
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {down, Ready("10.0.0.2")})}).ok());
  EXPECT_EQ(table_.BackendId("10.0.0.1", 8080), 1u);
  EXPECT_EQ(maps_.backends.at(1).state, SKW_BACKEND_UNUSED);
  ASSERT_EQ(maps_.sets.at(1).size(), 2u);
  EXPECT_EQ(maps_.sets.at(1)[1].backend_id, 2u);
}

TEST_F(ServiceTableTest, ReadySinceIsSetWhenABackendBecomesReadyAndKeptWhileItStays) {
  now_ns_ = 5000;
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.1")})}).ok());
  EXPECT_EQ(maps_.backends.at(1).ready_since_ns, 5000u);
  now_ns_ = 6000;
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.1"), Ready("10.0.0.2")})}).ok());
  EXPECT_EQ(maps_.backends.at(1).ready_since_ns, 5000u);
  EXPECT_EQ(maps_.backends.at(2).ready_since_ns, 6000u);
  now_ns_ = 7000;
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Terminating("10.0.0.1")})}).ok());
  EXPECT_EQ(maps_.backends.at(1).state, SKW_BACKEND_SERVING);
  EXPECT_EQ(maps_.backends.at(1).ready_since_ns, 0u);
  now_ns_ = 8000;
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {Ready("10.0.0.1")})}).ok());
  EXPECT_EQ(maps_.backends.at(1).ready_since_ns, 8000u);
}

TEST_F(ServiceTableTest, TrafficDistributionSetsPreferLocalAndTheTiers) {
  ASSERT_TRUE(
      table_.SetNode(NodeConfig{.locality = {.zone = "zone-a", .node_name = "node-1"}}).ok());
  ServiceSpec spec =
      Service("10.96.0.1", {Ready("10.0.0.1", "zone-b"), Ready("10.0.0.2", "zone-a")});
  spec.traffic_distribution = TrafficDistribution::kPreferClose;
  spec.slow_start_window_ms = 30000;
  ASSERT_TRUE(table_.Apply({spec}).ok());
  const skw_service& service = maps_.services.begin()->second.second;
  EXPECT_EQ(service.flags, SKW_SVC_F_PREFER_LOCAL);
  EXPECT_EQ(service.slow_start_window_ms, 30000u);
  const std::vector<skw_slot>& slots = maps_.sets.at(service.service_id);
  EXPECT_EQ(slots[0].n_preferred, 1);
  EXPECT_EQ(slots[1].backend_id, *table_.BackendId("10.0.0.2", 8080));
  EXPECT_EQ(maps_.node.zone_id, 1);
  EXPECT_EQ(maps_.backends.at(slots[1].backend_id).zone_id, 1);
  EXPECT_EQ(maps_.backends.at(slots[2].backend_id).zone_id, 2);
}

TEST_F(ServiceTableTest, MovingTheNodeToAnotherZoneReTiersEverySet) {
  ASSERT_TRUE(table_.SetNode(NodeConfig{.locality = {.zone = "zone-a", .node_name = ""}}).ok());
  ServiceSpec spec =
      Service("10.96.0.1", {Ready("10.0.0.1", "zone-b"), Ready("10.0.0.2", "zone-a")});
  spec.traffic_distribution = TrafficDistribution::kPreferSameZone;
  ASSERT_TRUE(table_.Apply({spec}).ok());
  ASSERT_TRUE(table_.SetNode(NodeConfig{.locality = {.zone = "zone-b", .node_name = ""}}).ok());
  const std::vector<skw_slot>& slots = maps_.sets.at(1);
  EXPECT_EQ(slots[0].n_preferred, 1);
  EXPECT_EQ(slots[1].backend_id, *table_.BackendId("10.0.0.1", 8080));
  const std::uint64_t writes = table_.write_counts().total();
  ASSERT_TRUE(table_.SetNode(NodeConfig{.locality = {.zone = "zone-b", .node_name = ""}}).ok());
  EXPECT_EQ(table_.write_counts().total(), writes);
}

TEST_F(ServiceTableTest, AMovedNodeGetsTheSetsAFreshTableWouldWrite) {
  // The table keeps its specs compactly to rebuild them: every field that shapes a set
  // must survive, so the rebuilt maps equal those of a table that started at the new place.
  Endpoint same_node = Ready("10.0.0.1", "zone-a");
  same_node.node_name = "node-2";
  same_node.weight = 300;
  Endpoint other_node = Ready("10.0.0.2", "zone-b");
  other_node.node_name = "node-1";
  Endpoint draining = Terminating("10.0.0.3");
  draining.zone = "zone-b";
  Endpoint down = Ready("10.0.0.4", "zone-a");
  down.ready = false;
  down.serving = false;
  ServiceSpec by_node = Service("10.96.0.1", {same_node, other_node, draining, down, other_node});
  by_node.traffic_distribution = TrafficDistribution::kPreferSameNode;
  by_node.slow_start_window_ms = 5000;
  ServiceSpec by_zone =
      Service("fd00::1", {Ready("fd00::a", "zone-b"), Ready("fd00::b", "zone-a")});
  by_zone.traffic_distribution = TrafficDistribution::kPreferSameZone;
  by_zone.protocol = Protocol::kUdp;
  const NodeConfig before{.locality = {.zone = "zone-a", .node_name = "node-1"}};
  const NodeConfig after{.locality = {.zone = "zone-b", .node_name = "node-2"}};

  ASSERT_TRUE(table_.SetNode(before).ok());
  ASSERT_TRUE(table_.Apply({by_node, by_zone}).ok());
  ASSERT_TRUE(table_.SetNode(after).ok());
  FakeMaps fresh_maps;
  ServiceTable fresh{fresh_maps, [this] { return now_ns_; }};
  ASSERT_TRUE(fresh.SetNode(before).ok());  // the same zone ids
  ASSERT_TRUE(fresh.SetNode(after).ok());
  ASSERT_TRUE(fresh.Apply({by_node, by_zone}).ok());

  ASSERT_EQ(maps_.services.size(), fresh_maps.services.size());
  for (const auto& [bytes, entry] : maps_.services) {
    const skw_service& fresh_service = fresh_maps.services.at(bytes).second;
    EXPECT_EQ(entry.second.flags, fresh_service.flags);
    EXPECT_EQ(entry.second.slow_start_window_ms, fresh_service.slow_start_window_ms);
    const std::vector<skw_slot>& slots = maps_.sets.at(entry.second.service_id);
    const std::vector<skw_slot>& fresh_slots = fresh_maps.sets.at(fresh_service.service_id);
    ASSERT_EQ(slots.size(), fresh_slots.size());
    EXPECT_EQ(slots[0].n_preferred, fresh_slots[0].n_preferred);
    EXPECT_EQ(slots[0].n_ready, fresh_slots[0].n_ready);
    EXPECT_EQ(slots[0].n_serving, fresh_slots[0].n_serving);
    for (std::size_t i = 1; i < slots.size(); ++i) {
      const skw_backend& backend = maps_.backends.at(slots[i].backend_id);
      const skw_backend& fresh_backend = fresh_maps.backends.at(fresh_slots[i].backend_id);
      EXPECT_EQ(std::memcmp(&backend.addr, &fresh_backend.addr, sizeof(skw_addr)), 0);
      EXPECT_EQ(backend.port, fresh_backend.port);
      EXPECT_EQ(backend.state, fresh_backend.state);
      EXPECT_EQ(backend.zone_id, fresh_backend.zone_id);
      EXPECT_EQ(backend.weight, fresh_backend.weight);
    }
  }
  EXPECT_EQ(maps_.sets.at(1)[0].n_preferred, 1) << "node-2's endpoint is preferred";
  EXPECT_EQ(table_.backend_count(), 6u) << "listed but unusable endpoints keep their ids";
}

TEST_F(ServiceTableTest, AnInvalidSpecWritesNothingAndIsNamed) {
  ServiceSpec bad = Service("10.96.0.2", {Ready("10.0.0.x")});
  bad.name = "shop/cart:http";
  absl::Status status = table_.Apply({Service("10.96.0.1", {Ready("10.0.0.1")}), bad});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("shop/cart:http"));
  EXPECT_THAT(status.message(), HasSubstr("10.0.0.x"));
  EXPECT_THAT(maps_.log, IsEmpty());
}

TEST_F(ServiceTableTest, ABadVipIsNamed) {
  absl::Status status = table_.Upsert(Service("cluster-ip", {}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("cluster-ip"));
}

TEST_F(ServiceTableTest, TheSameVipPortAndProtocolTwiceIsAnError) {
  absl::Status status = table_.Apply({Service("10.96.0.1", {}), Service("10.96.0.1", {})});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("same VIP"));
  ServiceSpec udp = Service("10.96.0.1", {});
  udp.protocol = Protocol::kUdp;
  EXPECT_TRUE(table_.Apply({Service("10.96.0.1", {}), udp}).ok());
  EXPECT_EQ(maps_.services.size(), 2u);
}

TEST_F(ServiceTableTest, AServiceWithoutBackendsHasAHeaderOnlySet) {
  ASSERT_TRUE(table_.Apply({Service("10.96.0.1", {})}).ok());
  ASSERT_EQ(maps_.sets.at(1).size(), 1u);
  EXPECT_EQ(maps_.sets.at(1)[0].n_ready, 0);
  EXPECT_EQ(maps_.sets.at(1)[0].n_serving, 0);
}

TEST_F(ServiceTableTest, ARestartedTableRecoversIdsAndWritesNothingForTheSameState) {
  const std::vector<ServiceSpec> desired = {
      Service("10.96.0.1", {Ready("10.0.0.1", "a"), Ready("10.0.0.2", "b")}),
      Service("fd00::1", {Ready("fd00::10"), Terminating("fd00::11")})};
  ASSERT_TRUE(table_.SetNode(NodeConfig{.locality = {.zone = "a", .node_name = "n"}}).ok());
  ASSERT_TRUE(table_.Apply(desired).ok());
  const std::uint32_t id = *table_.BackendId("fd00::11", 8080);
  now_ns_ = 99999;

  ServiceTable restarted(maps_, [this] { return now_ns_; });
  ASSERT_TRUE(restarted.Recover().ok());
  EXPECT_EQ(restarted.BackendId("fd00::11", 8080), id);
  EXPECT_EQ(restarted.ServiceId("fd00::1", 80, Protocol::kTcp),
            table_.ServiceId("fd00::1", 80, Protocol::kTcp));
  ASSERT_TRUE(restarted.SetNode(NodeConfig{.locality = {.zone = "a", .node_name = "n"}}).ok());
  ASSERT_TRUE(restarted.Apply(desired).ok());
  EXPECT_EQ(restarted.write_counts().total(), 0u);
  EXPECT_EQ(maps_.backends.at(1).ready_since_ns, 1000u);
}

TEST_F(ServiceTableTest, ARestartedTableRemovesWhatIsNoLongerDesired) {
  ASSERT_TRUE(table_
                  .Apply({Service("10.96.0.1", {Ready("10.0.0.1")}),
                          Service("10.96.0.2", {Ready("10.0.0.2")})})
                  .ok());
  ServiceTable restarted(maps_, [this] { return now_ns_; });
  ASSERT_TRUE(restarted.Recover().ok());
  ASSERT_TRUE(restarted.Apply({Service("10.96.0.2", {Ready("10.0.0.2")})}).ok());
  now_ns_ += ServiceTable::kBackendDeleteGraceNs;
  ASSERT_TRUE(restarted.Apply({Service("10.96.0.2", {Ready("10.0.0.2")})}).ok());
  EXPECT_EQ(maps_.services.size(), 1u);
  EXPECT_EQ(maps_.sets.size(), 1u);
  EXPECT_EQ(maps_.backends.size(), 1u);
  EXPECT_EQ(restarted.BackendId("10.0.0.3", 8080), std::nullopt);
  ASSERT_TRUE(restarted.Upsert(Service("10.96.0.3", {Ready("10.0.0.3")})).ok());
  EXPECT_EQ(restarted.BackendId("10.0.0.3", 8080), 3u) << "fresh ids first, then released ones";
}

TEST(ZoneIdsTest, NumbersZonesByFirstSightAndKeepsZeroForUnknown) {
  ZoneIds zones;
  EXPECT_EQ(*zones.IdOf(""), 0);
  EXPECT_EQ(*zones.IdOf("eu-west-1b"), 1);
  EXPECT_EQ(*zones.IdOf("eu-west-1a"), 2);
  EXPECT_EQ(*zones.IdOf("eu-west-1b"), 1);
}

}  // namespace
}  // namespace skewless::datapath
