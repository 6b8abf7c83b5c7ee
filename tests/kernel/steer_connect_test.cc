// Steering on the real kernel: a VIP reaches a backend over every socket kind, and the VIP stays
// visible.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steer_test_util.h"
#include "test_cgroup.h"

namespace skewless::testing {
namespace {

using datapath::Protocol;

// Connects to `vip` with a `family` socket, checks getpeername, sends one byte.
int ConnectAndSend(int family, const SockAddr& vip) {
  const int fd = ConnectWithTimeout(family, SOCK_STREAM, vip);
  if (fd < 0) return kConnectFailed;
  if (!PeerIs(fd, vip)) return kWrongPeer;
  if (write(fd, "x", 1) != 1) return kSendFailed;
  close(fd);
  return kOk;
}

class SteerConnectTest : public SteerTest {
 protected:
  // Runs a TCP client in the cgroup and checks the one backend got its byte.
  void ExpectTcpReaches(const Backend& backend, int family, const SockAddr& vip) {
    std::unique_ptr<Child> child =
        Child::Start(*cgroup_, [&](ChildPipes) { return ConnectAndSend(family, vip); });
    ASSERT_NE(child, nullptr);
    std::vector<Fd> accepted;
    EXPECT_EQ(AcceptPending(backend, 2000, &accepted), 1);
    EXPECT_EQ(child->Wait(), kOk);
    ASSERT_EQ(accepted.size(), 1u);
    char byte = 0;
    EXPECT_EQ(read(accepted[0].get(), &byte, 1), 1);
    EXPECT_EQ(byte, 'x');
  }

