// skewless-lab as an SRE runs it: Ctrl-C and kill -9 leave nothing behind
// (the latter after `skewless-lab cleanup`), bad flags create nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "lab_fixture.h"
#include "skewless/common/cgroup.h"
#include "skewless/lab/state.h"

namespace skewless::lab {
namespace {

using namespace skewless::lab::testing;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kLab = std::string(SKEWLESS_BIN_DIR) + "/skewless-lab";

class LabCli : public ::testing::Test {
 protected:
  void SetUp() override {
    SKEWLESS_REQUIRE_ROOT();
    // The lab's children outlive a kill -9 of it for a moment; as their
    // subreaper this test reaps them instead of leaving zombies on init.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    id_ = "k" + std::to_string(getpid() % 100000);
    cgroup_ = absl::StrCat(*FindCgroup2Mount(), "/skewless-lab-", id_);
  }
  void TearDown() override {
    // Whatever a failed assertion left: remove it through the tool itself.
    (void)RunCommand({kLab, "cleanup", "--force", "--state-dir", TestStateDir()});
    std::filesystem::remove_all(TestStateDir());
    std::filesystem::remove(TestStateDir() + "-lab.log");
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }

  absl::StatusOr<Child> Start(std::vector<std::string> args) {
    SpawnOptions spawn;
    spawn.argv = {kLab};
    spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
    spawn.argv.insert(spawn.argv.end(), {"--id", id_, "--state-dir", TestStateDir()});
    spawn.log_path = TestStateDir() + "-lab.log";
    std::filesystem::create_directories(TestStateDir());
    return Child::Spawn(spawn);
  }

  // Waits until the run is under load: its loadgens are in the client cgroup.
  bool WaitForLoad() {
    for (int i = 0; i < 300; ++i) {
      auto state = LoadState(StatePath(TestStateDir(), id_));
      // pods (3 by default in this test) + one loadgen per client namespace
      if (state.ok() && state->processes.size() >= 3 + 2) return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }

  void ExpectNothingLeft(const std::vector<RecordedProcess>& processes) {
    EXPECT_THAT(NetnsOfRun(id_), IsEmpty());
    EXPECT_FALSE(std::filesystem::exists(cgroup_)) << cgroup_;
    for (const auto& p : processes) EXPECT_FALSE(IsAlive(p)) << "pid " << p.pid;
    EXPECT_FALSE(std::filesystem::exists(StatePath(TestStateDir(), id_)));
  }

  std::string id_;
  std::string cgroup_;
  const std::vector<std::string> kRun = {
      "run", "--zones", "zone-a,zone-b", "--pods",     "3",  "--clients",
      "4",   "--rate",  "200",           "--duration", "60s"};
};

TEST_F(LabCli, KillNineThenCleanupRemovesEverythingTheRunCreated) {
  int host_rules_before = CountHostKubeRules();
  auto lab = Start(kRun);
  ASSERT_TRUE(lab.ok()) << lab.status();
  ASSERT_TRUE(WaitForLoad()) << lab->LogTail();
  auto state = LoadState(StatePath(TestStateDir(), id_));
  ASSERT_TRUE(state.ok());
  lab->Signal(SIGKILL);
  ASSERT_TRUE(lab->Wait(milliseconds(5000)).ok());
  EXPECT_FALSE(NetnsOfRun(id_).empty()) << "a killed lab cannot clean up itself";

  auto cleanup = RunCommand({kLab, "cleanup", "--state-dir", TestStateDir()});
  ASSERT_TRUE(cleanup.ok()) << cleanup.status();
  EXPECT_THAT(cleanup->stdout_text, HasSubstr("removed lab run " + id_));
  ExpectNothingLeft(state->processes);
  EXPECT_EQ(CountHostKubeRules(), host_rules_before);

  auto again = RunCommand({kLab, "cleanup", "--state-dir", TestStateDir()});
  ASSERT_TRUE(again.ok());
  EXPECT_THAT(again->stdout_text, HasSubstr("nothing to clean up"));
}

TEST_F(LabCli, KillNineOfASkewlessRunThenCleanupRemovesItsDataPath) {
  // Three nodes: three agents' data paths pinned, each in its own directory.
  auto lab = Start({"up", "--dataplane", "skewless", "--zones", "zone-a,zone-b", "--pods", "2",
                    "--nodes-per-zone", "2", "--clients", "3"});
  ASSERT_TRUE(lab.ok()) << lab.status();
  auto ready = lab->ReadLine(milliseconds(40000));
  ASSERT_TRUE(ready.ok()) << ready.status() << lab->LogTail();
  auto state = LoadState(StatePath(TestStateDir(), id_));
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->bpffs_mounts.size(), 1u);
  const std::string bpffs = state->bpffs_mounts[0];
  EXPECT_TRUE(Mounted(bpffs));
  for (const char* node : {"zone-a-0", "zone-b-0", "zone-a-1"}) {
    EXPECT_TRUE(std::filesystem::exists(absl::StrCat(bpffs, "/", node, "/links")))
        << node << "'s agent pinned nothing";
  }
  lab->Signal(SIGKILL);
  ASSERT_TRUE(lab->Wait(milliseconds(5000)).ok());
  EXPECT_TRUE(Mounted(bpffs)) << "pinned: the data path outlives a killed lab";

