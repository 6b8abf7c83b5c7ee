// Renderers: the tables people read and the JSON scripts parse.
#include "skewless/ctl/render.h"

#include "ctl_test_state.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "skewless/ctl/explain.h"
#include "skewless/datapath/steering.h"

namespace skewless::ctl {
namespace {

using datapath::TrafficDistribution;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Ready;
using testing::Terminating;
using testing::TestNode;

// Two services: one preferring zone-a with slow start, one UDP with a terminating backend.
class CtlRender : public ::testing::Test {
 protected:
  void SetUp() override {
    node_.Add(
        "10.96.0.10", 80,
        {Ready("10.0.0.1", "zone-a"), Ready("10.0.0.2", "zone-a"), Ready("10.0.1.1", "zone-b")},
        TrafficDistribution::kPreferClose, 30'000);
    node_.Add("10.96.0.11", 53, {Ready("10.0.0.1", "zone-a"), Terminating("10.0.0.5", "zone-a")},
              TrafficDistribution::kNone, 0, datapath::Protocol::kUdp);
    node_.SetActive("10.0.0.1", 6);
    node_.SetActive("10.0.1.1", 2);
    node_.AdvanceClock(15'000'000'000);
    state_ = node_.State();
    state_.reasons = {0, 3, 1200, 40, 17, 0, 2, 0};
    services_ = BuildServiceViews(state_);
  }

  Explanation ExplainOk(std::optional<std::uint16_t> zone_id = std::nullopt) {
    absl::StatusOr<Explanation> explanation =
        Explain(state_, *ParseServiceKey("10.96.0.10:80", "tcp"), {.zone_id = zone_id});
    EXPECT_TRUE(explanation.ok()) << explanation.status();
    return *explanation;
  }

  TestNode node_{"zone-a"};
  DatapathState state_;
  std::vector<ServiceView> services_;
};

TEST_F(CtlRender, ServicesTable) {
  EXPECT_EQ(
      RenderServicesText(services_),
      "SERVICE            ID  POLICY        SLOW START  PREFERRED  READY  TERMINATING  ACTIVE\n"
      "10.96.0.10:80/tcp   1  prefer-local  30.0s               2      3            0       8\n"
      "10.96.0.11:53/udp   2  any           -                   -      1            1       6\n");
  EXPECT_EQ(RenderServicesText({}), "no services in the data path's maps\n");
}

TEST_F(CtlRender, ServicesJson) {
  const Json json = ServicesJson(services_);
  ASSERT_EQ(json["services"].size(), 2u);
  const Json& first = json["services"][0];
  EXPECT_EQ(first["service"], "10.96.0.10:80/tcp");
  EXPECT_EQ(first["vip"], "10.96.0.10");
  EXPECT_EQ(first["port"], 80);
  EXPECT_EQ(first["protocol"], "tcp");
  EXPECT_EQ(first["prefer_local"], true);
  EXPECT_EQ(first["slow_start_window_ms"], 30000);
  EXPECT_EQ(first["preferred"], 2);
  EXPECT_EQ(first["ready"], 3);
  EXPECT_EQ(first["active_conns"], 8);
  EXPECT_EQ(json["services"][1]["terminating"], 1);
}

TEST_F(CtlRender, OneServicesBackendsInSlotOrder) {
  node_.SetClusterConns("10.0.0.2", 9);
  services_ = BuildServiceViews(node_.State());
  EXPECT_EQ(
      RenderServiceBackendsText(services_[0], node_.Zones(), state_.now_ns),
      "service 10.96.0.10:80/tcp (id 1), prefers local backends: 2 preferred, 3 ready, 0 "
      "terminating\n"
      "SLOT  TIER       ID  BACKEND        STATE  ZONE    WEIGHT  READY FOR  ACTIVE  CLUSTER  "
      "TOTAL\n"
      "   1  preferred   1  10.0.0.1:8080  ready  zone-a     100      15.0s       6        0  "
      "    0\n"
      "   2  preferred   2  10.0.0.2:8080  ready  zone-a     100      15.0s       0        9  "
      "    0\n"
      "   3  ready       3  10.0.1.1:8080  ready  zone-b     100      15.0s       2        0  "
      "    0\n");
  const Json json = ServiceBackendsJson(services_[0], node_.Zones(), state_.now_ns);
  EXPECT_EQ(json["backends"][2]["tier"], "ready");
  EXPECT_EQ(json["backends"][2]["zone"], "zone-b");
  EXPECT_EQ(json["backends"][2]["ready_for_ms"], 15000);
}

TEST_F(CtlRender, BackendsWithoutZoneNamesShowIdsAndSaySo) {
  const std::string text =
      RenderBackendsText(BuildBackendViews(state_), ZoneNames{}, state_.now_ns);
  EXPECT_THAT(text, HasSubstr(" 1  10.0.0.1:8080  ready    1        100      15.0s"));
  EXPECT_THAT(text, HasSubstr("10.96.0.10:80/tcp 10.96.0.11:53/udp"));
  EXPECT_THAT(text, HasSubstr("zones are ids: the agent was not reachable"));
  const Json json = BackendsJson(BuildBackendViews(state_), ZoneNames{}, state_.now_ns);
  EXPECT_TRUE(json["backends"][0]["zone"].is_null());
  EXPECT_EQ(json["backends"][0]["zone_id"], 1);
}

TEST_F(CtlRender, LoadSharesAndReasons) {
  node_.SetClusterConns("10.0.0.2", 9);
  services_ = BuildServiceViews(node_.State());
  const std::string text = RenderLoadText(services_, state_.reasons, node_.Zones());
  EXPECT_THAT(text,
              HasSubstr("10.96.0.10:80/tcp  10.0.0.1:8080  zone-a  preferred         6   75.0%"));
  EXPECT_THAT(text, HasSubstr("p2c-preferred        1200\n"));
  EXPECT_THAT(text, Not(HasSubstr("zones are ids")));
  const Json json = LoadJson(services_, state_.reasons, node_.Zones());
  EXPECT_EQ(json["services"][0]["active_conns"], 8);
  EXPECT_EQ(json["services"][0]["backends"][0]["share"], 0.75);
  // This node's count and the other nodes' side by side.
  EXPECT_THAT(text, HasSubstr("ACTIVE   SHARE  CLUSTER"));
  EXPECT_THAT(text, HasSubstr("10.0.0.2:8080  zone-a  preferred         0    0.0%        9"));
  EXPECT_EQ(json["services"][0]["backends"][1]["active_conns"], 0);
  EXPECT_EQ(json["services"][0]["backends"][1]["cluster_conns"], 9);
  EXPECT_TRUE(json["services"][0]["backends"].size() == 3);
  EXPECT_EQ(json["reasons"]["spill-overload"], 17);
}

TEST_F(CtlRender, ExplainText) {
  const std::string text = RenderExplainText(ExplainOk(2), node_.Zones());
  EXPECT_THAT(text,
              AllOf(HasSubstr("service 10.96.0.10:80/tcp (id 1), prefers local backends, "
                              "least-request, slow start 30.0s\nnode: zone-a (id 1)\n"),
                    HasSubstr("costs more than 2.00x a sampled other backend and has at least 8 "
                              "more active connections"),
                    HasSubstr("tier: the service's trafficDistribution prefers local backends\n"
                              "  connects go to the preferred tier of 2: the ready backends in "
                              "zone-a (id 1), this node's zone\n"),
                    HasSubstr("slow start: ready 15.0s of 30.0s"),
                    HasSubstr("outcome of 10000 simulated connects"),
                    HasSubstr("a connect now most likely goes to 10.0.0.2:8080"),
                    HasSubstr("as if this node were in zone-b (id 2) (--zone):\ntier:")));
  EXPECT_THAT(text, Not(HasSubstr("zones are ids")));
}

TEST(CtlRenderPolicy, ExplainOfARandomServiceShowsItsPolicyAndItsUniformOutcome) {
  TestNode node("zone-a");
  node.Add("10.96.0.12", 80,
           {Ready("10.0.0.1", "zone-a"), Ready("10.0.0.2", "zone-a"), Ready("10.0.1.1", "zone-b")},
           TrafficDistribution::kPreferClose, 0, datapath::Protocol::kTcp, SKW_LB_RANDOM);
  node.SetActive("10.0.0.1", 40);  // least-request would leave it alone, and spill
  const DatapathState state = node.State();
  absl::StatusOr<Explanation> explanation =
      Explain(state, *ParseServiceKey("10.96.0.12:80", "tcp"), {});
  ASSERT_TRUE(explanation.ok()) << explanation.status();
  const std::string text = RenderExplainText(*explanation, node.Zones());
  EXPECT_THAT(text, AllOf(HasSubstr("prefers local backends, random\n"),
                          HasSubstr("spill: never by load (random)"),
                          HasSubstr("random: one uniform draw"), HasSubstr("by reason: random ")));
  // Both zone-a backends share the connects; zone-b, outside the tier, gets none.
  EXPECT_THAT(text, HasSubstr("10.0.1.1:8080  zone-b  ready          0   0.0%"));
  EXPECT_THAT(text, Not(HasSubstr("10.0.0.1:8080  zone-a  preferred      0")));
  EXPECT_THAT(text, HasSubstr("only when no preferred backend can take it"));
  EXPECT_EQ(ExplainJson(*explanation, node.Zones())["service"]["lb_policy"], "random");
}

TEST_F(CtlRender, ExplainJson) {
  const Json json = ExplainJson(ExplainOk(), node_.Zones());
  EXPECT_EQ(json["service"]["service"], "10.96.0.10:80/tcp");
  EXPECT_EQ(json["node"]["zone"], "zone-a");
  EXPECT_EQ(json["node"]["spill_ratio_permille"], 2000);
  const Json& current = json["current"];
  EXPECT_EQ(current["tier_reason"], "preferred");
  EXPECT_EQ(current["preferred_scope"], "same-zone");
  EXPECT_EQ(current["candidates"].size(), 3u);
  EXPECT_EQ(current["candidates"][0]["ramp_permille"], 550);
  EXPECT_TRUE(current["candidates"][0]["skipped"].is_null());
  EXPECT_EQ(current["simulation"]["draws"], 10000);
  EXPECT_EQ(current["simulation"]["refused"], 0);
  EXPECT_GT(current["simulation"]["reasons"]["p2c-preferred"], 0);
  EXPECT_TRUE(json["with_zone"].is_null());
}

TEST_F(CtlRender, ExplainOfAServiceWithoutBackends) {
  node_.Add("10.96.0.12", 80, {});
  absl::StatusOr<Explanation> explanation =
      Explain(node_.State(), *ParseServiceKey("10.96.0.12:80", "tcp"), {});
  ASSERT_TRUE(explanation.ok());
  EXPECT_THAT(RenderExplainText(*explanation, ZoneNames{}),
              AllOf(HasSubstr("tier: no backend is ready or serving\n  every connect is refused "
                              "(ECONNREFUSED)\n"),
                    HasSubstr("zones are ids")));
}

StatusReport Report() {
  StatusReport report;
  report.pin_dir = {.pin_dir = "/sys/fs/bpf/skewless",
                    .exists = true,
                    .fs_path = "/sys/fs/bpf/skewless",
                    .fs_is_bpffs = true};
  for (const std::string& map : datapath::Steering::MapNames()) report.maps.emplace_back(map, true);
  for (const char* program : {"skw_sockops", "skw_connect4"}) {
    LinkStatus& status = report.links.emplace_back();
    status.link = {
        .program = program, .pinned = true, .link_id = 7, .program_id = 42, .cgroup_id = 1};
    status.hook = "cgroup_inet4_connect";
    status.cgroup_path = "/sys/fs/cgroup";
  }
  report.links[1].link.pinned = false;
  report.counts = MapCounts{.services = 3, .backend_sets = 3, .backends = 6, .node_zone_id = 1};
  report.zones.by_id[1] = "zone-a";
  report.agent = {.url = "http://127.0.0.1:9091", .healthz = 200, .readyz = 200};
  Judge(report);
  return report;
}

TEST(CtlRenderStatus, TextLeadsWithTheVerdict) {
  const std::string text = RenderStatusText(Report());
  EXPECT_THAT(text,
              AllOf(HasSubstr("verdict: broken: the data path is not steering as installed\n"),
                    HasSubstr("pin dir: /sys/fs/bpf/skewless (bpffs)\n"),
                    HasSubstr("maps:    10 of 10 pinned; 3 services, 3 backend sets, 6 "
                              "backends, 0 active connections; node zone zone-a (id 1)\n"),
                    HasSubstr("agent:   http://127.0.0.1:9091: /healthz 200, /readyz 200\n"),
                    HasSubstr("skw_sockops      7    42  cgroup_inet4_connect  /sys/fs/cgroup\n"),
                    HasSubstr("skw_connect4     -     -  -                     not attached"),
                    HasSubstr("problems:\n  - not attached")));
}

TEST(CtlRenderStatus, Json) {
  const Json json = StatusJson(Report());
  EXPECT_EQ(json["verdict"], "broken");
  EXPECT_EQ(json["maps"]["skw_services"], true);
  EXPECT_EQ(json["links"][0]["attached"], true);
  EXPECT_EQ(json["links"][0]["cgroup"], "/sys/fs/cgroup");
  EXPECT_EQ(json["links"][1]["attached"], false);
  EXPECT_EQ(json["counts"]["node_zone"], "zone-a");
  EXPECT_EQ(json["agent"]["readyz"], 200);
}

XdsView SampleXds() {
  XdsView view{.server = "127.0.0.1:18000",
               .node_id = "node-a",
               .control_plane = "skewless-controlplane",
               .cluster_version = "00ff",
               .node_known = true,
               .node_zone = "zone-a"};
  XdsClusterView& cluster = view.clusters.emplace_back();
  cluster.name = "shop/cart:grpc";
  cluster.cluster_ips = {"10.96.0.10"};
  cluster.port = 80;
  cluster.protocol = "TCP";
  cluster.app_protocol = "grpc";
  cluster.traffic_distribution = "PreferClose";
  cluster.endpoints_received = true;
  cluster.endpoints.push_back({.address = "10.0.0.7",
                               .port = 8080,
                               .zone = "zone-a",
                               .node_name = "node-a",
                               .health = "HEALTHY",
                               .weight = 100});
  XdsClusterView& pending = view.clusters.emplace_back();
  pending.name = "shop/web:80";
  return view;
}

TEST(CtlRenderXds, TextListsClustersThenEndpoints) {
  EXPECT_EQ(RenderXdsText(SampleXds()),
            "control plane skewless-controlplane at 127.0.0.1:18000, asked as skewless-agent "
            "node-a\n"
            "node node-a: zone zone-a\n"
            "clusters: 2 (version 00ff)\n"
            "\n"
            "CLUSTER         VIPS        PORT  PROTOCOL  APP PROTOCOL  TRAFFIC DISTRIBUTION  "
            "   ENDPOINTS\n"
            "shop/cart:grpc  10.96.0.10    80  TCP       grpc          PreferClose           "
            "           1\n"
            "shop/web:80     -              -  -         -             -                     "
            "not received\n"
            "\n"
            "CLUSTER         ENDPOINT       ZONE    NODE    HEALTH   WEIGHT  PRIORITY\n"
            "shop/cart:grpc  10.0.0.7:8080  zone-a  node-a  HEALTHY     100         0\n");
}

TEST(CtlRenderXds, Json) {
  const Json json = XdsJson(SampleXds());
  EXPECT_EQ(json["node"]["zone"], "zone-a");
  EXPECT_EQ(json["clusters"][0]["cluster_ips"][0], "10.96.0.10");
  EXPECT_EQ(json["clusters"][0]["trafficDistribution"], "PreferClose");
  EXPECT_EQ(json["clusters"][0]["endpoints"][0]["health"], "HEALTHY");
  EXPECT_EQ(json["clusters"][1]["endpoints_received"], false);
  EXPECT_TRUE(json["clusters"][1]["port"].is_null());
}

}  // namespace
}  // namespace skewless::ctl