  // The backend answers one datagram to wherever it came from.
  void ExpectDatagramEchoed(const Backend& backend) {
    pollfd ready{.fd = backend.fd.get(), .events = POLLIN, .revents = 0};
    ASSERT_EQ(poll(&ready, 1, 2000), 1) << "no datagram reached the backend";
    char query = 0;
    sockaddr_storage from{};
    socklen_t from_length = sizeof(from);
    ASSERT_EQ(
        recvfrom(backend.fd.get(), &query, 1, 0, reinterpret_cast<sockaddr*>(&from), &from_length),
        1);
    EXPECT_EQ(query, 'q');
    EXPECT_EQ(sendto(backend.fd.get(), "r", 1, 0, reinterpret_cast<sockaddr*>(&from), from_length),
              1);
  }
};

TEST_F(SteerConnectTest, Ipv4TcpToTheVipReachesTheBackendAndGetpeernameShowsTheVip) {
  Backend backend = ListenOn("127.0.0.1");
  SKW_ASSERT_OK(table_->Apply({Service("198.19.0.1", 80, {EndpointOf(backend)})}));
  ExpectTcpReaches(backend, AF_INET, MakeSockAddr("198.19.0.1", 80));
}

TEST_F(SteerConnectTest, Ipv6TcpToTheVipReachesTheBackendAndGetpeernameShowsTheVip) {
  Backend backend = ListenOn("::1");
  SKW_ASSERT_OK(table_->Apply({Service("2001:db8::1", 80, {EndpointOf(backend)})}));
  ExpectTcpReaches(backend, AF_INET6, MakeSockAddr("2001:db8::1", 80));
}

// How gRPC dials IPv4: only connect6 runs, with ::ffff:a.b.c.d.
TEST_F(SteerConnectTest, Ipv4VipDialledThroughADualStackSocketReachesTheBackend) {
  Backend backend = ListenOn("127.0.0.1");
  SKW_ASSERT_OK(table_->Apply({Service("198.19.0.2", 80, {EndpointOf(backend)})}));
  ExpectTcpReaches(backend, AF_INET6, MakeSockAddr("::ffff:198.19.0.2", 80));
}

TEST_F(SteerConnectTest, ConnectedUdpReachesTheBackendAndRepliesArrive) {
  Backend backend = ListenOn("127.0.0.1", SOCK_DGRAM);
  SKW_ASSERT_OK(table_->Apply({Service("198.19.0.3", 53, {EndpointOf(backend)}, Protocol::kUdp)}));
  const SockAddr vip = MakeSockAddr("198.19.0.3", 53);
  std::unique_ptr<Child> child = Child::Start(*cgroup_, [&](ChildPipes) {
    const int fd = ConnectWithTimeout(AF_INET, SOCK_DGRAM, vip);
    if (fd < 0) return static_cast<int>(kConnectFailed);
    if (!PeerIs(fd, vip)) return static_cast<int>(kWrongPeer);
    if (send(fd, "q", 1, 0) != 1) return static_cast<int>(kSendFailed);
    timeval timeout{.tv_sec = 2, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    char reply = 0;
    if (recv(fd, &reply, 1, 0) != 1 || reply != 'r') return static_cast<int>(kNoReply);
    return static_cast<int>(kOk);
  });
  ASSERT_NE(child, nullptr);
  ExpectDatagramEchoed(backend);
  EXPECT_EQ(child->Wait(), kOk);
}

TEST_F(SteerConnectTest, UnconnectedUdpReachesTheBackendAndRepliesComeFromTheVip) {
  Backend backend = ListenOn("127.0.0.1", SOCK_DGRAM);
  SKW_ASSERT_OK(table_->Apply({Service("198.19.0.4", 53, {EndpointOf(backend)}, Protocol::kUdp)}));
  const SockAddr vip = MakeSockAddr("198.19.0.4", 53);
  std::unique_ptr<Child> child = Child::Start(*cgroup_, [&](ChildPipes) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sendto(fd, "q", 1, 0, vip.get(), vip.length) != 1) return static_cast<int>(kSendFailed);
    timeval timeout{.tv_sec = 2, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    char reply = 0;
    sockaddr_storage from{};
    socklen_t from_length = sizeof(from);
    if (recvfrom(fd, &reply, 1, 0, reinterpret_cast<sockaddr*>(&from), &from_length) != 1) {
      return static_cast<int>(kNoReply);
    }
    if (from_length != vip.length || std::memcmp(&from, &vip.storage, from_length) != 0) {
      return static_cast<int>(kWrongReplySource);
    }
    return static_cast<int>(kOk);
  });
  ASSERT_NE(child, nullptr);
  ExpectDatagramEchoed(backend);
  EXPECT_EQ(child->Wait(), kOk);
}

// ECONNREFUSED, as kube-proxy's REJECT rule gives; EPERM on a kernel without
// bpf_set_retval() (before 5.18), where the program can only deny.
int RefusalErrno(const datapath::Steering& steering) {
  for (const datapath::KernelFeature& off : steering.features_off()) {
    if (off.name == datapath::kSetRetval) return EPERM;
  }
  return ECONNREFUSED;
}

TEST_F(SteerConnectTest, AServiceWithoutBackendsRefusesConnectAtOnce) {
  SKW_ASSERT_OK(table_->Apply({Service("198.19.0.5", 80, {})}));
  const SockAddr vip = MakeSockAddr("198.19.0.5", 80);
  const int refusal = RefusalErrno(*steering_);
  std::unique_ptr<Child> child = Child::Start(*cgroup_, [&](ChildPipes) {
    const auto start = std::chrono::steady_clock::now();
    const int fd = ConnectWithTimeout(AF_INET, SOCK_STREAM, vip);
    if (fd != -refusal) return static_cast<int>(kWrongErrno);
    if (std::chrono::steady_clock::now() - start > std::chrono::milliseconds(500)) {
      return static_cast<int>(kTooSlow);
    }
    return static_cast<int>(kOk);
  });
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->Wait(), kOk);
  absl::StatusOr<std::array<std::uint64_t, SKW_REASON_COUNT>> reasons = steering_->ReasonCounts();
  ASSERT_TRUE(reasons.ok()) << reasons.status();
  EXPECT_EQ((*reasons)[SKW_REASON_NONE], 1u);
}

// The data path as it runs on an older kernel, on this one: without bpf_set_retval() a
// refused connect fails with EPERM, and it is said in features_off().
TEST_F(SteerConnectTest, WithoutSetRetvalARefusedConnectFailsWithEperm) {
  Reinstall({datapath::kSetRetval});
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(steering_->features_off().size(), 1u);
  EXPECT_EQ(steering_->features_off()[0].name, datapath::kSetRetval);
  SKW_ASSERT_OK(table_->Apply({Service("198.19.0.7", 80, {})}));
  const SockAddr vip = MakeSockAddr("198.19.0.7", 80);
  std::unique_ptr<Child> child = Child::Start(*cgroup_, [&](ChildPipes) {
    return ConnectWithTimeout(AF_INET, SOCK_STREAM, vip) == -EPERM ? static_cast<int>(kOk)
                                                                   : static_cast<int>(kWrongErrno);
  });
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->Wait(), kOk);
}

