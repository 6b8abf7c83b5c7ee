// The real skewlessctl binary against a data path the test installed: Steering in the test
// cgroup and pin dir, services written by ServiceTable, connections held by a child in the
// cgroup (counted by sockops), and a stand-in agent for zone names and probes.
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "run_tool.h"
#include "skewless/common/http_server.h"
#include "steer_test_util.h"

namespace skewless::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kVip[] = "198.19.7.1";
constexpr int kHeld = 12;

class SkewlessctlTest : public SteerTest {
 protected:
  void SetUp() override {
    SteerTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // This node is in zone-a; two backends there, one in zone-b.
    ASSERT_TRUE(table_->SetNode({.locality = {.zone = "zone-a", .node_name = "node-1"}}).ok());
    for (const char* ip : {"127.0.0.2", "127.0.0.3", "127.0.0.4"})
      backends_.push_back(ListenOn(ip));
    std::vector<datapath::Endpoint> endpoints;
    for (std::size_t i = 0; i < backends_.size(); ++i) {
      datapath::Endpoint endpoint = EndpointOf(backends_[i]);
      endpoint.zone = i < 2 ? "zone-a" : "zone-b";
      endpoints.push_back(endpoint);
    }
    datapath::ServiceSpec local = Service(kVip, 80, endpoints);
    local.traffic_distribution = datapath::TrafficDistribution::kPreferClose;
    datapath::ServiceSpec udp =
        Service(kVip, 53, {EndpointOf(backends_[0])}, datapath::Protocol::kUdp);
    SKW_ASSERT_OK(table_->Apply({local, udp}));
    StartAgent();
  }

  // Answers like skewless-agent's HTTP server: the table's zone names, healthy and ready.
  void StartAgent() {
    Json zones = Json::object();
    for (const auto& [name, id] : table_->zone_ids()) {
      if (id != 0) zones[absl::StrCat(id)] = name;
    }
    const std::string body =
        Json{{"zones", zones}, {"node", {{"name", "node-1"}, {"zone", "zone-a"}}}}.dump();
    absl::StatusOr<std::unique_ptr<HttpServer>> agent = HttpServer::Start(
        "127.0.0.1:0",
        {{"/debug/zones",
          [body] { return HttpReply{.content_type = "application/json", .body = body}; }},
         {"/healthz", [] { return HttpReply{.body = "ok\n"}; }},
         {"/readyz", [] { return HttpReply{.body = "ok\n"}; }}},
        "agent");
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    agent_url_ = absl::StrCat("http://127.0.0.1:", agent_->port());
  }

  ToolRun Ctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {std::string(SKEWLESS_BIN_DIR) + "/skewlessctl", "--pin-dir",
                                     SteerPinDir(), "--agent", agent_url_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunTool(argv);
  }

  Json CtlJson(std::vector<std::string> args) {
    args.insert(args.end(), {"-o", "json"});
    ToolRun run = Ctl(args);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    Json json = Json::parse(run.out, nullptr, false);
    EXPECT_FALSE(json.is_discarded()) << run.out;
    return json;
  }

  std::string Address(std::size_t i) const {
    return absl::StrCat(backends_[i].ip, ":", backends_[i].port);
  }

  std::vector<Backend> backends_;
  std::unique_ptr<HttpServer> agent_;
  std::string agent_url_;
};

