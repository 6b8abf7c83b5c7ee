// The connect4 observer on the real kernel: counts only its cgroup, detaches cleanly.
#include "skewless/datapath/connect_observer.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "skewless/abi.h"
#include "skewless/common/cgroup.h"
#include "skewless/datapath/map_layout.h"
#include "test_cgroup.h"
#include "test_child.h"

namespace skewless::datapath {
namespace {

using skewless::testing::Child;
using skewless::testing::ChildPipes;
using skewless::testing::Fd;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A TCP listener on 127.0.0.1:<ephemeral>. Nobody accepts: the kernel
// completes handshakes into the backlog, which is all connect() needs.
struct Listener {
  Fd fd;
  sockaddr_in address{};
};

Listener ListenOnLoopback() {
  Listener listener{Fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))};
  EXPECT_GE(listener.fd.get(), 0) << "socket: " << std::strerror(errno);
  listener.address.sin_family = AF_INET;
  listener.address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto* address = reinterpret_cast<sockaddr*>(&listener.address);
  socklen_t length = sizeof(listener.address);
  EXPECT_EQ(bind(listener.fd.get(), address, length), 0) << "bind: " << std::strerror(errno);
  EXPECT_EQ(listen(listener.fd.get(), 64), 0) << "listen: " << std::strerror(errno);
  EXPECT_EQ(getsockname(listener.fd.get(), address, &length), 0);
  return listener;
}

// How a client reaches an IPv4 address: an AF_INET socket, or (as gRPC and
// many runtimes do) a dual-stack AF_INET6 socket and the v4-mapped address.
enum class Dial { kInet4, kV4MappedInet6 };

bool ConnectOnce(const sockaddr_in& to, int socket_type = SOCK_STREAM, Dial dial = Dial::kInet4) {
  if (dial == Dial::kV4MappedInet6) {
    Fd socket_fd(socket(AF_INET6, socket_type | SOCK_CLOEXEC, 0));
    sockaddr_in6 mapped{};
    mapped.sin6_family = AF_INET6;
    mapped.sin6_port = to.sin_port;
    mapped.sin6_addr.s6_addr[10] = 0xff;
    mapped.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&mapped.sin6_addr.s6_addr[12], &to.sin_addr, 4);
    return socket_fd.get() >= 0 &&
           connect(socket_fd.get(), reinterpret_cast<const sockaddr*>(&mapped), sizeof(mapped)) ==
               0;
  }
  Fd socket_fd(socket(AF_INET, socket_type | SOCK_CLOEXEC, 0));
  return socket_fd.get() >= 0 &&
         connect(socket_fd.get(), reinterpret_cast<const sockaddr*>(&to), sizeof(to)) == 0;
}

// Starts a child in `cgroup` that connects `times` times to `to` with sockets of
// `socket_type`. Returns the child's exit status (0 when every connect succeeded).
int ConnectFromChildInCgroup(const OwnedCgroup& cgroup, const sockaddr_in& to, int times,
                             int socket_type = SOCK_STREAM, Dial dial = Dial::kInet4) {
  std::unique_ptr<Child> child = Child::Start(cgroup, [&](ChildPipes) {
    for (int i = 0; i < times; ++i) {
      if (!ConnectOnce(to, socket_type, dial)) return 3;
    }
    return 0;
  });
  return child ? child->Wait() : -1;
}

std::vector<std::uint32_t> ConnectProgramsOn(int cgroup_fd,
                                             bpf_attach_type type = BPF_CGROUP_INET4_CONNECT) {
  std::uint32_t ids[8] = {};
  std::uint32_t count = 8;
  std::uint32_t attach_flags = 0;
  int err = bpf_prog_query(cgroup_fd, type, 0, &attach_flags, ids, &count);
  EXPECT_EQ(err, 0) << "bpf_prog_query: " << std::strerror(-err);
  return std::vector<std::uint32_t>(ids, ids + (err == 0 ? count : 0));
}

class ConnectObserverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root to load BPF programs and create cgroups; "
                      "run as root: ctest -L bpf";
    }
    absl::StatusOr<std::string> path = skewless::testing::TestCgroupPath();
    ASSERT_TRUE(path.ok()) << path.status();
    absl::StatusOr<OwnedCgroup> cgroup = OwnedCgroup::Create(*path);
    ASSERT_TRUE(cgroup.ok()) << cgroup.status();
    cgroup_.emplace(*std::move(cgroup));
  }

  std::optional<OwnedCgroup> cgroup_;
};

TEST_F(ConnectObserverTest, CountsExactlyTheConnectsMadeFromItsCgroup) {
  absl::StatusOr<std::unique_ptr<ConnectObserver>> observer =
      ConnectObserver::Attach(cgroup_->path());
  ASSERT_TRUE(observer.ok()) << observer.status();
  Listener listener = ListenOnLoopback();
  const std::uint16_t port = ntohs(listener.address.sin_port);

  ASSERT_TRUE(ConnectOnce(listener.address)) << "the test process itself, outside the cgroup";
  ASSERT_EQ(ConnectFromChildInCgroup(*cgroup_, listener.address, 3), 0);
  ASSERT_TRUE(ConnectOnce(listener.address));

  absl::StatusOr<std::vector<ConnectCount>> counts = (*observer)->Counts();
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_THAT(*counts, ElementsAre(AllOf(Field(&ConnectCount::daddr, "127.0.0.1"),
                                         Field(&ConnectCount::dport, port),
                                         Field(&ConnectCount::connects, 3u))));
}

