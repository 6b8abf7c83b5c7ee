// Splicing on the real kernel: HTTP/2 Services' connects reach the node's splicer, which
// learns what each client dialled through SO_ORIGINAL_DST; the splicer's own sockets and
// nodes without a splicer are steered at L4; what the splicer writes into the load map
// (outstanding streams, ejections) steers connects.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/netfilter_ipv4.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "skewless/datapath/splice_maps.h"
#include "steer_test_util.h"
#include "test_cgroup.h"

namespace skewless::testing {
namespace {

using datapath::Protocol;

// What the child saw on each connection the splicer accepted; in memory shared with the
// parent, because the child may not allocate.
struct Accepted {
  char byte = 0;
  int getsockopt_result = -1;
  int getsockopt_errno = 0;
  sockaddr_in original{};
};
struct SharedResults {
  std::uint16_t splicer_port = 0;
  Accepted accepted[2];
};

class SharedMemory {
 public:
  SharedMemory() {
    void* memory = mmap(nullptr, sizeof(SharedResults), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    results_ = memory == MAP_FAILED ? nullptr : new (memory) SharedResults();
  }
  ~SharedMemory() {
    if (results_ != nullptr) munmap(results_, sizeof(SharedResults));
  }
  SharedResults* get() { return results_; }

 private:
  SharedResults* results_;
};

// The splicer's side, run in the child too (the getsockopt hook is the test cgroup's):
// accepts one connection, reads its byte and asks for its original destination.
int AcceptAndAsk(int listener, Accepted* out) {
  pollfd ready{.fd = listener, .events = POLLIN, .revents = 0};
  if (poll(&ready, 1, 2000) != 1) return kNotAccepted;
  const int fd = accept(listener, nullptr, nullptr);
  if (fd < 0) return kNotAccepted;
  pollfd readable{.fd = fd, .events = POLLIN, .revents = 0};
  if (poll(&readable, 1, 2000) != 1 || read(fd, &out->byte, 1) != 1) {
    close(fd);
    return kNoByte;
  }
  socklen_t length = sizeof(out->original);
  out->getsockopt_result = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &out->original, &length);
  out->getsockopt_errno = out->getsockopt_result == 0 ? 0 : errno;
  close(fd);
  return kOk;
}

std::string Ip(const sockaddr_in& address) {
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &address.sin_addr, text, sizeof(text));
  return text;
}

class SteerSpliceTest : public SteerTest {
 protected:
  datapath::ServiceSpec SplicedService(const std::string& vip, std::uint16_t port,
                                       const Backend& pod) const {
    datapath::ServiceSpec spec = Service(vip, port, {EndpointOf(pod)});
    spec.splice = true;
    return spec;
  }

