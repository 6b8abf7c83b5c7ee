// Private bpffs and pin dir cleanup, loopback backends and connections held from the test cgroup
// for the steering kernel tests.
#include "steer_test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "test_cgroup.h"

namespace skewless::testing {
namespace {

// Every path Steering may pin under SteerPinDir(), computed before any
// signal can arrive: the handler may only unlink and rmdir.
constexpr int kMaxPins = 32;
char g_pins[kMaxPins][PATH_MAX];
int g_pin_count = 0;
constexpr int kCleanupSignals[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction g_previous[3];

char g_bpffs_dir[PATH_MAX];

// Only async-signal-safe calls (unlink, rmdir, umount2).
void RemovePinsAndBpffs() {
  for (int i = 0; i < g_pin_count; ++i) {
    if (unlink(g_pins[i]) != 0) rmdir(g_pins[i]);
  }
  if (g_bpffs_dir[0] != '\0') {
    // Lazy: pinned objects vanish with the instance even if a pin is left.
    umount2(g_bpffs_dir, MNT_DETACH);
    rmdir(g_bpffs_dir);
  }
}

void RemovePinsAndChain(int signo) {
  RemovePinsAndBpffs();
  for (int i = 0; i < 3; ++i) {
    if (kCleanupSignals[i] != signo) continue;
    if (g_previous[i].sa_handler != SIG_DFL && g_previous[i].sa_handler != SIG_IGN) {
      g_previous[i].sa_handler(signo);  // the test cgroup's: kills the child, re-raises
    }
  }
  signal(signo, SIG_DFL);
  raise(signo);
}

void AddPin(const std::string& path) {
  if (g_pin_count < kMaxPins && path.size() < PATH_MAX) {
    std::memcpy(g_pins[g_pin_count++], path.c_str(), path.size() + 1);
  }
}

}  // namespace

std::string TestBpffsDir() { return absl::StrCat("/run/skewless-test-", getpid(), "-bpffs"); }

std::string SteerPinDir() { return TestBpffsDir() + "/steer"; }

absl::Status MountTestBpffs() {
  const std::string dir = TestBpffsDir();
  struct statfs fs {};
  if (statfs(dir.c_str(), &fs) == 0 && fs.f_type == BPF_FS_MAGIC) return absl::OkStatus();
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("creating ", dir, " for the test bpffs"));
  }
  if (mount("bpf", dir.c_str(), "bpf", 0, "mode=0700") != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mounting a private bpffs on ", dir));
  }
  return absl::OkStatus();
}

void SteerPinEnvironment::SetUp() {
  const std::string bpffs = TestBpffsDir();
  if (bpffs.size() < sizeof(g_bpffs_dir)) std::memcpy(g_bpffs_dir, bpffs.c_str(), bpffs.size() + 1);
  const std::string dir = SteerPinDir();
  for (const std::string& program : datapath::Steering::ProgramNames()) {
    AddPin(absl::StrCat(dir, "/links/", program));
  }
  for (const std::string& map : datapath::Steering::MapNames()) AddPin(absl::StrCat(dir, "/", map));
  AddPin(dir + "/links");  // directories last: rmdir needs them empty
  AddPin(dir);
  for (int i = 0; i < 3; ++i) {
    struct sigaction action {};
    action.sa_handler = RemovePinsAndChain;
    sigaction(kCleanupSignals[i], &action, &g_previous[i]);
  }
}

void SteerPinEnvironment::TearDown() {
  for (int i = 0; i < 3; ++i) sigaction(kCleanupSignals[i], &g_previous[i], nullptr);
  struct stat st {};
  if (stat(SteerPinDir().c_str(), &st) == 0) {
    if (absl::Status status = datapath::Steering::UninstallPinned(SteerPinDir()); !status.ok()) {
      ADD_FAILURE() << "pin dir left behind: " << status;
    }
  }
  if (stat(TestBpffsDir().c_str(), &st) != 0) return;
  if (umount2(TestBpffsDir().c_str(), 0) != 0 && errno != EINVAL) {  // EINVAL: not mounted
    ADD_FAILURE() << "unmounting " << TestBpffsDir() << ": " << std::strerror(errno);
  }
  if (rmdir(TestBpffsDir().c_str()) != 0) {
    ADD_FAILURE() << "removing " << TestBpffsDir() << ": " << std::strerror(errno);
  }
}

SockAddr MakeSockAddr(const std::string& ip, std::uint16_t port) {
  SockAddr address;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    address.length = sizeof(sockaddr_in);
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr), 1) << ip;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    address.length = sizeof(sockaddr_in6);
  }
  return address;
}

Backend ListenOn(const std::string& ip, int type) {
  SockAddr address = MakeSockAddr(ip, 0);
  Backend backend{Fd(socket(address.storage.ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)), ip,
                  0};
  EXPECT_GE(backend.fd.get(), 0) << std::strerror(errno);
  EXPECT_EQ(bind(backend.fd.get(), address.get(), address.length), 0)
      << "bind " << ip << ": " << std::strerror(errno);
  if (type == SOCK_STREAM) {
    EXPECT_EQ(listen(backend.fd.get(), 4096), 0) << std::strerror(errno);
  }
  socklen_t length = sizeof(address.storage);
  EXPECT_EQ(getsockname(backend.fd.get(), reinterpret_cast<sockaddr*>(&address.storage), &length),
            0);
  backend.port = ntohs(address.storage.ss_family == AF_INET
                           ? reinterpret_cast<sockaddr_in*>(&address.storage)->sin_port
                           : reinterpret_cast<sockaddr_in6*>(&address.storage)->sin6_port);
  return backend;
}