TEST_F(SkewlessctlTest, ServicesListsWhatTheServiceTableWrote) {
  const Json json = CtlJson({"services"});
  ASSERT_EQ(json["services"].size(), 2u);
  const Json& tcp = json["services"][1];
  EXPECT_EQ(tcp["service"], absl::StrCat(kVip, ":80/tcp"));
  EXPECT_EQ(tcp["prefer_local"], true);
  EXPECT_EQ(tcp["preferred"], 2);
  EXPECT_EQ(tcp["ready"], 3);
  EXPECT_EQ(json["services"][0]["service"], absl::StrCat(kVip, ":53/udp"));

  const ToolRun table = Ctl({"services"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, AllOf(HasSubstr("SERVICE"), HasSubstr(absl::StrCat(kVip, ":80/tcp")),
                               HasSubstr("prefer-local")));
}

TEST_F(SkewlessctlTest, BackendsOfAServiceShowTiersAndZoneNames) {
  const Json json = CtlJson({"backends", absl::StrCat(kVip, ":80")});
  ASSERT_EQ(json["backends"].size(), 3u);
  EXPECT_EQ(json["backends"][0]["tier"], "preferred");
  EXPECT_EQ(json["backends"][0]["zone"], "zone-a");
  EXPECT_EQ(json["backends"][2]["tier"], "ready");
  EXPECT_EQ(json["backends"][2]["zone"], "zone-b");
  EXPECT_EQ(absl::StrCat(json["backends"][2]["address"].get<std::string>(), ":",
                         json["backends"][2]["port"].get<int>()),
            Address(2));

  const ToolRun all = Ctl({"backends"});
  EXPECT_EQ(all.exit_code, 0) << all.err;
  EXPECT_THAT(all.out, AllOf(HasSubstr(Address(0)), HasSubstr("zone-b")));
}

TEST_F(SkewlessctlTest, LoadShowsTheConnectionsSockopsCounts) {
  const SockAddr vip = MakeSockAddr(kVip, 80);
  std::unique_ptr<Child> child =
      Child::Start(*cgroup_, [&](ChildPipes pipes) { return HoldConnections(pipes, vip, kHeld); });
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(child->AwaitSignal(20000)) << "the child did not open its connections";
  std::vector<Fd> accepted;
  for (const Backend& backend : backends_) AcceptPending(backend, 200, &accepted);

  const Json json = CtlJson({"load"});
  const Json& tcp = json["services"][1];
  EXPECT_EQ(tcp["active_conns"], kHeld);
  std::uint64_t in_zone_a = 0;
  for (const Json& backend : tcp["backends"]) {
    if (backend["zone"] == "zone-a") in_zone_a += backend["active_conns"].get<std::uint64_t>();
  }
  // 12 connections never overload the preferred tier (spill needs 8 more than the other).
  EXPECT_EQ(in_zone_a, static_cast<std::uint64_t>(kHeld));
  EXPECT_GE(json["reasons"]["p2c-preferred"].get<int>(), kHeld);

  // explain now sees the load: the zone-b backend is idle but outside the preferred tier.
  const Json explain = CtlJson({"explain", absl::StrCat(kVip, ":80")});
  EXPECT_EQ(explain["current"]["tier_reason"], "preferred");
  std::uint64_t active = 0;
  for (const Json& candidate : explain["current"]["candidates"]) {
    active += candidate["active_conns"].get<std::uint64_t>();
  }
  EXPECT_EQ(active, static_cast<std::uint64_t>(kHeld));

  child->SendSignal();
  EXPECT_EQ(child->Wait(), 0);
}

TEST_F(SkewlessctlTest, ExplainUsesTheTiersAndTheZoneOption) {
  const Json json =
      CtlJson({"explain", absl::StrCat(kVip, ":80"), "--zone", "zone-b", "--draws", "2000"});
  EXPECT_EQ(json["node"]["zone"], "zone-a");
  const Json& current = json["current"];
  EXPECT_EQ(current["tier_reason"], "preferred");
  EXPECT_EQ(current["preferred_scope"], "same-zone");
  EXPECT_EQ(current["simulation"]["draws"], 2000);
  EXPECT_EQ(current["simulation"]["reasons"]["p2c-preferred"], 2000);
  const Json& with_zone = json["with_zone"];
  EXPECT_EQ(with_zone["node_zone"], "zone-b");
  EXPECT_EQ(with_zone["preferred"], 1);
  ASSERT_EQ(with_zone["simulation"]["picks"].size(), 1u);
  EXPECT_EQ(with_zone["simulation"]["picks"][0]["address"], backends_[2].ip);

  const ToolRun text = Ctl({"explain", absl::StrCat(kVip, ":80")});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, AllOf(HasSubstr("connects go to the preferred tier of 2"),
                              HasSubstr("a connect now most likely goes to 127.0.0.")));
}