  // The agent's side (the node's splicer address) and the splicer's (its lease, held for
  // a minute).
  void UseSplicer(const Backend& splicer, std::uint32_t mark = 0) {
    UseSplicerAt(absl::StrCat(splicer.ip, ":", splicer.port), mark);
  }
  void UseSplicerAt(const std::string& address, std::uint32_t mark = 0) {
    absl::Status set = table_->SetNode({.splicer_address = address, .splicer_mark = mark});
    ASSERT_TRUE(set.ok()) << set;
    absl::StatusOr<std::unique_ptr<datapath::SplicerLease>> lease =
        datapath::SplicerLease::Open(SteerPinDir());
    ASSERT_TRUE(lease.ok()) << lease.status();
    lease_ = *std::move(lease);
    lease_->Renew(datapath::MonotonicNowNs() + 60'000'000'000ull);
  }

  std::unique_ptr<datapath::SplicerLease> lease_;

  // Entries in skw_origins now.
  int Origins() {
    Fd map(bpf_obj_get((SteerPinDir() + "/skw_origins").c_str()));
    EXPECT_GE(map.get(), 0) << std::strerror(errno);
    skw_origin_key key{};
    skw_origin_key next{};
    int count = 0;
    const skw_origin_key* previous = nullptr;
    while (bpf_map_get_next_key(map.get(), previous, &next) == 0) {
      ++count;
      key = next;
      previous = &key;
    }
    return count;
  }

  // `n` connects to `vip` one after the other, each closed at once; how many each pod got.
  std::vector<int> ConnectsPerPod(const SockAddr& vip, int n, const std::vector<Backend*>& pods) {
    std::unique_ptr<Child> child = Child::Start(*cgroup_, [&](ChildPipes) {
      for (int i = 0; i < n; ++i) {
        const int fd = ConnectWithTimeout(AF_INET, SOCK_STREAM, vip);
        if (fd < 0) return static_cast<int>(kConnectFailed);
        close(fd);
      }
      return static_cast<int>(kOk);
    });
    EXPECT_NE(child, nullptr);
    EXPECT_EQ(child->Wait(), kOk);
    std::vector<int> counts;
    for (Backend* pod : pods) counts.push_back(AcceptPending(*pod, 200));
    return counts;
  }
};

// The splicer's listener is opened in the child: the kernel runs getsockopt hooks for the
// socket's cgroup, and an accepted socket belongs to its listener's.
TEST_F(SteerSpliceTest, TwoServicesReachOneSplicerAndSoOriginalDstTellsThemApart) {
  Backend pod = ListenOn("127.0.0.2");
  const SockAddr first = MakeSockAddr("198.19.2.1", 80);
  // gRPC's way of dialling IPv4: a dual-stack socket, v4-mapped (only connect6 runs).
  const SockAddr second = MakeSockAddr("::ffff:198.19.2.2", 8080);
  SharedMemory shared;
  ASSERT_NE(shared.get(), nullptr);
  SharedResults* results = shared.get();

  std::unique_ptr<Child> child = Child::Start(*cgroup_, [&](ChildPipes pipes) {
    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
    socklen_t length = sizeof(address);
    if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        listen(listener, 16) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      return static_cast<int>(kNotAccepted);
    }
    results->splicer_port = ntohs(address.sin_port);
    Signal(pipes.to_parent);
    Await(pipes.from_parent);  // the parent has configured the splicer and the services
    const int a = ConnectWithTimeout(AF_INET, SOCK_STREAM, first);
    const int b = ConnectWithTimeout(AF_INET6, SOCK_STREAM, second);
    if (a < 0 || b < 0) return static_cast<int>(kConnectFailed);
    if (!PeerIs(a, first) || !PeerIs(b, second)) return static_cast<int>(kWrongPeer);
    if (write(a, "a", 1) != 1 || write(b, "b", 1) != 1) return static_cast<int>(kSendFailed);
    for (Accepted& accepted : results->accepted) {
      if (int result = AcceptAndAsk(listener, &accepted); result != kOk) return result;
    }
    close(a);
    close(b);
    return static_cast<int>(kOk);
  });
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(child->AwaitSignal(5000));
  UseSplicerAt(absl::StrCat("127.0.0.1:", results->splicer_port));
  SKW_ASSERT_OK(table_->Apply(
      {SplicedService("198.19.2.1", 80, pod), SplicedService("198.19.2.2", 8080, pod)}));
  child->SendSignal();
  ASSERT_EQ(child->Wait(), kOk);