int AcceptPending(const Backend& backend, int timeout_ms, std::vector<Fd>* keep) {
  int accepted = 0;
  pollfd ready{.fd = backend.fd.get(), .events = POLLIN, .revents = 0};
  if (poll(&ready, 1, timeout_ms) <= 0) return 0;
  for (;;) {
    Fd conn(accept4(backend.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (conn.get() < 0) break;
    ++accepted;
    if (keep != nullptr) keep->push_back(std::move(conn));
  }
  return accepted;
}

int HoldConnections(ChildPipes pipes, const SockAddr& vip, int count) {
  static int held[kMaxHeldConnections];
  if (count > kMaxHeldConnections) return 12;
  for (int i = 0; i < count; ++i) {
    held[i] = ConnectWithTimeout(vip.storage.ss_family, SOCK_STREAM, vip);
    if (held[i] < 0) return 10;
  }
  Signal(pipes.to_parent);
  if (!Await(pipes.from_parent)) return 11;
  for (int i = 0; i < count; ++i) close(held[i]);
  return 0;
}

bool PeerIs(int fd, const SockAddr& expected) {
  sockaddr_storage peer{};
  socklen_t length = sizeof(peer);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) return false;
  return length == expected.length && std::memcmp(&peer, &expected.storage, length) == 0;
}

int ConnectWithTimeout(int family, int type, const SockAddr& to) {
  const int fd = socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  timeval timeout{.tv_sec = 2, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, to.get(), to.length) != 0) {
    const int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

datapath::Endpoint EndpointOf(const Backend& backend, std::uint16_t weight) {
  return datapath::Endpoint{.address = backend.ip, .port = backend.port, .weight = weight};
}

void SteerTest::SetUp() {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to load BPF programs and create cgroups; run as root: ctest -L bpf";
  }
  absl::Status bpffs = MountTestBpffs();
  ASSERT_TRUE(bpffs.ok()) << bpffs;
  absl::StatusOr<std::string> path = TestCgroupPath();
  ASSERT_TRUE(path.ok()) << path.status();
  absl::StatusOr<OwnedCgroup> cgroup = OwnedCgroup::Create(*path);
  ASSERT_TRUE(cgroup.ok()) << cgroup.status();
  cgroup_.emplace(*std::move(cgroup));
  absl::StatusOr<std::unique_ptr<datapath::Steering>> steering = datapath::Steering::Start(
      datapath::SteeringOptions{.cgroup_path = cgroup_->path(), .pin_dir = SteerPinDir()});
  ASSERT_TRUE(steering.ok()) << steering.status();
  steering_ = *std::move(steering);
  ASSERT_FALSE(steering_->adopted()) << "a previous test left " << SteerPinDir();
  table_ = std::make_unique<datapath::ServiceTable>(steering_->maps());
}

void SteerTest::TearDown() {
  table_.reset();
  if (steering_ != nullptr) {
    absl::Status uninstalled = steering_->Uninstall();
    EXPECT_TRUE(uninstalled.ok()) << uninstalled;
    steering_.reset();
  }
  if (cgroup_.has_value()) {
    absl::Status destroyed = cgroup_->Destroy();
    EXPECT_TRUE(destroyed.ok()) << destroyed;
  }
}

void SteerTest::Restart() {
  table_.reset();
  steering_.reset();
  absl::StatusOr<std::unique_ptr<datapath::Steering>> steering = datapath::Steering::Start(
      datapath::SteeringOptions{.cgroup_path = cgroup_->path(), .pin_dir = SteerPinDir()});
  ASSERT_TRUE(steering.ok()) << steering.status();
  steering_ = *std::move(steering);
  table_ = std::make_unique<datapath::ServiceTable>(steering_->maps());
  absl::Status recovered = table_->Recover();
  ASSERT_TRUE(recovered.ok()) << recovered;
}

void SteerTest::Reinstall(std::vector<std::string> treat_as_missing) {
  table_.reset();
  ASSERT_TRUE(steering_->Uninstall().ok());
  steering_.reset();
  absl::StatusOr<std::unique_ptr<datapath::Steering>> steering = datapath::Steering::Start(
      datapath::SteeringOptions{.cgroup_path = cgroup_->path(),
                                .pin_dir = SteerPinDir(),
                                .treat_as_missing = std::move(treat_as_missing)});
  ASSERT_TRUE(steering.ok()) << steering.status();
  steering_ = *std::move(steering);
  table_ = std::make_unique<datapath::ServiceTable>(steering_->maps());
}

datapath::ServiceSpec SteerTest::Service(const std::string& vip, std::uint16_t port,
                                         std::vector<datapath::Endpoint> endpoints,
                                         datapath::Protocol protocol) const {
  return datapath::ServiceSpec{.name = absl::StrCat("test/", vip, ":", port),
                               .vip = vip,
                               .port = port,
                               .protocol = protocol,
                               .endpoints = std::move(endpoints)};
}

}  // namespace skewless::testing
