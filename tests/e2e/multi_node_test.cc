// A multi-node lab: 2 zones × 2 nodes × 1 client over 4 pods. For skewless, one real
// skewless-controlplane feeds one real skewless-agent per node; every node's client
// lands on a pod through its own agent's maps, a pod leaving the slice reaches every
// agent, and teardown leaves nothing. The kube-proxy baselines serve the same topology.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "lab_fixture.h"
#include "nlohmann/json.hpp"
#include "skewless/abi.h"
#include "skewless/lab/node.h"
#include "skewless/lab/node_maps.h"
#include "skewless/lab/scenario.h"

namespace skewless::lab {
namespace {

using namespace skewless::lab::testing;
using std::chrono::milliseconds;
using ::testing::IsEmpty;

constexpr char kVip[] = "198.19.0.10";

LabConfig TwoByTwo(Dataplane dataplane, const std::string& id) {
  LabConfig config;
  config.id = id;
  config.zones = {"zone-a", "zone-b"};
  config.pods_per_zone = {2, 2};
  config.nodes_per_zone = 2;
  config.clients_per_node = 1;
  config.dataplane = dataplane;
  config.traffic_distribution = "PreferClose";
  config.concurrency = 2;
  config.duration = milliseconds(1500);
  return config;
}

class MultiNode : public ::testing::Test {
 protected:
  void SetUp() override {
    SKEWLESS_REQUIRE_ROOT();
    NodeOptions options;
    options.state_dir = TestStateDir();
    options.bin_dir = SKEWLESS_BIN_DIR;
    LabConfig config = TwoByTwo(Dataplane::kSkewless, "m" + std::to_string(getpid() % 100000));
    // Not the default, so the maps prove the annotation came through the file.
    config.lb_policy = "random";
    auto node = Node::Create(config, options);
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
  }
  void TearDown() override {
    held_.clear();
    node_.reset();
    std::filesystem::remove_all(TestStateDir());
  }

  // One TCP connection to the VIP from `node`'s namespace and cgroup, held open.
  void Hold(const std::string& node) {
    auto child = node_->SpawnClient(
        node,
        {"/bin/bash", "-c",
         absl::StrCat("exec 3<>/dev/tcp/", kVip, "/8080 || exit 1; echo HELD; exec sleep 600")},
        "hold-" + node);
    ASSERT_TRUE(child.ok()) << child.status();
    auto line = child->ReadLine(milliseconds(10000));
    ASSERT_TRUE(line.ok()) << line.status() << " " << child->LogTail();
    ASSERT_EQ(*line, "HELD");
    held_.push_back(*std::move(child));
  }

  ProgrammedService Programmed(const std::string& node) {
    auto service = ReadProgrammedService(node_->PinDir(node), kVip, 8080);
    EXPECT_TRUE(service.ok()) << node << ": " << service.status();
    return service.ok() ? *service : ProgrammedService{};
  }

  std::string ZoneOf(const std::string& ip) {
    for (const auto& pod : node_->plan().pods) {
      if (pod.ip == ip) return pod.zone;
    }
    return "?";
  }

