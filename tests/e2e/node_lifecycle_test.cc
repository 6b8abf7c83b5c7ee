// The lab node: pods reachable directly and through the baseline VIP, and
// teardown (normal, or `cleanup` after kill -9) leaves nothing behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

#include "lab_fixture.h"
#include "skewless/lab/node.h"
#include "skewless/lab/state.h"

namespace skewless::lab {
namespace {

using namespace skewless::lab::testing;
using ::testing::IsEmpty;

LabConfig SmallLab(Dataplane dataplane) {
  LabConfig config;
  config.id = "t" + std::to_string(getpid() % 100000);
  config.zones = {"zone-a", "zone-b"};
  config.pods_per_zone = {2, 1};
  config.clients = 2;
  config.dataplane = dataplane;
  return config;
}

NodeOptions Options() {
  NodeOptions options;
  options.state_dir = TestStateDir();
  return options;
}

class NodeLifecycle : public ::testing::TestWithParam<Dataplane> {
 protected:
  void SetUp() override { SKEWLESS_REQUIRE_ROOT(); }
  void TearDown() override { std::filesystem::remove_all(TestStateDir()); }
};

TEST_P(NodeLifecycle, PodsReachableDirectlyAndThroughTheServiceVip) {
  auto node = Node::Create(SmallLab(GetParam()), Options());
  ASSERT_TRUE(node.ok()) << node.status();
  const auto& plan = (*node)->plan();
  const std::string client_ns = ClientNetns(plan.id, plan.clients[0].node);
  for (const auto& pod : plan.pods) {
    EXPECT_TRUE(TcpConnectFrom(client_ns, pod.ip, 8080).ok()) << pod.name;
  }
  // The second client namespace reaches them too (its own routed link).
  EXPECT_TRUE(
      TcpConnectFrom(ClientNetns(plan.id, plan.clients[1].node), plan.pods[0].ip, 8080).ok());
  EXPECT_TRUE(TcpConnectFrom(client_ns, "198.19.0.10", 8080).ok()) << "VIP via the baseline";
  EXPECT_FALSE(TcpConnectFrom(client_ns, "198.19.0.10", 9999).ok()) << "only the Service port";
}

TEST_P(NodeLifecycle, DestroyLeavesNoNamespaceCgroupProcessOrRecord) {
  int host_rules_before = CountHostKubeRules();
  auto node = Node::Create(SmallLab(GetParam()), Options());
  ASSERT_TRUE(node.ok()) << node.status();
  const std::string id = (*node)->id();
  const std::string cgroup = (*node)->client_cgroup();
  auto state = LoadState(StatePath(TestStateDir(), id));
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->processes.size(), 3u) << "one pod server per pod is recorded";
  EXPECT_EQ(NetnsOfRun(id).size(), 1u + 3u + 2u);
  EXPECT_TRUE(std::filesystem::exists(cgroup));

  ASSERT_TRUE((*node)->Destroy().ok());
  EXPECT_THAT(NetnsOfRun(id), IsEmpty());
  EXPECT_FALSE(std::filesystem::exists(cgroup));
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(cgroup).parent_path()));
  for (const auto& p : state->processes) EXPECT_FALSE(ProcessExists(p.pid)) << p.pid;
  EXPECT_FALSE(std::filesystem::exists(StatePath(TestStateDir(), id)));
  EXPECT_EQ(CountHostKubeRules(), host_rules_before) << "the host's own tables are never touched";
}

INSTANTIATE_TEST_SUITE_P(Baselines, NodeLifecycle,
                         ::testing::Values(Dataplane::kIptables, Dataplane::kNftables),
                         [](const auto& info) { return std::string(DataplaneName(info.param)); });

TEST(NodeCreate, NameClashWithAnExistingNamespaceCreatesNothingAndTouchesNothing) {
  SKEWLESS_REQUIRE_ROOT();
  LabConfig config = SmallLab(Dataplane::kIptables);
  config.id = "c" + std::to_string(getpid() % 100000);
  const std::string squatter = PodNetns(config.id, "pod-1");
  ASSERT_TRUE(RunCommand({"ip", "netns", "add", squatter}).ok());
  auto node = Node::Create(config, Options());
  ASSERT_FALSE(node.ok());
  EXPECT_NE(node.status().message().find("--id"), std::string::npos) << node.status();
  EXPECT_THAT(NetnsOfRun(config.id), ::testing::ElementsAre(squatter)) << "only the squatter";
  EXPECT_FALSE(std::filesystem::exists(StatePath(TestStateDir(), config.id)));
  ASSERT_TRUE(RunCommand({"ip", "netns", "delete", squatter}).ok());
  std::filesystem::remove_all(TestStateDir());
}

}  // namespace
}  // namespace skewless::lab
