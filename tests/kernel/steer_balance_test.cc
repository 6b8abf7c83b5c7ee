// Steering on the real kernel: held connections spread by load and weight, tiers, set swaps.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steer_test_util.h"
#include "test_cgroup.h"

namespace skewless::testing {
namespace {

using ::testing::AllOf;
using ::testing::Each;
using ::testing::Ge;
using ::testing::Le;

class SteerBalanceTest : public SteerTest {
 protected:
  // Accepted connections per backend once the child holds them all.
  std::vector<int> AcceptAll(const std::vector<Backend>& backends, std::vector<Fd>* keep) {
    std::vector<int> counts;
    for (const Backend& backend : backends) counts.push_back(AcceptPending(backend, 200, keep));
    return counts;
  }

  std::vector<std::uint64_t> ActiveConns(const std::vector<Backend>& backends) {
    std::vector<std::uint64_t> active;
    for (const Backend& backend : backends) {
      std::optional<std::uint32_t> id = table_->BackendId(backend.ip, backend.port);
      EXPECT_TRUE(id.has_value());
      absl::StatusOr<skw_backend_load> load = steering_->BackendLoad(id.value_or(0));
      EXPECT_TRUE(load.ok()) << load.status();
      active.push_back(load.ok() ? load->active_conns : ~0ull);
    }
    return active;
  }

  // Holds `count` connections to `vip` from a child in the test cgroup and returns how many
  // each backend accepted; the child has closed them when this returns (empty on failure).
  std::vector<int> HeldPerBackend(const std::vector<Backend>& backends, const SockAddr& vip,
                                  int count) {
    std::unique_ptr<Child> child = Child::Start(
        *cgroup_, [&](ChildPipes pipes) { return HoldConnections(pipes, vip, count); });
    if (child == nullptr || !child->AwaitSignal(60000)) {
      ADD_FAILURE() << "the child did not open its connections";
      return {};
    }
    std::vector<Fd> accepted;
    const std::vector<int> counts = AcceptAll(backends, &accepted);
    child->SendSignal();
    EXPECT_EQ(child->Wait(), 0);
    return counts;
  }

  // Backends on 127.0.0.1, 127.0.0.2, ...: distinct addresses and ports.
  std::vector<Backend> Backends(int n) {
    std::vector<Backend> backends;
    for (int i = 0; i < n; ++i) backends.push_back(ListenOn(absl::StrCat("127.0.0.", i + 1)));
    return backends;
  }

  // Backends that leave every new connect waiting for its SYN-ACK, as a pod one round trip
  // away does: each listens with an accept queue of one, filled by a connection from this
  // process (outside the test cgroup, so not steered), so the kernel drops further SYNs.
  std::vector<Backend> SilentBackends(int n, std::vector<Fd>* plugs) {
    std::vector<Backend> backends = Backends(n);
    for (const Backend& backend : backends) {
      EXPECT_EQ(listen(backend.fd.get(), 0), 0) << std::strerror(errno);
      const int plug =
          ConnectWithTimeout(AF_INET, SOCK_STREAM, MakeSockAddr(backend.ip, backend.port));
      EXPECT_GE(plug, 0) << "plugging " << backend.ip << ": " << std::strerror(-plug);
      plugs->emplace_back(plug);
    }
    return backends;
  }

  std::vector<std::uint64_t> TotalConns(const std::vector<Backend>& backends) {
    std::vector<std::uint64_t> total;
    for (const Backend& backend : backends) {
      absl::StatusOr<skw_backend_load> load =
          steering_->BackendLoad(table_->BackendId(backend.ip, backend.port).value_or(0));
      total.push_back(load.ok() ? load->total_conns : ~0ull);
    }
    return total;
  }