// Without the getpeername hooks their programs are left out, and the rest still steers:
// the connection reaches the pod, whose address getpeername() then shows.
TEST_F(SteerConnectTest, WithoutGetpeernameHooksConnectsAreStillSteered) {
  Reinstall({datapath::kGetpeernameHooks});
  ASSERT_FALSE(HasFailure());
  absl::StatusOr<std::vector<datapath::AttachedProgram>> programs = steering_->Programs();
  ASSERT_TRUE(programs.ok()) << programs.status();
  for (const datapath::AttachedProgram& program : *programs) {
    EXPECT_EQ(program.name.find("getpeername"), std::string::npos) << program.name;
  }
  Backend backend = ListenOn("127.0.0.1");
  SKW_ASSERT_OK(table_->Apply({Service("198.19.0.8", 80, {EndpointOf(backend)})}));
  const SockAddr vip = MakeSockAddr("198.19.0.8", 80);
  const SockAddr pod = MakeSockAddr("127.0.0.1", backend.port);
  std::unique_ptr<Child> child = Child::Start(*cgroup_, [&](ChildPipes) {
    const int fd = ConnectWithTimeout(AF_INET, SOCK_STREAM, vip);
    if (fd < 0) return static_cast<int>(kWrongErrno);
    const bool shows_pod = PeerIs(fd, pod);
    close(fd);
    return shows_pod ? static_cast<int>(kOk) : static_cast<int>(kWrongErrno);
  });
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->Wait(), kOk);
  EXPECT_EQ(AcceptPending(backend, 200), 1);
}

TEST_F(SteerConnectTest, ARequiredFeatureCannotBeTreatedAsMissing) {
  table_.reset();
  ASSERT_TRUE(steering_->Uninstall().ok());
  steering_.reset();
  absl::StatusOr<std::unique_ptr<datapath::Steering>> steering =
      datapath::Steering::Start({.cgroup_path = cgroup_->path(),
                                 .pin_dir = SteerPinDir(),
                                 .treat_as_missing = {"sockops programs"}});
  ASSERT_FALSE(steering.ok());
  EXPECT_EQ(steering.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(steering.status().message()),
              ::testing::HasSubstr("not an optional feature"));
}

TEST_F(SteerConnectTest, AnAddressThatIsNoServiceIsLeftAlone) {
  Backend backend = ListenOn("127.0.0.1");
  Backend direct = ListenOn("127.0.0.1");
  SKW_ASSERT_OK(table_->Apply({Service("198.19.0.6", 80, {EndpointOf(backend)})}));
  const SockAddr to = MakeSockAddr("127.0.0.1", direct.port);
  std::unique_ptr<Child> child =
      Child::Start(*cgroup_, [&](ChildPipes) { return ConnectAndSend(AF_INET, to); });
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(AcceptPending(direct, 2000), 1);
  EXPECT_EQ(child->Wait(), kOk);
  EXPECT_EQ(AcceptPending(backend, 0), 0);
}

}  // namespace
}  // namespace skewless::testing
