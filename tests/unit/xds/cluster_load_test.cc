// ClusterLoad resources in the cache and on ADS streams: served to the agent view only,
// a new version only for what changed, never a new CDS or EDS version, an empty
// ClusterLoad when a cluster's load goes to nothing, gone with its Cluster.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "ads_harness.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "skewless/load/v1/cluster_load.pb.h"
#include "skewless/xds/cache.h"
#include "skewless/xds/resources.h"

namespace skewless::xds {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using skewless::load::v1::ClusterLoad;
using testing::DeltaAck;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::Names;

constexpr char kEcho[] = "default/echo:8080";
constexpr char kWeb[] = "default/web:8080";
constexpr auto kQuiet = std::chrono::milliseconds(300);  // "no response" wait

ServicePort Port(std::string name, std::string address) {
  return ServicePort{.namespace_name = "default",
                     .name = std::move(name),
                     .port = 8080,
                     .cluster_ips = {"10.96.0.10"},
                     .endpoints = {Endpoint{.addresses = {std::move(address)}, .port = 8080}}};
}

CacheInput TwoPorts() {
  return {.ports = SharedPorts({Port("echo", "10.0.0.1"), Port("web", "10.0.1.1")})};
}

// A cluster's load with one endpoint of `connections`.
std::map<std::string, ClusterLoad> Load(const std::string& cluster, std::uint64_t connections) {
  ClusterLoad load;
  auto* endpoint = load.add_endpoints();
  endpoint->set_address(cluster == kEcho ? "10.0.0.1" : "10.0.1.1");
  endpoint->set_port(8080);
  endpoint->set_connections(connections);
  endpoint->set_reporters(1);
  return {{cluster, load}};
}

ClientView AgentView() { return {}; }
ClientView GrpcView() { return {.audience = EndpointAudience::kGrpcClient}; }

ClusterLoad Unpacked(const Resource& resource) {
  ClusterLoad load;
  EXPECT_TRUE(resource.UnpackTo(&load));
  return load;
}

TEST(ClusterLoadCache, OnlyTheAgentViewHasClusterLoadsAndOnlyOfServedClusters) {
  ResourceCache cache;
  ASSERT_THAT(cache.Update(TwoPorts()), IsEmpty());
  std::map<std::string, ClusterLoad> loads = Load(kEcho, 3);
  loads.merge(Load("default/ghost:8080", 5));
  EXPECT_EQ(cache.UpdateClusterLoads(loads), 1u);

  const TypeResources& agent = cache.Snapshot(AgentView())->Of(kClusterLoadTypeUrl);
  ASSERT_EQ(agent.size(), 1u);
  const ClusterLoad echo = Unpacked(*agent.at(kEcho));
  EXPECT_EQ(echo.cluster_name(), kEcho);
  EXPECT_EQ(echo.endpoints(0).connections(), 3u);
  EXPECT_THAT(cache.Snapshot(GrpcView())->Of(kClusterLoadTypeUrl), IsEmpty());
}

TEST(ClusterLoadCache, ALoadChangeLeavesClustersAndEndpointsAsTheyWere) {
  ResourceCache cache;
  ASSERT_THAT(cache.Update(TwoPorts()), IsEmpty());
  const auto before = cache.Snapshot(AgentView());
  const auto grpc_before = cache.Snapshot(GrpcView());
  std::atomic<int> notified = 0;
  cache.AddWatcher([&](ResourceCache::Change change) {
    EXPECT_EQ(change, ResourceCache::Change::kClusterLoads);
    ++notified;
  });

  EXPECT_EQ(cache.UpdateClusterLoads(Load(kEcho, 3)), 1u);
  const auto after = cache.Snapshot(AgentView());
  EXPECT_EQ(notified, 1);
  EXPECT_GT(after->generation, before->generation) << "streams must see something new";
  // The very same maps: not one Cluster or ClusterLoadAssignment version moved.
  EXPECT_EQ(after->by_type.at(std::string(kClusterTypeUrl)),
            before->by_type.at(std::string(kClusterTypeUrl)));
  EXPECT_EQ(after->by_type.at(std::string(kClusterLoadAssignmentTypeUrl)),
            before->by_type.at(std::string(kClusterLoadAssignmentTypeUrl)));
  EXPECT_EQ(cache.Snapshot(GrpcView()), grpc_before) << "gRPC views are not rebuilt";

  // The same load again changes nothing and wakes nobody.
  const std::string version = after->Of(kClusterLoadTypeUrl).at(kEcho)->version;
  EXPECT_EQ(cache.UpdateClusterLoads(Load(kEcho, 3)), 0u);
  EXPECT_EQ(notified, 1);
  EXPECT_EQ(cache.Snapshot(AgentView())->Of(kClusterLoadTypeUrl).at(kEcho)->version, version);
}

TEST(ClusterLoadCache, LoadGoneToNothingIsAnEmptyClusterLoadAndGoesWithItsCluster) {
  ResourceCache cache;
  ASSERT_THAT(cache.Update(TwoPorts()), IsEmpty());
  ASSERT_EQ(cache.UpdateClusterLoads(Load(kEcho, 3)), 1u);
  EXPECT_EQ(cache.UpdateClusterLoads({}), 1u);
  const TypeResources& loads = cache.Snapshot(AgentView())->Of(kClusterLoadTypeUrl);
  ASSERT_EQ(loads.size(), 1u);
  const ClusterLoad empty = Unpacked(*loads.at(kEcho));
  EXPECT_EQ(empty.cluster_name(), kEcho);
  EXPECT_THAT(empty.endpoints(), IsEmpty());

  ASSERT_THAT(cache.Update({.ports = SharedPorts({Port("web", "10.0.1.1")})}), IsEmpty());
  EXPECT_THAT(cache.Snapshot(AgentView())->Of(kClusterLoadTypeUrl), IsEmpty());
}

envoy::config::cluster::v3::Cluster ClusterOf(ResourceCache& cache, const ClientView& view) {
  envoy::config::cluster::v3::Cluster cluster;
  EXPECT_TRUE(cache.Snapshot(view)->Of(kClusterTypeUrl).at(kEcho)->UnpackTo(&cluster));
  return cluster;
}

TEST(ClusterLoadCache, OnlyGrpcClientsAreAskedForLoadReportsAndOnlyWhenConfigured) {
  ResourceCache asking(CacheOptions{.grpc_load_reports = true});
  ASSERT_THAT(asking.Update(TwoPorts()), IsEmpty());
  EXPECT_TRUE(ClusterOf(asking, GrpcView()).lrs_server().has_self());
  EXPECT_FALSE(ClusterOf(asking, AgentView()).has_lrs_server());
  EXPECT_EQ(ClusterOf(asking, GrpcView()).eds_cluster_config().service_name(), kEcho);

  ResourceCache quiet;
  ASSERT_THAT(quiet.Update(TwoPorts()), IsEmpty());
  EXPECT_FALSE(ClusterOf(quiet, GrpcView()).has_lrs_server());
}

DeltaDiscoveryRequest Subscribe(std::string_view type_url, bool with_node) {
  DeltaDiscoveryRequest request;
  request.set_type_url(std::string(type_url));
  request.add_resource_names_subscribe("*");
  if (with_node) {
    request.mutable_node()->set_id("node-a");
    request.mutable_node()->set_user_agent_name("skewless-agent");
  }
  return request;
}

TEST(ClusterLoadDelta, AnAgentGetsOnlyTheChangedClusterLoadAndNoEndpoints) {
  testing::AdsServerFixture server;
  ASSERT_THAT(server.cache().Update(TwoPorts()), IsEmpty());
  ASSERT_EQ(server.cache().UpdateClusterLoads([] {
    auto loads = Load(kEcho, 1);
    loads.merge(Load(kWeb, 1));
    return loads;
  }()),
            2u);
  auto stream = testing::OpenDelta(server.channel());
  ASSERT_TRUE(stream->Send(Subscribe(kClusterLoadAssignmentTypeUrl, true)));
  ASSERT_TRUE(stream->Send(Subscribe(kClusterLoadTypeUrl, false)));
  for (std::string_view type_url : {kClusterLoadAssignmentTypeUrl, kClusterLoadTypeUrl}) {
    auto first = stream->Next();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->type_url(), type_url);
    EXPECT_THAT(Names(*first), ElementsAre(kEcho, kWeb));
    ASSERT_TRUE(stream->Send(DeltaAck(*first)));
  }

  auto loads = Load(kEcho, 7);
  loads.merge(Load(kWeb, 1));  // unchanged
  ASSERT_EQ(server.cache().UpdateClusterLoads(loads), 1u);
  auto pushed = stream->Next();
  ASSERT_TRUE(pushed);
  EXPECT_EQ(pushed->type_url(), kClusterLoadTypeUrl);
  EXPECT_THAT(Names(*pushed), ElementsAre(kEcho));
  ClusterLoad echo;
  ASSERT_TRUE(pushed->resources(0).resource().UnpackTo(&echo));
  EXPECT_EQ(echo.endpoints(0).connections(), 7u);
  ASSERT_TRUE(stream->Send(DeltaAck(*pushed)));
  EXPECT_FALSE(stream->Next(kQuiet)) << "nothing else: no EDS, no unchanged ClusterLoad";
}

}  // namespace
}  // namespace skewless::xds