  // The active_conns of every backend once they equal `want`, or the last read after 2 s.
  std::vector<std::uint64_t> AwaitActiveConns(const std::vector<Backend>& backends,
                                              const std::vector<std::uint64_t>& want) {
    std::vector<std::uint64_t> active;
    for (int tries = 0; tries < 100; ++tries) {
      active = ActiveConns(backends);
      if (active == want) break;
      usleep(20000);
    }
    return active;
  }
};

TEST_F(SteerBalanceTest, AThousandHeldConnectionsSpreadEvenlyAndActiveConnsTracksThem) {
  std::vector<Backend> backends = Backends(4);
  std::vector<datapath::Endpoint> endpoints;
  for (const Backend& backend : backends) endpoints.push_back(EndpointOf(backend));
  SKW_ASSERT_OK(table_->Apply({Service("198.19.1.1", 80, endpoints)}));
  const SockAddr vip = MakeSockAddr("198.19.1.1", 80);

  std::unique_ptr<Child> child =
      Child::Start(*cgroup_, [&](ChildPipes pipes) { return HoldConnections(pipes, vip, 1000); });
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(child->AwaitSignal(60000)) << "child did not open its connections";
  std::vector<Fd> accepted;
  const std::vector<int> counts = AcceptAll(backends, &accepted);
  EXPECT_EQ(accepted.size(), 1000u);
  // P2C with exact counts is not round robin: the least-loaded backend only
  // wins when drawn, so it can trail. Simulated over 10^5 runs of 1000 connects
  // on 4 backends, the worst deviation from 250 was 3 in 0.5% and 5 in 0.004%;
  // ±6 never failed. Uniform random picks stay within ±6 only 4% of the time.
  EXPECT_THAT(counts, Each(AllOf(Ge(244), Le(256))));
  const std::vector<std::uint64_t> active = ActiveConns(backends);
  for (std::size_t i = 0; i < backends.size(); ++i) {
    EXPECT_EQ(active[i], static_cast<std::uint64_t>(counts[i])) << "backend " << i;
  }

  child->SendSignal();
  EXPECT_EQ(child->Wait(), 0);
  std::vector<std::uint64_t> after;
  for (int tries = 0; tries < 100; ++tries) {
    after = ActiveConns(backends);
    if (after == std::vector<std::uint64_t>(4, 0)) break;
    usleep(20000);
  }
  EXPECT_EQ(after, std::vector<std::uint64_t>(4, 0));
}

TEST_F(SteerBalanceTest, WeightsSetTheShareOfHeldConnections) {
  std::vector<Backend> backends = Backends(2);
  SKW_ASSERT_OK(table_->Apply(
      {Service("198.19.1.2", 80, {EndpointOf(backends[0], 100), EndpointOf(backends[1], 300)})}));
  const std::vector<int> counts = HeldPerBackend(backends, MakeSockAddr("198.19.1.2", 80), 400);
  ASSERT_EQ(counts.size(), 2u);
  // Cost is (active+1)/weight: the heavier backend should hold 3/4, ± 5%.
  EXPECT_THAT(counts[1], AllOf(Ge(280), Le(320)));
  EXPECT_EQ(counts[0] + counts[1], 400);
}

TEST_F(SteerBalanceTest, ARandomServiceSpreadsUniformlyWhateverTheWeightsAndLoad) {
  // The program dispatches on skw_service.lb_policy: the weights that give the heavier
  // backend 3/4 above are not weighed, nor are the connections it already holds.
  std::vector<Backend> backends = Backends(2);
  datapath::ServiceSpec spec =
      Service("198.19.1.9", 80, {EndpointOf(backends[0], 100), EndpointOf(backends[1], 300)});
  spec.lb_policy = SKW_LB_RANDOM;
  SKW_ASSERT_OK(table_->Apply({spec}));
  const std::vector<int> counts = HeldPerBackend(backends, MakeSockAddr("198.19.1.9", 80), 400);
  ASSERT_EQ(counts.size(), 2u);
  // Binomial(400, 1/2): standard deviation 10; least-request would give ~300.
  EXPECT_THAT(counts[1], AllOf(Ge(160), Le(240)));
  EXPECT_EQ(counts[0] + counts[1], 400);
  absl::StatusOr<std::array<std::uint64_t, SKW_REASON_COUNT>> reasons = steering_->ReasonCounts();
  ASSERT_TRUE(reasons.ok()) << reasons.status();
  EXPECT_EQ((*reasons)[SKW_REASON_RANDOM], 400u);
}

// Child body: `count` non-blocking connects to `vip`, none of which completes; signals the
// parent, waits for its word, closes them all and signals again. Exit 10: a connect did
// not report EINPROGRESS.
int ConnectWithoutWaiting(ChildPipes pipes, const SockAddr& vip, int count) {
  static int fds[64];
  if (count > 64) return 12;
  for (int i = 0; i < count; ++i) {
    fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fds[i] < 0 || connect(fds[i], vip.get(), vip.length) == 0 || errno != EINPROGRESS) {
      return 10;
    }
  }
  Signal(pipes.to_parent);
  if (!Await(pipes.from_parent)) return 11;
  for (int i = 0; i < count; ++i) close(fds[i]);
  Signal(pipes.to_parent);
  return 0;
}

TEST_F(SteerBalanceTest, AConnectAwaitingItsHandshakeIsLoadAndStopsBeingLoadWhenAbandoned) {
  std::vector<Fd> plugs;
  std::vector<Backend> backends = SilentBackends(1, &plugs);
  SKW_ASSERT_OK(table_->Apply({Service("198.19.1.10", 80, {EndpointOf(backends[0])})}));
  const SockAddr vip = MakeSockAddr("198.19.1.10", 80);
  std::unique_ptr<Child> child = Child::Start(
      *cgroup_, [&](ChildPipes pipes) { return ConnectWithoutWaiting(pipes, vip, 3); });
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(child->AwaitSignal(10000)) << "the child's connects did not start";
  // Counted from the connect, so the next pick of this node sees it at once; never
  // established, so not in the total.
  EXPECT_EQ(ActiveConns(backends), std::vector<std::uint64_t>{3});
  EXPECT_EQ(TotalConns(backends), std::vector<std::uint64_t>{0});
  child->SendSignal();
  EXPECT_TRUE(child->AwaitSignal(10000));
  EXPECT_EQ(AwaitActiveConns(backends, {0}), std::vector<std::uint64_t>{0})
      << "a connect abandoned in SYN_SENT must stop being load";
  EXPECT_EQ(child->Wait(), 0);
}

TEST_F(SteerBalanceTest, AConnectThatIsRefusedIsNotLeftCountedAsLoad) {
  // A backend address with nothing listening: the kernel answers the SYN with a reset.
  Backend gone = ListenOn("127.0.0.1");
  std::vector<Backend> backends;
  backends.push_back(Backend{Fd(), gone.ip, gone.port});
  gone.fd.reset();
  SKW_ASSERT_OK(table_->Apply({Service("198.19.1.11", 80, {EndpointOf(backends[0])})}));
  const SockAddr vip = MakeSockAddr("198.19.1.11", 80);
  std::unique_ptr<Child> child = Child::Start(*cgroup_, [&](ChildPipes) {
    for (int i = 0; i < 5; ++i) {
      if (ConnectWithTimeout(AF_INET, SOCK_STREAM, vip) != -ECONNREFUSED) return 10;
    }
    return 0;
  });
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->Wait(), 0) << "each connect should have been refused by the backend";
  EXPECT_EQ(AwaitActiveConns(backends, {0}), std::vector<std::uint64_t>{0});
  EXPECT_EQ(TotalConns(backends), std::vector<std::uint64_t>{0});
}

