// The loader's lifecycle on the real kernel: survive the agent, adopt without a gap, uninstall.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "skewless/datapath/feature_probe.h"
#include "steer_test_util.h"
#include "test_cgroup.h"

namespace skewless::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAreArray;

constexpr bpf_attach_type kSteeringHooks[] = {
    BPF_CGROUP_INET4_CONNECT,     BPF_CGROUP_INET6_CONNECT,     BPF_CGROUP_UDP4_SENDMSG,
    BPF_CGROUP_UDP6_SENDMSG,      BPF_CGROUP_UDP4_RECVMSG,      BPF_CGROUP_UDP6_RECVMSG,
    BPF_CGROUP_INET4_GETPEERNAME, BPF_CGROUP_INET6_GETPEERNAME, BPF_CGROUP_SOCK_OPS,
    BPF_CGROUP_GETSOCKOPT,
};

// Program ids attached to `cgroup_path`, over every hook the data path uses.
std::vector<std::uint32_t> AttachedPrograms(const std::string& cgroup_path) {
  Fd cgroup(open(cgroup_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  std::vector<std::uint32_t> all;
  for (bpf_attach_type type : kSteeringHooks) {
    std::uint32_t ids[8] = {};
    std::uint32_t count = 8;
    std::uint32_t flags = 0;
    const int err = bpf_prog_query(cgroup.get(), type, 0, &flags, ids, &count);
    EXPECT_EQ(err, 0) << "bpf_prog_query: " << std::strerror(-err);
    all.insert(all.end(), ids, ids + (err == 0 ? count : 0));
  }
  return all;
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// Child body: holds `count` connections; once told, checks each still
// carries the byte the parent wrote on its end, then closes them.
int HoldAndVerify(ChildPipes pipes, const SockAddr& vip, int count) {
  static int held[256];
  for (int i = 0; i < count; ++i) {
    held[i] = ConnectWithTimeout(AF_INET, SOCK_STREAM, vip);
    if (held[i] < 0) return 10;
  }
  Signal(pipes.to_parent);
  if (!Await(pipes.from_parent)) return 11;
  for (int i = 0; i < count; ++i) {
    timeval timeout{.tv_sec = 2, .tv_usec = 0};
    setsockopt(held[i], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    char byte = 0;
    if (read(held[i], &byte, 1) != 1 || byte != 'p') return 12;
    close(held[i]);
  }
  return 0;
}

// Child body: connects in a loop until told to stop; 0 if every one worked.
constexpr int kConnectFailedBase = 100;

int ConnectUntilStopped(ChildPipes pipes, const SockAddr& vip) {
  pollfd stop{.fd = pipes.from_parent, .events = POLLIN, .revents = 0};
  while (poll(&stop, 1, 0) == 0) {
    const int fd = ConnectWithTimeout(AF_INET, SOCK_STREAM, vip);
    if (fd < 0) return kConnectFailedBase + std::min(-fd, 155);  // the errno, for the report
    close(fd);
    // 200 a second: nobody accepts while the restart runs, and on a slow (emulated) kernel
    // a restart of seconds would otherwise fill the backends' accept queues, and a connect
    // dropped there is no failure of the data path.
    usleep(5000);
  }
  return 0;
}

class SteerLifecycleTest : public SteerTest {};

TEST_F(SteerLifecycleTest, EveryProgramIsAttachedThroughAPinnedLink) {
  absl::StatusOr<std::vector<datapath::AttachedProgram>> programs = steering_->Programs();
  ASSERT_TRUE(programs.ok()) << programs.status();
  std::vector<std::string> names;
  std::vector<std::uint32_t> ids;
  for (const datapath::AttachedProgram& program : *programs) {
    names.push_back(program.name);
    ids.push_back(program.program_id);
    EXPECT_TRUE(PathExists(SteerPinDir() + "/links/" + program.name)) << program.name;
  }
  EXPECT_THAT(names, UnorderedElementsAreArray(datapath::Steering::ProgramNames()));
  EXPECT_THAT(AttachedPrograms(cgroup_->path()), UnorderedElementsAreArray(ids));
  for (const std::string& map : datapath::Steering::MapNames()) {
    EXPECT_TRUE(PathExists(SteerPinDir() + "/" + map)) << map;
  }
}

TEST_F(SteerLifecycleTest, UninstallLeavesNoProgramAttachedAndNoPin) {
  ASSERT_THAT(AttachedPrograms(cgroup_->path()), SizeIs(std::size(kSteeringHooks)));
  absl::Status uninstalled = steering_->Uninstall();
  ASSERT_TRUE(uninstalled.ok()) << uninstalled;
  EXPECT_THAT(AttachedPrograms(cgroup_->path()), IsEmpty());
  EXPECT_FALSE(PathExists(SteerPinDir()));
}

TEST_F(SteerLifecycleTest, DestroyingWithoutUninstallKeepsTheDataPathSteering) {
  Backend backend = ListenOn("127.0.0.1");
  SKW_ASSERT_OK(table_->Apply({Service("198.19.2.1", 80, {EndpointOf(backend)})}));
  table_.reset();
  steering_.reset();  // the agent is gone

  EXPECT_THAT(AttachedPrograms(cgroup_->path()), SizeIs(std::size(kSteeringHooks)));
  const SockAddr vip = MakeSockAddr("198.19.2.1", 80);
  std::unique_ptr<Child> child = Child::Start(*cgroup_, [&](ChildPipes) {
    const int fd = ConnectWithTimeout(AF_INET, SOCK_STREAM, vip);
    return fd < 0 ? 1 : 0;
  });
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(AcceptPending(backend, 2000), 1);
  EXPECT_EQ(child->Wait(), 0);
  Restart();  // so TearDown can uninstall
  EXPECT_TRUE(steering_->adopted());
}

TEST_F(SteerLifecycleTest, ARestartMidTrafficDropsNoConnectionAndKeepsSteering) {
  std::vector<Backend> backends;
  backends.push_back(ListenOn("127.0.0.1"));
  backends.push_back(ListenOn("127.0.0.2"));
  const std::vector<datapath::ServiceSpec> desired = {
      Service("198.19.2.2", 80, {EndpointOf(backends[0]), EndpointOf(backends[1])})};
  SKW_ASSERT_OK(table_->Apply(desired));
  const SockAddr vip = MakeSockAddr("198.19.2.2", 80);
  absl::StatusOr<std::vector<datapath::AttachedProgram>> before = steering_->Programs();
  ASSERT_TRUE(before.ok()) << before.status();

  constexpr int kHeld = 50;
  std::unique_ptr<Child> holder =
      Child::Start(*cgroup_, [&](ChildPipes pipes) { return HoldAndVerify(pipes, vip, kHeld); });
  ASSERT_NE(holder, nullptr);
  ASSERT_TRUE(holder->AwaitSignal(30000));
  std::vector<Fd> held;
  for (const Backend& backend : backends) AcceptPending(backend, 200, &held);
  ASSERT_EQ(held.size(), static_cast<std::size_t>(kHeld));

  // A second child keeps connecting through the whole restart. It is not
  // recorded for Ctrl-C cleanup (one child is); OwnedCgroup kills it anyway.
  std::unique_ptr<Child> dialer =
      Child::Start(*cgroup_, [&](ChildPipes pipes) { return ConnectUntilStopped(pipes, vip); });
  ASSERT_NE(dialer, nullptr);
  for (const Backend& backend : backends) AcceptPending(backend, 100);

  Restart();
  EXPECT_TRUE(steering_->adopted());
  absl::StatusOr<std::vector<datapath::AttachedProgram>> after = steering_->Programs();
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), before->size());
  for (const datapath::AttachedProgram& old_program : *before) {
    auto same = std::find_if(after->begin(), after->end(),
                             [&](const auto& p) { return p.name == old_program.name; });
    ASSERT_NE(same, after->end()) << old_program.name;
    EXPECT_EQ(same->link_id, old_program.link_id) << "the pinned link was replaced, not updated";
    EXPECT_NE(same->program_id, old_program.program_id) << "the new program was not swapped in";
  }
  // The recovered table already matches: nothing to write.
  SKW_ASSERT_OK(table_->Apply(desired));
  EXPECT_EQ(table_->write_counts().total(), 0u);

  // Steering continues after the restart, and load counts survived it.
  int accepted_after = 0;
  for (int round = 0; round < 20 && accepted_after == 0; ++round) {
    for (const Backend& backend : backends) accepted_after += AcceptPending(backend, 50);
  }
  EXPECT_GT(accepted_after, 0);
  dialer->SendSignal();
  const int dialed = dialer->Wait();
  EXPECT_EQ(dialed, 0) << "a connect failed during the restart: "
                       << (dialed >= kConnectFailedBase ? std::strerror(dialed - kConnectFailedBase)
                                                        : "exit " + std::to_string(dialed));
  // The dialer's last sockets close asynchronously; the held ones stay counted.
  std::uint64_t active = 0;
  for (int tries = 0; tries < 50; ++tries) {
    active = 0;
    for (const Backend& backend : backends) {
      absl::StatusOr<skw_backend_load> load =
          steering_->BackendLoad(*table_->BackendId(backend.ip, backend.port));
      ASSERT_TRUE(load.ok()) << load.status();
      active += load->active_conns;
    }
    if (active == static_cast<std::uint64_t>(kHeld)) break;
    usleep(20000);
  }
  EXPECT_EQ(active, static_cast<std::uint64_t>(kHeld));

  // Every held connection still works end to end.
  for (const Fd& conn : held) ASSERT_EQ(write(conn.get(), "p", 1), 1);
  holder->SendSignal();
  EXPECT_EQ(holder->Wait(), 0) << "a held connection broke across the restart";
}

TEST_F(SteerLifecycleTest, LoadedMapsHaveTheAbiHeaderSizes) {
  absl::StatusOr<std::vector<datapath::MapLayout>> layouts = steering_->MapLayouts();
  ASSERT_TRUE(layouts.ok()) << layouts.status();
  ASSERT_THAT(*layouts, SizeIs(datapath::Steering::MapNames().size()));
  for (const datapath::MapLayout& layout : *layouts) {
    if (layout.name == "skw_backends") {
      EXPECT_EQ(layout.value_size_bytes, sizeof(skw_backend));
    }
    if (layout.name == "skw_services") {
      EXPECT_EQ(layout.key_size_bytes, sizeof(skw_service_key));
      EXPECT_EQ(layout.value_size_bytes, sizeof(skw_service));
    }
  }
}

// Every required feature is there (else Start would have refused), and the optional ones
// missing are exactly those the data path says it runs without.
TEST_F(SteerLifecycleTest, TheKernelHasEveryFeatureTheDataPathNeeds) {
  Fd cgroup(open(cgroup_->path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  std::vector<std::string> missing, off;
  for (const datapath::KernelFeature& feature : datapath::ProbeKernelFeatures(cgroup.get())) {
    EXPECT_TRUE(feature.present || !feature.required) << feature.name;
    if (!feature.present) missing.push_back(feature.name);
  }
  for (const datapath::KernelFeature& feature : steering_->features_off()) {
    off.push_back(feature.name);
  }
  EXPECT_EQ(missing, off);
  EXPECT_THAT(AttachedPrograms(cgroup_->path()), SizeIs(std::size(kSteeringHooks)))
      << "the probe left a program behind";
}

TEST_F(SteerLifecycleTest, RefusesAPinDirOutsideBpffs) {
  absl::StatusOr<std::unique_ptr<datapath::Steering>> other = datapath::Steering::Start(
      datapath::SteeringOptions{.cgroup_path = cgroup_->path(), .pin_dir = "/tmp/skewless-pins"});
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(other.status().message(), HasSubstr("mount -t bpf"));
}

TEST_F(SteerLifecycleTest, RefusesACgroupThatIsNotCgroupV2) {
  absl::StatusOr<std::unique_ptr<datapath::Steering>> other = datapath::Steering::Start(
      datapath::SteeringOptions{.cgroup_path = "/tmp", .pin_dir = SteerPinDir() + "-other"});
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other.status().message(), HasSubstr("/tmp is not a cgroup v2 directory"));
}

}  // namespace
}  // namespace skewless::testing
