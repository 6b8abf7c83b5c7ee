// Shared pieces of the steering kernel tests: pin dir, backends, connections from children in
// the test cgroup (test_child.h).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "skewless/common/cgroup.h"
#include "skewless/datapath/service_table.h"
#include "skewless/datapath/steering.h"
#include "test_child.h"

// ASSERT that an absl::Status is ok, printing it when not (what the kernel refused).
#define SKW_ASSERT_OK(expr)                     \
  do {                                          \
    const absl::Status skw_status = (expr);     \
    ASSERT_TRUE(skw_status.ok()) << skw_status; \
  } while (0)

namespace skewless::testing {

// /run/skewless-test-<pid>-bpffs: a private bpffs instance the tests mount
// (the machine's /sys/fs/bpf is never mounted or touched), named so a
// SIGKILLed run that leaves it behind says who made it.
std::string TestBpffsDir();

// <TestBpffsDir()>/steer: the pin dir, never the production one.
std::string SteerPinDir();

// Creates TestBpffsDir() and mounts a fresh bpffs on it (once per process).
absl::Status MountTestBpffs();

// Removes SteerPinDir(), unmounts TestBpffsDir() and removes it: on
// SIGINT/SIGTERM/SIGHUP (then runs the handler that was there, the test
// cgroup's) and at the end of the run.
class SteerPinEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;
};

// An address as connect()/sendto() take it.
struct SockAddr {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};
SockAddr MakeSockAddr(const std::string& ip, std::uint16_t port);  // v4, v6 or ::ffff:v4

// A non-blocking listening TCP socket or bound UDP socket on a loopback address.
struct Backend {
  Fd fd;
  std::string ip;
  std::uint16_t port = 0;
};
Backend ListenOn(const std::string& ip, int type = SOCK_STREAM);

// Accepts every pending connection of `backend`, waiting up to `timeout_ms`
// for the first; accepted sockets go to `keep` when given, else are closed.
int AcceptPending(const Backend& backend, int timeout_ms, std::vector<Fd>* keep = nullptr);

// Child body: opens `count` (at most kMaxHeldConnections) TCP connections to `vip`, signals
// the parent, holds them until the parent says close, then closes them. Static storage: a
// forked child must not allocate. Exit 10: a connect failed; 11: the parent went away.
inline constexpr int kMaxHeldConnections = 2000;
int HoldConnections(ChildPipes pipes, const SockAddr& vip, int count);

// True when the socket's peer, as the application sees it (getpeername), is `expected`.
bool PeerIs(int fd, const SockAddr& expected);

// One connect() from a fresh socket with a bounded wait (SO_SNDTIMEO), so a
// destination nobody steers fails instead of hanging. Returns the socket or
// -errno. Safe in a child.
int ConnectWithTimeout(int family, int type, const SockAddr& to);

// Endpoint of a loopback backend, ready unless said otherwise.
datapath::Endpoint EndpointOf(const Backend& backend, std::uint16_t weight = SKW_DEFAULT_WEIGHT);

// A test with its own cgroup, its own pin dir, a started Steering and a
// ServiceTable over its maps; everything is removed in TearDown.
class SteerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Destroys the Steering without uninstalling (the data path stays) and
  // starts a new one on the same pin dir (adopt), with a recovered table.
  void Restart();
  // Uninstalls, then installs afresh running without these optional features (as on an
  // older kernel), with an empty table.
  void Reinstall(std::vector<std::string> treat_as_missing);

  datapath::ServiceSpec Service(const std::string& vip, std::uint16_t port,
                                std::vector<datapath::Endpoint> endpoints,
                                datapath::Protocol protocol = datapath::Protocol::kTcp) const;

  std::optional<OwnedCgroup> cgroup_;
  std::unique_ptr<datapath::Steering> steering_;
  std::unique_ptr<datapath::ServiceTable> table_;
};

}  // namespace skewless::testing
