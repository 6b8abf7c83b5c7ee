// Kubernetes objects, as the API server and the EndpointSlice controller write them, through
// every stage to what each consumer uses: the control plane's snapshot, the xDS load
// assignment (agents and gRPC clients), the agent's backend set tiers and the splicer's
// backends. One pipeline, so the stages cannot disagree on what a condition means.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kube_fixtures.h"
#include "skewless/agent/cluster_translation.h"
#include "skewless/common/net.h"
#include "skewless/controlplane/kube_objects.h"
#include "skewless/controlplane/server_config.h"
#include "skewless/controlplane/xds_input.h"
#include "skewless/datapath/backend_set.h"
#include "skewless/xds/resources.h"
#include "splicer/service_backends.h"

namespace skewless::controlplane {
namespace {

using nlohmann::json;
using skewless::testing::ControllerSlices;
using skewless::testing::MakeServiceJson;
using skewless::testing::PodState;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
namespace core_v3 = envoy::config::core::v3;

// What every consumer makes of one Service port.
struct Outcome {
  std::vector<std::string> agent_eds;  // "address[+additional] HEALTH", as served to agents
  std::vector<std::string> grpc_eds;   // addresses served to gRPC clients (HEALTHY only)
  // Per cluster IP: the backend set's tiers, "address:tier" in slot order.
  std::map<std::string, std::vector<std::string>> tiers;
  // Per cluster IP: the splicer's backends, "address" or "address draining".
  std::map<std::string, std::vector<std::string>> splicer;
  // Per cluster IP: the policy the agent writes (skw_service.lb_policy) and the splicer's.
  std::map<std::string, std::uint8_t> lb_policy;
  std::map<std::string, std::uint8_t> splicer_lb_policy;
};

std::string Describe(const envoy::config::endpoint::v3::LbEndpoint& lb) {
  std::string text = lb.endpoint().address().socket_address().address();
  for (const auto& additional : lb.endpoint().additional_addresses()) {
    text += "+" + additional.address().socket_address().address();
  }
  return text;
}

// The splicer's view of a set, read as PinnedServices::Find reads the maps: slot i (from 1)
// is terminating when i > n_ready.
datapath::SpliceService AsPinned(const datapath::BackendSet& set) {
  datapath::SpliceService service;
  for (std::size_t i = 0; i < set.members.size(); ++i) {
    const datapath::SetMember& member = set.members[i];
    datapath::SpliceBackend backend{
        .backend_id = static_cast<std::uint32_t>(i + 1),
        .preferred = i<set.n_preferred, .terminating = i + 1> set.n_ready};
    backend.backend.addr = member.backend.addr;
    backend.backend.port = htons(member.backend.port);
    backend.backend.state = member.state;
    backend.backend.weight = member.weight;
    service.backends.push_back(backend);
  }
  return service;
}

// `default_load_balancing`: the control plane's --default-load-balancing (its default when
// not given).
Outcome ThroughEveryStage(
    const json& service_object, const std::vector<json>& slice_objects,
    const std::string& default_load_balancing = ServerConfig{}.default_load_balancing) {
  Outcome outcome;
  absl::StatusOr<std::optional<Service>> service = ParseKubeService(service_object);
  EXPECT_TRUE(service.ok() && service->has_value()) << service.status();
  std::vector<EndpointSlice> slices;
  for (const json& object : slice_objects) {
    absl::StatusOr<std::optional<EndpointSlice>> slice = ParseKubeEndpointSlice(object);
    EXPECT_TRUE(slice.ok() && slice->has_value()) << slice.status();
    if (slice.ok() && slice->has_value()) slices.push_back(**std::move(slice));
  }
  absl::StatusOr<Snapshot> snapshot = BuildKubeSnapshot({**service}, std::move(slices), {});
  EXPECT_TRUE(snapshot.ok()) << snapshot.status();
  XdsInputBuilder builder("cluster.local", default_load_balancing);
  xds::CacheInput input = builder.Build(std::make_shared<Snapshot>(*std::move(snapshot)));
  EXPECT_EQ(input.ports.size(), 1u);
  if (input.ports.size() != 1) return outcome;
  const xds::ServicePort& port = *input.ports[0];

  auto agent_cla = xds::BuildLoadAssignment(port, {.audience = xds::EndpointAudience::kAgent});
  auto grpc_cla = xds::BuildLoadAssignment(port, {.audience = xds::EndpointAudience::kGrpcClient});
  EXPECT_TRUE(agent_cla.ok() && grpc_cla.ok());
  for (const auto& locality : agent_cla->endpoints()) {
    for (const auto& lb : locality.lb_endpoints()) {
      outcome.agent_eds.push_back(Describe(lb) + " " +
                                  core_v3::HealthStatus_Name(lb.health_status()));
    }
  }
  for (const auto& locality : grpc_cla->endpoints()) {
    for (const auto& lb : locality.lb_endpoints()) outcome.grpc_eds.push_back(Describe(lb));
  }

  absl::StatusOr<agent::ClusterTarget> target = agent::TargetOfCluster(*xds::BuildCluster(port));
  absl::StatusOr<std::vector<agent::AssignedEndpoint>> endpoints =
      agent::EndpointsOfAssignment(*agent_cla);
  EXPECT_TRUE(target.ok() && endpoints.ok());
  for (const datapath::ServiceSpec& spec : agent::SpecsOf(*target, *endpoints, 0)) {
    absl::StatusOr<datapath::BackendSet> set =
        datapath::BuildBackendSet(spec.endpoints, spec.traffic_distribution, {});
    EXPECT_TRUE(set.ok()) << set.status();
    std::vector<std::string>& tiers = outcome.tiers[spec.vip];
    for (std::size_t i = 0; i < set->members.size(); ++i) {
      tiers.push_back(net::FormatSkwAddr(set->members[i].backend.addr) +
                      (i < set->n_ready ? ":ready" : ":serving"));
    }
    datapath::SpliceService pinned = AsPinned(*set);
    pinned.service.lb_policy = spec.lb_policy;  // as the service table writes it
    outcome.lb_policy[spec.vip] = spec.lb_policy;
    absl::StatusOr<splicer::ServiceBackends> backends = splicer::ServiceBackendsOf(pinned);
    EXPECT_TRUE(backends.ok()) << backends.status();
    if (backends.ok()) outcome.splicer_lb_policy[spec.vip] = backends->options.lb_policy;
    for (const splicer::UpstreamBackend& backend : backends->backends) {
      outcome.splicer[spec.vip].push_back(backend.address + (backend.draining ? " draining" : ""));
    }
  }
  return outcome;
}

const std::vector<skewless::testing::SlicePortSpec> kPorts = {{"grpc", 9090}};

json Echo(bool publish_not_ready_addresses = false,
          std::vector<std::string> cluster_ips = {"10.96.0.10"}) {
  return MakeServiceJson("default", "echo", cluster_ips,
                         {{.name = "grpc", .port = 8080, .target_port = 9090}},
                         publish_not_ready_addresses);
}

std::vector<json> V4Slices(const std::vector<PodState>& pods, bool publish_not_ready = false) {
  return ControllerSlices("default", "echo", true, false, kPorts, pods, publish_not_ready);
}

TEST(KubeToBackends, RolloutMovesNewTrafficToTheNewPodOnceItIsReady) {
  // A Deployment's rolling update (maxSurge 1, maxUnavailable 0), step by step.
  const PodState old_pod{.name = "echo-old", .ipv4 = "10.0.0.1"};
  PodState new_pod{.name = "echo-new", .ipv4 = "10.0.0.2", .pod_ready = false};

  // The new pod is created and not ready yet: the old one takes everything.
  Outcome surge = ThroughEveryStage(Echo(), V4Slices({old_pod, new_pod}));
  EXPECT_THAT(surge.agent_eds, ElementsAre("10.0.0.1 HEALTHY", "10.0.0.2 UNHEALTHY"));
  EXPECT_THAT(surge.grpc_eds, ElementsAre("10.0.0.1"));
  EXPECT_THAT(surge.tiers["10.96.0.10"], ElementsAre("10.0.0.1:ready"));

  // The new pod is ready and the old one deleted, draining while it still serves.
  new_pod.pod_ready = true;
  PodState draining = old_pod;
  draining.deleting = true;
  Outcome swap = ThroughEveryStage(Echo(), V4Slices({draining, new_pod}));
  EXPECT_THAT(swap.agent_eds, ElementsAre("10.0.0.1 DRAINING", "10.0.0.2 HEALTHY"));
  EXPECT_THAT(swap.grpc_eds, ElementsAre("10.0.0.2"));
  EXPECT_THAT(swap.tiers["10.96.0.10"], ElementsAre("10.0.0.2:ready", "10.0.0.1:serving"));
  EXPECT_THAT(swap.splicer["10.96.0.10"], ElementsAre("10.0.0.2:9090", "10.0.0.1:9090 draining"));

  // The old pod stops serving: it is left out.
  draining.pod_ready = false;
  Outcome done = ThroughEveryStage(Echo(), V4Slices({draining, new_pod}));
  EXPECT_THAT(done.agent_eds, ElementsAre("10.0.0.1 UNHEALTHY", "10.0.0.2 HEALTHY"));
  EXPECT_THAT(done.tiers["10.96.0.10"], ElementsAre("10.0.0.2:ready"));
}

TEST(KubeToBackends, ScaleToZeroFallsBackToPodsThatStillServe) {
  // Every pod deleted at once (scale to 0, or a Service whose pods all terminate): kube-proxy
  // keeps sending to those still serving rather than refuse connections.
  Outcome outcome = ThroughEveryStage(
      Echo(),
      V4Slices({{.name = "echo-1", .ipv4 = "10.0.0.1", .deleting = true},
                {.name = "echo-2", .ipv4 = "10.0.0.2", .deleting = true},
                {.name = "echo-3", .ipv4 = "10.0.0.3", .pod_ready = false, .deleting = true}}));
  EXPECT_THAT(outcome.agent_eds,
              ElementsAre("10.0.0.1 DRAINING", "10.0.0.2 DRAINING", "10.0.0.3 UNHEALTHY"));
  EXPECT_THAT(outcome.grpc_eds, IsEmpty());
  EXPECT_THAT(outcome.tiers["10.96.0.10"], ElementsAre("10.0.0.1:serving", "10.0.0.2:serving"));
  // Nothing is ready, so the serving ones take streams rather than drain.
  EXPECT_THAT(outcome.splicer["10.96.0.10"], ElementsAre("10.0.0.1:9090", "10.0.0.2:9090"));
}

TEST(KubeToBackends, ScaleDownDrainsTheRemovedPodsBehindTheReadyOnes) {
  Outcome outcome =
      ThroughEveryStage(Echo(), V4Slices({{.name = "echo-1", .ipv4 = "10.0.0.1"},
                                          {.name = "echo-2", .ipv4 = "10.0.0.2", .deleting = true},
                                          {.name = "echo-3", .ipv4 = "10.0.0.3"}}));
  EXPECT_THAT(outcome.agent_eds,
              ElementsAre("10.0.0.1 HEALTHY", "10.0.0.2 DRAINING", "10.0.0.3 HEALTHY"));
  EXPECT_THAT(outcome.grpc_eds, ElementsAre("10.0.0.1", "10.0.0.3"));
  EXPECT_THAT(outcome.tiers["10.96.0.10"],
              ElementsAre("10.0.0.1:ready", "10.0.0.3:ready", "10.0.0.2:serving"));
  EXPECT_THAT(outcome.splicer["10.96.0.10"],
              ElementsAre("10.0.0.1:9090", "10.0.0.3:9090", "10.0.0.2:9090 draining"));
}

TEST(KubeToBackends, PublishNotReadyAddressesServesEveryPodAsReady) {
  // ready = publishNotReadyAddresses || ...: the Service asked for all its pods, whatever
  // their state, and kube-proxy gives it them. Every stage agrees.
  Outcome outcome = ThroughEveryStage(
      Echo(/*publish_not_ready_addresses=*/true),
      V4Slices({{.name = "echo-1", .ipv4 = "10.0.0.1"},
                {.name = "echo-2", .ipv4 = "10.0.0.2", .pod_ready = false},
                {.name = "echo-3", .ipv4 = "10.0.0.3", .deleting = true},
                {.name = "echo-4", .ipv4 = "10.0.0.4", .pod_ready = false, .deleting = true}},
               /*publish_not_ready=*/true));
  EXPECT_THAT(outcome.agent_eds, ElementsAre("10.0.0.1 HEALTHY", "10.0.0.2 HEALTHY",
                                             "10.0.0.3 HEALTHY", "10.0.0.4 HEALTHY"));
  EXPECT_THAT(outcome.grpc_eds, ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"));
  EXPECT_THAT(outcome.tiers["10.96.0.10"],
              ElementsAre("10.0.0.1:ready", "10.0.0.2:ready", "10.0.0.3:ready", "10.0.0.4:ready"));
  EXPECT_THAT(outcome.splicer["10.96.0.10"],
              ElementsAre("10.0.0.1:9090", "10.0.0.2:9090", "10.0.0.3:9090", "10.0.0.4:9090"));
}

TEST(KubeToBackends, TheUpstreamFixtureShapeIsServedAsReady) {
  Outcome outcome = ThroughEveryStage(
      MakeServiceJson("default", "echo", {"10.96.0.10"},
                      {{.name = "http", .port = 80, .target_port = 8081}}),
      {skewless::testing::UpstreamShapedEndpointSliceJson("default", "echo", "10.0.0.9", 8081)});
  EXPECT_THAT(outcome.agent_eds, ElementsAre("10.0.0.9 HEALTHY"));
  EXPECT_THAT(outcome.tiers["10.96.0.10"], ElementsAre("10.0.0.9:ready"));
}

TEST(KubeToBackends, ADualStackPodIsOneEndpointAndEachFamilyItsOwnBackend) {
  std::vector<json> slices =
      ControllerSlices("default", "echo", true, true, kPorts,
                       {{.name = "echo-1", .ipv4 = "10.0.0.1", .ipv6 = "fd00::1"},
                        {.name = "echo-2", .ipv4 = "10.0.0.2", .ipv6 = "fd00::2"}},
                       false);
  Outcome outcome = ThroughEveryStage(Echo(false, {"10.96.0.10", "fd00::10"}), slices);
  // One LbEndpoint per pod, its other family in additional_addresses (gRFC A61).
  EXPECT_THAT(outcome.agent_eds,
              ElementsAre("10.0.0.1+fd00::1 HEALTHY", "10.0.0.2+fd00::2 HEALTHY"));
  EXPECT_THAT(outcome.grpc_eds, ElementsAre("10.0.0.1+fd00::1", "10.0.0.2+fd00::2"));
  // The agent programs each VIP with the pods' addresses of its family: each pod once.
  EXPECT_THAT(
      outcome.tiers,
      UnorderedElementsAre(std::pair{std::string("10.96.0.10"),
                                     std::vector<std::string>{"10.0.0.1:ready", "10.0.0.2:ready"}},
                           std::pair{std::string("fd00::10"),
                                     std::vector<std::string>{"fd00::1:ready", "fd00::2:ready"}}));
}

TEST(KubeToBackends, TheLoadBalancingAnnotationReachesTheAgentAndTheSplicer) {
  const std::vector<PodState> pods = {{.name = "echo-a", .ipv4 = "10.0.0.1"},
                                      {.name = "echo-b", .ipv4 = "10.0.0.2"}};
  json service = Echo();
  // Without the annotation: the control plane's default, least-loaded (docs/datapath.md
  // has the numbers it was chosen with).
  Outcome plain = ThroughEveryStage(service, V4Slices(pods));
  EXPECT_EQ(plain.lb_policy["10.96.0.10"], SKW_LB_LEAST_LOADED);
  EXPECT_EQ(plain.splicer_lb_policy["10.96.0.10"], SKW_LB_LEAST_LOADED);
  // The fleet's default is the operator's to choose.
  Outcome p2c_fleet = ThroughEveryStage(service, V4Slices(pods), "least-request");
  EXPECT_EQ(p2c_fleet.lb_policy["10.96.0.10"], SKW_LB_LEAST_REQUEST);
  EXPECT_EQ(p2c_fleet.splicer_lb_policy["10.96.0.10"], SKW_LB_LEAST_REQUEST);

  service["metadata"]["annotations"]["skewless.io/load-balancing"] = "random";
  Outcome random = ThroughEveryStage(service, V4Slices(pods));
  EXPECT_EQ(random.lb_policy["10.96.0.10"], SKW_LB_RANDOM);
  EXPECT_EQ(random.splicer_lb_policy["10.96.0.10"], SKW_LB_RANDOM);
  EXPECT_EQ(random.agent_eds, plain.agent_eds) << "the policy changes no endpoint";

  // One Service may keep P2C under a least-loaded default.
  service["metadata"]["annotations"]["skewless.io/load-balancing"] = "least-request";
  Outcome p2c = ThroughEveryStage(service, V4Slices(pods));
  EXPECT_EQ(p2c.lb_policy["10.96.0.10"], SKW_LB_LEAST_REQUEST);
  EXPECT_EQ(p2c.splicer_lb_policy["10.96.0.10"], SKW_LB_LEAST_REQUEST);

  // The API accepts any annotation value: the Service is still served, with the default.
  service["metadata"]["annotations"]["skewless.io/load-balancing"] = "round-robin-please";
  Outcome unknown = ThroughEveryStage(service, V4Slices(pods));
  EXPECT_EQ(unknown.lb_policy["10.96.0.10"], SKW_LB_LEAST_LOADED);
  EXPECT_EQ(unknown.agent_eds, plain.agent_eds);
}

}  // namespace
}  // namespace skewless::controlplane