TEST_F(SkewlessctlTest, ExplainOfAnUnknownServiceFails) {
  const ToolRun run = Ctl({"explain", absl::StrCat(kVip, ":81")});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr(absl::StrCat("no service ", kVip, ":81/tcp")));
  EXPECT_EQ(Ctl({"explain", "not-an-address"}).exit_code, 2);
}

TEST_F(SkewlessctlTest, StatusFindsEveryLinkOnTheTestCgroup) {
  const Json json = CtlJson({"status"});
  EXPECT_EQ(json["verdict"], "ok") << json.dump(2);
  ASSERT_EQ(json["links"].size(), datapath::Steering::ProgramNames().size());
  for (const Json& link : json["links"]) {
    EXPECT_EQ(link["attached"], true) << link.dump();
    EXPECT_EQ(link["cgroup"], cgroup_->path()) << link.dump();
    EXPECT_GT(link["program_id"].get<int>(), 0);
  }
  EXPECT_EQ(json["counts"]["services"], 2);
  EXPECT_EQ(json["counts"]["node_zone"], "zone-a");
  EXPECT_EQ(json["agent"]["readyz"], 200);

  const ToolRun text = Ctl({"status"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, AllOf(HasSubstr("verdict: ok: steering 2 services"),
                              HasSubstr(cgroup_->path()), HasSubstr("skw_connect4")));
}

TEST_F(SkewlessctlTest, StatusIsDegradedWithoutTheAgent) {
  agent_->Stop();
  const ToolRun run = Ctl({"status"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, AllOf(HasSubstr("verdict: degraded"), HasSubstr("does not answer")));
  // Without the agent, zones are shown as ids.
  const ToolRun backends = Ctl({"backends"});
  EXPECT_THAT(backends.out, HasSubstr("zones are ids"));
}

TEST_F(SkewlessctlTest, AnEmptyPinDirOnBpffsIsExitCodeThree) {
  const std::string empty = TestBpffsDir() + "/empty";
  ASSERT_EQ(mkdir(empty.c_str(), 0700), 0) << std::strerror(errno);
  const ToolRun run = RunTool({std::string(SKEWLESS_BIN_DIR) + "/skewlessctl", "--pin-dir", empty,
                               "--agent", "", "services"});
  rmdir(empty.c_str());
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_THAT(run.err, AllOf(HasSubstr(absl::StrCat("looked in: ", empty)),
                             HasSubstr("holds none of the data path's maps"),
                             HasSubstr("start skewless-agent")));
  EXPECT_TRUE(run.out.empty());
}

TEST_F(SkewlessctlTest, APinDirOffBpffsIsExitCodeThreeForEveryCommand) {
  for (const std::vector<std::string>& command : std::vector<std::vector<std::string>>{
           {"services"}, {"backends"}, {"load"}, {"explain", "10.0.0.1:80"}, {"status"}}) {
    std::vector<std::string> argv = {std::string(SKEWLESS_BIN_DIR) + "/skewlessctl", "--pin-dir",
                                     "/run/skewless-no-such-pin-dir", "--agent", ""};
    argv.insert(argv.end(), command.begin(), command.end());
    const ToolRun run = RunTool(argv);
    EXPECT_EQ(run.exit_code, 3) << command[0] << ": " << run.err;
    EXPECT_THAT(run.err + run.out, HasSubstr("looked in: /run/skewless-no-such-pin-dir"))
        << command[0];
  }
}

}  // namespace
}  // namespace skewless::testing