// gRPC dials IPv4 through AF_INET6 sockets: such a connect runs only the
// INET6 hook, and must still count as a connect to the IPv4 destination.
TEST_F(ConnectObserverTest, CountsIpv4ConnectsMadeThroughDualStackSockets) {
  absl::StatusOr<std::unique_ptr<ConnectObserver>> observer =
      ConnectObserver::Attach(cgroup_->path());
  ASSERT_TRUE(observer.ok()) << observer.status();
  Listener listener = ListenOnLoopback();
  const std::uint16_t port = ntohs(listener.address.sin_port);

  ASSERT_EQ(
      ConnectFromChildInCgroup(*cgroup_, listener.address, 2, SOCK_STREAM, Dial::kV4MappedInet6),
      0);

  absl::StatusOr<std::vector<ConnectCount>> counts = (*observer)->Counts();
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_THAT(*counts, ElementsAre(AllOf(Field(&ConnectCount::daddr, "127.0.0.1"),
                                         Field(&ConnectCount::dport, port),
                                         Field(&ConnectCount::connects, 2u))));
}

// A UDP connect() only sets a default peer; there is no connection to steer.
TEST_F(ConnectObserverTest, IgnoresUdpConnects) {
  absl::StatusOr<std::unique_ptr<ConnectObserver>> observer =
      ConnectObserver::Attach(cgroup_->path());
  ASSERT_TRUE(observer.ok()) << observer.status();
  Listener listener = ListenOnLoopback();

  ASSERT_EQ(ConnectFromChildInCgroup(*cgroup_, listener.address, 2, SOCK_DGRAM), 0);

  absl::StatusOr<std::vector<ConnectCount>> counts = (*observer)->Counts();
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_THAT(*counts, IsEmpty());
}

TEST_F(ConnectObserverTest, CountsNothingBeforeAnyConnect) {
  absl::StatusOr<std::unique_ptr<ConnectObserver>> observer =
      ConnectObserver::Attach(cgroup_->path());
  ASSERT_TRUE(observer.ok()) << observer.status();
  absl::StatusOr<std::vector<ConnectCount>> counts = (*observer)->Counts();
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_TRUE(counts->empty());
}

TEST_F(ConnectObserverTest, DestroyingItDetachesTheProgramAndTheCgroupGoesAway) {
  Fd cgroup_fd(open(cgroup_->path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_GE(cgroup_fd.get(), 0) << std::strerror(errno);
  absl::StatusOr<std::unique_ptr<ConnectObserver>> observer =
      ConnectObserver::Attach(cgroup_->path());
  ASSERT_TRUE(observer.ok()) << observer.status();
  absl::StatusOr<std::uint32_t> program_id = (*observer)->ProgramId();
  ASSERT_TRUE(program_id.ok()) << program_id.status();
  EXPECT_THAT(ConnectProgramsOn(cgroup_fd.get()), ElementsAre(*program_id));
  EXPECT_EQ(ConnectProgramsOn(cgroup_fd.get(), BPF_CGROUP_INET6_CONNECT).size(), 1u);

  observer->reset();

  EXPECT_THAT(ConnectProgramsOn(cgroup_fd.get()), IsEmpty());
  EXPECT_THAT(ConnectProgramsOn(cgroup_fd.get(), BPF_CGROUP_INET6_CONNECT), IsEmpty());
  const std::string path = cgroup_->path();
  cgroup_fd.reset();
  absl::Status destroyed = cgroup_->Destroy();
  ASSERT_TRUE(destroyed.ok()) << destroyed;
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(ConnectObserverTest, LoadedMapsHaveTheAbiHeaderSizes) {
  absl::StatusOr<std::unique_ptr<ConnectObserver>> observer =
      ConnectObserver::Attach(cgroup_->path());
  ASSERT_TRUE(observer.ok()) << observer.status();
  absl::StatusOr<std::vector<MapLayout>> layouts = (*observer)->MapLayouts();
  ASSERT_TRUE(layouts.ok()) << layouts.status();
  ASSERT_EQ(layouts->size(), 1u);
  const MapLayout& counts = layouts->front();
  EXPECT_EQ(counts.name, "conn_counts");
  EXPECT_EQ(counts.key_size_bytes, sizeof(skw_conn_key));
  EXPECT_EQ(counts.value_size_bytes, sizeof(skw_conn_count));
  EXPECT_TRUE(CheckMapLayout(counts, sizeof(skw_conn_key), sizeof(skw_conn_count)).ok());
}

TEST_F(ConnectObserverTest, RefusesADirectoryThatIsNotACgroup) {
  absl::StatusOr<std::unique_ptr<ConnectObserver>> observer = ConnectObserver::Attach("/tmp");
  EXPECT_EQ(observer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(observer.status().message(), HasSubstr("/tmp is not a cgroup v2 directory"));
}

TEST_F(ConnectObserverTest, NamesTheMissingCgroupPath) {
  const std::string missing = cgroup_->path() + "/does-not-exist";
  absl::StatusOr<std::unique_ptr<ConnectObserver>> observer = ConnectObserver::Attach(missing);
  EXPECT_EQ(observer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(observer.status().message(), HasSubstr(missing));
}

}  // namespace
}  // namespace skewless::datapath

int main(int argc, char** argv) {
  ::testing::InitGoogleMock(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new skewless::testing::TestCgroupEnvironment);
  return RUN_ALL_TESTS();
}