  std::unique_ptr<Node> node_;
  std::vector<Child> held_;
};

TEST_F(MultiNode, EveryNodesClientLandsOnAPodOfItsZoneThroughItsOwnAgentsMaps) {
  const auto& clients = node_->plan().clients;
  ASSERT_EQ(clients.size(), 4u);
  for (const auto& client : clients) {
    ProgrammedService service = Programmed(client.node);
    ASSERT_TRUE(service.found) << "the agent of " << client.node << " holds no Service";
    EXPECT_EQ(service.n_ready, 4u) << client.node;
    EXPECT_EQ(service.n_preferred, 2u) << client.node << ": PreferClose came through the file";
    EXPECT_EQ(service.lb_policy, SKW_LB_RANDOM) << client.node << ": skewless.io/load-balancing";
    for (uint32_t i = 0; i < service.n_preferred; ++i) {
      EXPECT_EQ(ZoneOf(service.backends[i].address), client.zone) << client.node;
    }
  }
  // One real gRPC client per node (skewless-loadgen, one persistent channel), all at once.
  std::vector<Child> loadgens;
  for (const auto& client : clients) {
    auto child =
        node_->SpawnClient(client.node,
                           {std::string(SKEWLESS_BIN_DIR) + "/skewless-loadgen", "--target",
                            absl::StrCat(kVip, ":8080"), "--clients", "1", "--concurrency", "1",
                            "--duration", "3000ms", "--zone", client.zone, "--quiet"},
                           "loadgen-" + client.node);
    ASSERT_TRUE(child.ok()) << child.status();
    loadgens.push_back(*std::move(child));
  }
  // Each node's sockops counts exactly its own client's connection, on a pod of its
  // zone: the connect went through that node's maps, not another's.
  for (const auto& client : clients) {
    uint64_t total = 0;
    const auto deadline = std::chrono::steady_clock::now() + milliseconds(2500);
    while (total == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(50));
      total = 0;
      for (const auto& backend : Programmed(client.node).backends) total += backend.active_conns;
    }
    EXPECT_EQ(total, 1u) << client.node;
    for (const auto& backend : Programmed(client.node).backends) {
      if (backend.active_conns > 0) {
        EXPECT_EQ(ZoneOf(backend.address), client.zone) << client.node;
      }
    }
  }
  for (auto& loadgen : loadgens) {
    auto out = loadgen.ReadAll(milliseconds(15000));
    ASSERT_TRUE(out.ok()) << out.status() << loadgen.LogTail();
    auto json = nlohmann::json::parse(*out, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(json.is_object()) << loadgen.name() << ": " << *out << loadgen.LogTail();
    EXPECT_EQ(json.value("errors", uint64_t{1}), 0u) << loadgen.name();
    EXPECT_GT(json.value("rpcs", uint64_t{0}), 0u) << loadgen.name();
  }
  auto counters = node_->StopPods();
  ASSERT_TRUE(counters.ok()) << counters.status();
  uint64_t connections = 0;
  for (const auto& pod : *counters) connections += pod.connections_seen;
  EXPECT_EQ(connections, 4u) << "the pods saw every node's one connection";
}

TEST_F(MultiNode, APodLeavingTheSliceReachesEveryAgentAndNewConnectionsAvoidIt) {
  ASSERT_TRUE(node_->SetPodEndpoint(0, PodEndpoint::kRemoved).ok());
  const std::string gone = node_->plan().pods[0].ip;
  for (const auto& client : node_->plan().clients) {
    ProgrammedService service = Programmed(client.node);
    EXPECT_EQ(service.n_ready, 3u) << client.node;
    for (const auto& backend : service.backends) EXPECT_NE(backend.address, gone) << client.node;
  }
  // Both zone-a nodes now share zone-a's one remaining pod.
  Hold("zone-a-0");
  Hold("zone-a-1");
  for (const char* node : {"zone-a-0", "zone-a-1"}) {
    for (const auto& backend : Programmed(node).backends) {
      EXPECT_EQ(backend.active_conns, backend.address == node_->plan().pods[1].ip ? 1u : 0u)
          << node << " " << backend.address;
    }
  }
}

TEST_F(MultiNode, TeardownLeavesNoAgentControlPlaneNamespaceCgroupOrPin) {
  const std::string id = node_->id();
  auto state = LoadState(StatePath(TestStateDir(), id));
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->bpffs_mounts.size(), 1u);
  const std::string bpffs = state->bpffs_mounts[0];
  // 4 pods, the control plane and 4 agents.
  EXPECT_EQ(state->processes.size(), 4u + 1u + 4u);
  EXPECT_EQ(NetnsOfRun(id).size(), 1u + 4u + 4u);
  EXPECT_TRUE(Mounted(bpffs));
  const std::string cgroup = node_->client_cgroup();

  ASSERT_TRUE(node_->Destroy().ok());
  EXPECT_THAT(NetnsOfRun(id), IsEmpty());
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(cgroup).parent_path()));
  for (const auto& p : state->processes) EXPECT_FALSE(ProcessExists(p.pid)) << p.pid;
  EXPECT_FALSE(Mounted(bpffs));
  EXPECT_FALSE(std::filesystem::exists(bpffs));
  EXPECT_FALSE(std::filesystem::exists(StatePath(TestStateDir(), id)));
}

// The whole run, per dataplane, over the same 4 nodes: every client's calls succeed and
// reach the pods, and nothing of the run is left.
class MultiNodeRun : public ::testing::TestWithParam<Dataplane> {
 protected:
  void SetUp() override { SKEWLESS_REQUIRE_ROOT(); }
  void TearDown() override { std::filesystem::remove_all(TestStateDir()); }
};

TEST_P(MultiNodeRun, EveryNodesClientIsServedAndNothingIsLeft) {
  const std::string id = absl::StrCat("r", getpid() % 100000, "x").substr(0, 8);
  ScenarioOptions options;
  options.state_dir = TestStateDir();
  options.bin_dir = SKEWLESS_BIN_DIR;
  auto report = RunOnce(TwoByTwo(GetParam(), id), options, nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->clients, 4);
  EXPECT_EQ(report->errors, 0u);
  EXPECT_GT(report->requests, 100u);
  EXPECT_EQ(report->server_requests, report->client_requests_including_warmup);
  if (GetParam() == Dataplane::kSkewlessL7) {
    // Each node's splicer picks a pod per call: no client's one connection is tied to a pod.
    EXPECT_EQ(report->clients_on_one_pod, 0);
  }
  EXPECT_THAT(NetnsOfRun(id), IsEmpty());
  EXPECT_TRUE(ListStates(TestStateDir()).empty());
}

INSTANTIATE_TEST_SUITE_P(Dataplanes, MultiNodeRun,
                         ::testing::Values(Dataplane::kIptables, Dataplane::kNftables,
                                           Dataplane::kSkewlessL7),
                         [](const auto& info) {
                           std::string name = DataplaneName(info.param);
                           std::erase(name, '-');
                           return name;
                         });

}  // namespace
}  // namespace skewless::lab
