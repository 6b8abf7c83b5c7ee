// Scoped views of the resource cache: a stream limited to some namespaces is served only
// their Service ports' resources, in every type and for every audience.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "skewless/xds/cache.h"

namespace skewless::xds {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

ServicePort PortIn(std::string namespace_name, std::string name, std::string address) {
  ServicePort port;
  port.namespace_name = std::move(namespace_name);
  port.name = std::move(name);
  port.port_name = "grpc";
  port.port = 8080;
  port.cluster_ips = {"10.96.0.1"};
  port.endpoints = {Endpoint{.addresses = {std::move(address)}, .port = 8080, .zone = "a"}};
  return port;
}

std::vector<std::string> Names(const TypeResources& resources) {
  std::vector<std::string> names;
  for (const auto& [name, resource] : resources) names.emplace_back(name);
  return names;
}

CacheInput Input(std::vector<ServicePort> ports) {
  return CacheInput{.ports = SharedPorts(std::move(ports)), .node_zones = {{"node-1", "a"}}};
}

TEST(NamespaceScope, AScopedViewHoldsOnlyItsNamespacesResourcesOfEveryType) {
  ResourceCache cache;
  ASSERT_THAT(
      cache.Update(Input({PortIn("shop", "cart", "10.0.0.1"), PortIn("shop-2", "cart", "10.0.0.2"),
                          PortIn("billing", "ledger", "10.0.0.3")})),
      IsEmpty());
  const NamespaceScope shop = NamespaceScope::Only({"shop"});

  auto agent = cache.Snapshot({.audience = EndpointAudience::kAgent, .scope = shop});
  EXPECT_THAT(Names(agent->Of(kClusterTypeUrl)), ElementsAre("shop/cart:grpc"));
  EXPECT_THAT(Names(agent->Of(kClusterLoadAssignmentTypeUrl)), ElementsAre("shop/cart:grpc"));
  EXPECT_THAT(Names(agent->Of(kNodeInfoTypeUrl)), IsEmpty()) << "nodes are no Service's";

  auto grpc = cache.Snapshot({.audience = EndpointAudience::kGrpcClient, .scope = shop});
  EXPECT_THAT(Names(grpc->Of(kClusterTypeUrl)), ElementsAre("shop/cart:grpc"));
  EXPECT_THAT(Names(grpc->Of(kClusterLoadAssignmentTypeUrl)), ElementsAre("shop/cart:grpc"));
  EXPECT_THAT(Names(grpc->Of(kRouteConfigurationTypeUrl)), ElementsAre("shop/cart:grpc"));
  EXPECT_THAT(
      Names(grpc->Of(kListenerTypeUrl)),
      ElementsAre("cart.shop.svc.cluster.local:8080", "cart.shop.svc:8080", "cart.shop:8080"));

  auto two = cache.Snapshot(
      {.audience = EndpointAudience::kAgent, .scope = NamespaceScope::Only({"shop", "billing"})});
  EXPECT_THAT(Names(two->Of(kClusterTypeUrl)),
              ElementsAre("billing/ledger:grpc", "shop/cart:grpc"));
  auto none =
      cache.Snapshot({.audience = EndpointAudience::kAgent, .scope = NamespaceScope::Only({})});
  EXPECT_THAT(Names(none->Of(kClusterTypeUrl)), IsEmpty());
  auto all = cache.Snapshot({.audience = EndpointAudience::kAgent});
  EXPECT_EQ(all->Of(kClusterTypeUrl).size(), 3u);
  EXPECT_EQ(all->Of(kNodeInfoTypeUrl).size(), 1u);
}

TEST(NamespaceScope, AScopedViewSharesTheUnscopedResourcesAndFollowsUpdates) {
  ResourceCache cache;
  ASSERT_THAT(cache.Update(Input({PortIn("shop", "cart", "10.0.0.1")})), IsEmpty());
  const ClientView view{.audience = EndpointAudience::kAgent,
                        .scope = NamespaceScope::Only({"shop"})};
  auto scoped = cache.Snapshot(view);
  auto all = cache.Snapshot({.audience = EndpointAudience::kAgent});
  EXPECT_EQ(scoped->Of(kClusterTypeUrl).at("shop/cart:grpc").get(),
            all->Of(kClusterTypeUrl).at("shop/cart:grpc").get());
  EXPECT_EQ(cache.Snapshot(view).get(), scoped.get()) << "memoized per generation";

  ASSERT_THAT(
      cache.Update(Input({PortIn("shop", "cart", "10.0.0.1"), PortIn("shop", "web", "10.0.0.4"),
                          PortIn("billing", "ledger", "10.0.0.3")})),
      IsEmpty());
  auto next = cache.Snapshot(view);
  EXPECT_GT(next->generation, scoped->generation);
  EXPECT_THAT(Names(next->Of(kClusterTypeUrl)), ElementsAre("shop/cart:grpc", "shop/web:grpc"));
}

}  // namespace
}  // namespace skewless::xds