TEST_F(SteerBalanceTest, ABurstOfConnectsWithinOneRoundTripSpreadsOverEveryPod) {
  // Least-loaded weighs a tier whole. A node opening six connections before any handshake
  // completes (a client's pool warming up, one pod a round trip away) must see its own
  // earlier picks: counted only once established, each of the six would see six idle pods
  // and its random tie-break would pile them up (all six distinct by chance: 6!/6^6, 1.5%).
  std::vector<Fd> plugs;
  std::vector<Backend> backends = SilentBackends(6, &plugs);
  std::vector<datapath::Endpoint> endpoints;
  for (const Backend& backend : backends) endpoints.push_back(EndpointOf(backend));
  datapath::ServiceSpec spec = Service("198.19.1.12", 80, endpoints);
  spec.lb_policy = SKW_LB_LEAST_LOADED;
  SKW_ASSERT_OK(table_->Apply({spec}));
  const SockAddr vip = MakeSockAddr("198.19.1.12", 80);
  std::unique_ptr<Child> child = Child::Start(
      *cgroup_, [&](ChildPipes pipes) { return ConnectWithoutWaiting(pipes, vip, 6); });
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(child->AwaitSignal(10000)) << "the child's connects did not start";
  EXPECT_EQ(ActiveConns(backends), std::vector<std::uint64_t>(6, 1));
  child->SendSignal();
  EXPECT_TRUE(child->AwaitSignal(10000));
  EXPECT_EQ(AwaitActiveConns(backends, std::vector<std::uint64_t>(6, 0)),
            std::vector<std::uint64_t>(6, 0));
  EXPECT_EQ(child->Wait(), 0);
}

TEST_F(SteerBalanceTest, TerminatingBackendsGetNothingWhileReadyOnesExist) {
  std::vector<Backend> backends = Backends(4);
  std::vector<datapath::Endpoint> endpoints;
  for (const Backend& backend : backends) endpoints.push_back(EndpointOf(backend));
  for (int i : {2, 3}) {
    endpoints[i].ready = false;
    endpoints[i].terminating = true;
  }
  SKW_ASSERT_OK(table_->Apply({Service("198.19.1.3", 80, endpoints)}));
  const SockAddr vip = MakeSockAddr("198.19.1.3", 80);
  std::unique_ptr<Child> child =
      Child::Start(*cgroup_, [&](ChildPipes pipes) { return HoldConnections(pipes, vip, 100); });
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(child->AwaitSignal(60000));
  std::vector<Fd> accepted;
  const std::vector<int> counts = AcceptAll(backends, &accepted);
  EXPECT_EQ(counts[0] + counts[1], 100);
  EXPECT_EQ(counts[2], 0);
  EXPECT_EQ(counts[3], 0);
  child->SendSignal();
  EXPECT_EQ(child->Wait(), 0);
}