  auto cleanup = RunCommand({kLab, "cleanup", "--state-dir", TestStateDir()});
  ASSERT_TRUE(cleanup.ok()) << cleanup.status();
  ExpectNothingLeft(state->processes);
  EXPECT_FALSE(Mounted(bpffs));
  EXPECT_FALSE(std::filesystem::exists(bpffs));
}

TEST_F(LabCli, CtrlCTearsDownAndExitsWithInterrupted) {
  auto lab = Start(kRun);
  ASSERT_TRUE(lab.ok()) << lab.status();
  ASSERT_TRUE(WaitForLoad()) << lab->LogTail();
  auto state = LoadState(StatePath(TestStateDir(), id_));
  ASSERT_TRUE(state.ok());
  lab->Signal(SIGINT);
  auto code = lab->Wait(milliseconds(20000));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 3) << lab->LogTail();
  ExpectNothingLeft(state->processes);
}

TEST_F(LabCli, CtrlCWhileAgentsStartTearsDownAndExitsWithInterrupted) {
  auto lab = Start({"up", "--dataplane", "skewless", "--zones", "zone-a,zone-b", "--pods", "2",
                    "--nodes-per-zone", "2", "--clients-per-node", "1"});
  ASSERT_TRUE(lab.ok()) << lab.status();
  // Interrupt as soon as the agents are spawned (the lab records them before it waits).
  std::optional<RunState> state;
  for (int i = 0; i < 400 && !state; ++i) {
    auto loaded = LoadState(StatePath(TestStateDir(), id_));
    // 1 control plane + 4 agents, before the pods
    if (loaded.ok() && loaded->processes.size() >= 5) state = *loaded;
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_TRUE(state) << lab->LogTail();
  lab->Signal(SIGINT);
  auto code = lab->Wait(milliseconds(20000));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 3) << lab->LogTail();
  ExpectNothingLeft(state->processes);
  for (const auto& bpffs : state->bpffs_mounts) EXPECT_FALSE(Mounted(bpffs)) << bpffs;
}

TEST_F(LabCli, CleanupLeavesARunWhoseLabIsStillAlive) {
  auto lab = Start({"up", "--pods", "1", "--clients", "1"});
  ASSERT_TRUE(lab.ok()) << lab.status();
  auto ready = lab->ReadLine(milliseconds(20000));
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(*ready, "READY " + id_);
  auto cleanup = RunCommand({kLab, "cleanup", "--state-dir", TestStateDir()});
  ASSERT_TRUE(cleanup.ok()) << cleanup.status();
  EXPECT_THAT(cleanup->stdout_text, HasSubstr("skipped lab run " + id_));
  EXPECT_FALSE(NetnsOfRun(id_).empty());
  lab->Signal(SIGTERM);
  auto code = lab->Wait(milliseconds(20000));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
  EXPECT_THAT(NetnsOfRun(id_), IsEmpty());
}

TEST_F(LabCli, DemoRunsEveryPhaseExitsZeroAndLeavesNothing) {
  int host_rules_before = CountHostKubeRules();
  auto demo = RunCommand({kLab, "demo", "--duration", "1s", "--pods", "2", "--clients", "2", "--id",
                          id_, "--state-dir", TestStateDir()});
  ASSERT_TRUE(demo.ok()) << demo.status();
  EXPECT_THAT(demo->stdout_text, HasSubstr("== kube-proxy iptables:"));
  EXPECT_THAT(demo->stdout_text, HasSubstr("== kube-proxy nftables:"));
  EXPECT_THAT(demo->stdout_text, HasSubstr("== skewless L4 least-request node-local:"));
  EXPECT_THAT(demo->stdout_text, HasSubstr("== skewless L4 least-loaded cluster-wide:"));
  EXPECT_THAT(demo->stdout_text, HasSubstr("== skewless L7:"));
  EXPECT_THAT(demo->stdout_text, ::testing::Not(HasSubstr("PreferClose")))
      << "the demo's verdict needs no zone preference";
  EXPECT_THAT(demo->stderr_text, HasSubstr("starting 2 client nodes 1.0 s apart"))
      << "the demo's clients arrive as a rollout";
  EXPECT_THAT(demo->stdout_text, HasSubstr("side by side"));
  EXPECT_THAT(demo->stdout_text, HasSubstr("== verdict =="));
  for (const char* phase : {"i", "n", "s", "c", "l"}) {
    EXPECT_THAT(NetnsOfRun(id_ + phase), IsEmpty());
  }
  EXPECT_TRUE(ListStates(TestStateDir()).empty());
  EXPECT_EQ(CountHostKubeRules(), host_rules_before);
}

struct BadFlags {
  std::string name;  // names the test case
  std::vector<std::string> args;
  std::string message;
};
void PrintTo(const BadFlags& bad, std::ostream* out) { *out << bad.name; }

class LabCliRejects : public LabCli, public ::testing::WithParamInterface<BadFlags> {};

TEST_P(LabCliRejects, WithExitTwoANamedFlagAndNothingCreated) {
  std::vector<std::string> argv = {kLab, "run"};
  argv.insert(argv.end(), GetParam().args.begin(), GetParam().args.end());
  argv.insert(argv.end(), {"--id", id_, "--state-dir", TestStateDir()});
  auto result = RunCommand(argv);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("exited 2"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(GetParam().message));
  EXPECT_THAT(NetnsOfRun(id_), IsEmpty());
  EXPECT_FALSE(std::filesystem::exists(cgroup_));
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, LabCliRejects,
    ::testing::Values(
        BadFlags{"ZeroPods", {"--pods-per-zone", "0,0,0"}, "at least 1 pod"},
        BadFlags{"UnknownClientZone", {"--client-zones", "zone-x"}, "--client-zones: unknown zone"},
        BadFlags{"DurationWithoutUnit", {"--duration", "ten"}, "--duration"},
        BadFlags{"SlowPodWithoutFactor", {"--slow-pod", "pod-1"}, "--slow-pod"},
        BadFlags{"UnknownDataplane", {"--dataplane", "ipvs"}, "--dataplane"},
        BadFlags{"WebSocketThroughTheSplicer",
                 {"--workload", "websocket", "--dataplane", "skewless-l7"},
                 "--workload websocket: --dataplane skewless-l7 cannot help it"},
        BadFlags{"ClientsAndClientsPerNode",
                 {"--clients", "4", "--clients-per-node", "1"},
                 "--clients and --clients-per-node conflict"},
        BadFlags{"ZeroNodesPerZone", {"--nodes-per-zone", "0"}, "--nodes-per-zone"},
        BadFlags{"StaggerWithoutUnit", {"--client-stagger", "2"}, "--client-stagger"},
        BadFlags{
            "StaggerTooLong", {"--client-stagger", "2m"}, "--client-stagger: expected 0 to 60 s"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace skewless::lab