  for (const Accepted& accepted : results->accepted) {
    ASSERT_EQ(accepted.getsockopt_result, 0) << std::strerror(accepted.getsockopt_errno);
    EXPECT_EQ(accepted.original.sin_family, AF_INET);
    if (accepted.byte == 'a') {
      EXPECT_EQ(Ip(accepted.original), "198.19.2.1");
      EXPECT_EQ(ntohs(accepted.original.sin_port), 80);
    } else {
      EXPECT_EQ(accepted.byte, 'b');
      EXPECT_EQ(Ip(accepted.original), "198.19.2.2");
      EXPECT_EQ(ntohs(accepted.original.sin_port), 8080);
    }
  }
  EXPECT_NE(results->accepted[0].byte, results->accepted[1].byte);
  EXPECT_EQ(AcceptPending(pod, 100), 0) << "a spliced connect went to the pod";
  absl::StatusOr<std::array<std::uint64_t, SKW_REASON_COUNT>> reasons = steering_->ReasonCounts();
  ASSERT_TRUE(reasons.ok()) << reasons.status();
  EXPECT_EQ((*reasons)[SKW_REASON_SPLICED], 2u);
}

TEST_F(SteerSpliceTest, AClosedClientLeavesNoOriginBehind) {
  Backend splicer = ListenOn("127.0.0.1");
  Backend pod = ListenOn("127.0.0.2");
  UseSplicer(splicer);
  SKW_ASSERT_OK(table_->Apply({SplicedService("198.19.2.3", 80, pod)}));
  const SockAddr vip = MakeSockAddr("198.19.2.3", 80);
  const int listener = splicer.fd.get();
  std::unique_ptr<Child> child = Child::Start(*cgroup_, [&](ChildPipes pipes) {
    const int fd = ConnectWithTimeout(AF_INET, SOCK_STREAM, vip);
    if (fd < 0) return static_cast<int>(kConnectFailed);
    Signal(pipes.to_parent);
    Await(pipes.from_parent);
    pollfd ready{.fd = listener, .events = POLLIN, .revents = 0};
    if (poll(&ready, 1, 2000) != 1) return static_cast<int>(kNotAccepted);
    const int accepted = accept(listener, nullptr, nullptr);
    close(fd);
    close(accepted);
    return static_cast<int>(kOk);
  });
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(child->AwaitSignal(5000));
  EXPECT_EQ(Origins(), 1);
  child->SendSignal();
  ASSERT_EQ(child->Wait(), kOk);
  // Both ends closed: the client's socket reaches TCP_CLOSE (into TIME_WAIT) at once.
  int left = Origins();
  for (int i = 0; i < 100 && left != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    left = Origins();
  }
  EXPECT_EQ(left, 0);
}

TEST_F(SteerSpliceTest, WithoutASplicerAnHttp2ServiceIsSteeredToItsPods) {
  Backend pod = ListenOn("127.0.0.2");
  SKW_ASSERT_OK(table_->Apply({SplicedService("198.19.2.4", 80, pod)}));
  Backend* pods[] = {&pod};
  EXPECT_THAT(ConnectsPerPod(MakeSockAddr("198.19.2.4", 80), 3, {pods[0]}),
              ::testing::ElementsAre(3));
}

// The splicer's lease: connects go to it only while it is held, so a splicer that drains
// (releases) or dies (the lease lapses) sends new connects back to the pods, not to a
// closed port.
TEST_F(SteerSpliceTest, WithoutTheSplicersLeaseConnectsGoToThePods) {
  Backend splicer = ListenOn("127.0.0.1");
  Backend pod = ListenOn("127.0.0.2");
  UseSplicer(splicer);
  SKW_ASSERT_OK(table_->Apply({SplicedService("198.19.2.7", 80, pod)}));
  const SockAddr vip = MakeSockAddr("198.19.2.7", 80);
  EXPECT_THAT(ConnectsPerPod(vip, 2, {&splicer, &pod}), ::testing::ElementsAre(2, 0));

  lease_->Release();
  EXPECT_EQ(lease_->Read().alive_until_ns, 0u);
  EXPECT_THAT(ConnectsPerPod(vip, 2, {&splicer, &pod}), ::testing::ElementsAre(0, 2));

  lease_->Renew(datapath::MonotonicNowNs() + 60'000'000'000ull);
  EXPECT_THAT(ConnectsPerPod(vip, 2, {&splicer, &pod}), ::testing::ElementsAre(2, 0));
  lease_->Renew(datapath::MonotonicNowNs() - 1);  // lapsed: the splicer stopped renewing
  EXPECT_THAT(ConnectsPerPod(vip, 2, {&splicer, &pod}), ::testing::ElementsAre(0, 2));
}

TEST_F(SteerSpliceTest, TheSplicersOwnMarkedSocketsGoToThePodNotBackToIt) {
  Backend splicer = ListenOn("127.0.0.1");
  Backend pod = ListenOn("127.0.0.2");
  constexpr std::uint32_t kMark = 0x5c1;
  UseSplicer(splicer, kMark);
  SKW_ASSERT_OK(table_->Apply({SplicedService("198.19.2.5", 80, pod)}));
  const SockAddr vip = MakeSockAddr("198.19.2.5", 80);
  std::unique_ptr<Child> child = Child::Start(*cgroup_, [&](ChildPipes) {
    const int marked = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const std::uint32_t mark = kMark;
    if (marked < 0 || setsockopt(marked, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0 ||
        connect(marked, vip.get(), vip.length) != 0) {
      return static_cast<int>(kConnectFailed);
    }
    close(marked);
    const int plain = ConnectWithTimeout(AF_INET, SOCK_STREAM, vip);
    if (plain < 0) return static_cast<int>(kConnectFailed);
    close(plain);
    return static_cast<int>(kOk);
  });
  ASSERT_NE(child, nullptr);
  ASSERT_EQ(child->Wait(), kOk);
  EXPECT_EQ(AcceptPending(pod, 200), 1) << "the marked socket should reach the pod";
  EXPECT_EQ(AcceptPending(splicer, 200), 1) << "the unmarked one the splicer";
}

TEST_F(SteerSpliceTest, ConnectsSkipWhatTheSplicerEjectsAndWeighItsOutstandingStreams) {
  Backend a = ListenOn("127.0.0.2");
  Backend b = ListenOn("127.0.0.3");
  SKW_ASSERT_OK(table_->Apply({Service("198.19.2.6", 80, {EndpointOf(a), EndpointOf(b)})}));
  const std::optional<std::uint32_t> id_a = table_->BackendId(a.ip, a.port);
  const std::optional<std::uint32_t> id_b = table_->BackendId(b.ip, b.port);
  ASSERT_TRUE(id_a.has_value() && id_b.has_value());
  absl::StatusOr<std::unique_ptr<datapath::LoadCounters>> loads =
      datapath::LoadCounters::Open(SteerPinDir());
  ASSERT_TRUE(loads.ok()) << loads.status();
  const SockAddr vip = MakeSockAddr("198.19.2.6", 80);

  (*loads)->EjectUntil(*id_a, datapath::MonotonicNowNs() + 60'000'000'000ull);
  EXPECT_THAT(ConnectsPerPod(vip, 20, {&a, &b}), ::testing::ElementsAre(0, 20));

  // An ejection that has expired no longer hides it; B's streams now outweigh A's nothing.
  skw_backend_load cleared = (*loads)->Read(*id_a);
  cleared.ejected_until_ns = 0;
  Fd map(bpf_obj_get((SteerPinDir() + "/skw_backend_loads").c_str()));
  ASSERT_EQ(bpf_map_update_elem(map.get(), &*id_a, &cleared, BPF_ANY), 0);
  (*loads)->AddOutstanding(*id_b, 1000);
  EXPECT_EQ((*loads)->Read(*id_b).outstanding_requests, 1000u);
  EXPECT_THAT(ConnectsPerPod(vip, 20, {&a, &b}), ::testing::ElementsAre(20, 0));

  (*loads)->AddOutstanding(*id_b, -1001);
  EXPECT_EQ((*loads)->Read(*id_b).outstanding_requests, 0u) << "never below zero";
}

}  // namespace
}  // namespace skewless::testing