TEST_F(SteerBalanceTest, ServingTerminatingBackendsServeWhenNothingIsReady) {
  std::vector<Backend> backends = Backends(2);
  std::vector<datapath::Endpoint> endpoints;
  for (const Backend& backend : backends) {
    endpoints.push_back(EndpointOf(backend));
    endpoints.back().ready = false;
    endpoints.back().terminating = true;
  }
  SKW_ASSERT_OK(table_->Apply({Service("198.19.1.4", 80, endpoints)}));
  const SockAddr vip = MakeSockAddr("198.19.1.4", 80);
  std::unique_ptr<Child> child =
      Child::Start(*cgroup_, [&](ChildPipes pipes) { return HoldConnections(pipes, vip, 20); });
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(child->AwaitSignal(60000));
  std::vector<Fd> accepted;
  const std::vector<int> counts = AcceptAll(backends, &accepted);
  EXPECT_EQ(counts[0] + counts[1], 20);
  child->SendSignal();
  EXPECT_EQ(child->Wait(), 0);
}

// A writer swaps the service between two sets (of different sizes) as fast
// as it can while a child connects in a loop: every connect must land on a
// backend of one of the two sets, never elsewhere, never hang, never be refused.
TEST_F(SteerBalanceTest, ASetSwapStormOnlyEverYieldsBackendsOfOneOfTheSetsAndNoRefusal) {
  std::vector<Backend> backends = Backends(6);  // 0-1: set A, 2-4: set B, 5: in neither
  const datapath::ServiceSpec set_a =
      Service("198.19.1.5", 80, {EndpointOf(backends[0]), EndpointOf(backends[1])});
  const datapath::ServiceSpec set_b =
      Service("198.19.1.5", 80,
              {EndpointOf(backends[2]), EndpointOf(backends[3]), EndpointOf(backends[4])});
  SKW_ASSERT_OK(table_->Apply({set_a}));
  const SockAddr vip = MakeSockAddr("198.19.1.5", 80);
  constexpr int kSwaps = 200;

  std::atomic<bool> stop = false;
  std::atomic<int> swaps = 0;
  std::thread writer([&] {
    while (!stop && swaps < kSwaps) {
      absl::Status status = table_->Upsert(swaps % 2 == 0 ? set_b : set_a);
      if (!status.ok()) {
        ADD_FAILURE() << status;
        return;
      }
      ++swaps;
    }
  });
  // Connects until the parent says stop; exits with the number of refusals
  // (capped at 99), or 100 when a connect went somewhere unsteered.
  std::unique_ptr<Child> child = Child::Start(*cgroup_, [&](ChildPipes pipes) {
    int refused = 0;
    pollfd stop_signal{.fd = pipes.from_parent, .events = POLLIN, .revents = 0};
    while (poll(&stop_signal, 1, 0) == 0) {
      const int fd = ConnectWithTimeout(AF_INET, SOCK_STREAM, vip);
      if (fd == -ECONNREFUSED) {
        ++refused;
        continue;
      }
      if (fd < 0) return 100;
      close(fd);
    }
    return refused > 99 ? 99 : refused;
  });
  ASSERT_NE(child, nullptr);
  std::vector<int> counts(backends.size(), 0);
  // Accept while the child runs, so no backlog ever fills.
  while (swaps < kSwaps) {
    for (std::size_t i = 0; i < backends.size(); ++i) counts[i] += AcceptPending(backends[i], 1);
  }
  stop = true;
  writer.join();
  child->SendSignal();
  const int status = child->Wait();
  for (std::size_t i = 0; i < backends.size(); ++i) counts[i] += AcceptPending(backends[i], 50);

  ASSERT_LT(status, 100) << "a connect went somewhere unsteered";
  const int refused = status;
  int landed = 0;
  for (int c : counts) landed += c;
  // Dropped backends outlive the swap by a grace period, so a connect that
  // read the old set still finds the backend it chose: no refusals at all.
  EXPECT_EQ(refused, 0) << refused << " refusals in " << landed + refused;
  EXPECT_GE(landed, 500) << "too few connects to call it a storm";
  EXPECT_EQ(counts[5], 0) << "a backend of neither set got a connection";
  EXPECT_GT(counts[0] + counts[1], 0);
  EXPECT_GT(counts[2] + counts[3] + counts[4], 0);
}

}  // namespace
}  // namespace skewless::testing
