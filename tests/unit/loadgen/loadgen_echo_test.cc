// Loadgen against in-process pod servers on 127.0.0.1: connections, counts, pacing, failures.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "skewless/loadgen/loadgen.h"
#include "skewless/podserver/echo_server.h"

namespace skewless::loadgen {
namespace {

using podserver::EchoServer;
using podserver::EchoServerOptions;

std::unique_ptr<EchoServer> StartPod(const std::string& name, const std::string& zone,
                                     uint32_t service_time_us) {
  EchoServerOptions o;
  o.pod_name = name;
  o.zone = zone;
  o.listen_address = "127.0.0.1:0";
  o.service_time_us = service_time_us;
  auto server = EchoServer::Start(o);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(LoadgenEchoTest, EachClientIsOneConnectionAndCountsMatchThePodsOwn) {
  auto pod0 = StartPod("pod-0", "zone-a", 200);
  auto pod1 = StartPod("pod-1", "zone-b", 200);
  ASSERT_TRUE(pod0 && pod1);

  Options o;
  o.target = pod0->listen_address();
  o.clients = 3;
  o.concurrency = 4;
  o.duration = absl::Seconds(1);
  o.client_zone = "zone-a";
  o.payload_bytes = 64;
  o.stats_addresses = {pod0->listen_address(), pod1->listen_address()};
  auto result = loadgen::Run(o);
  ASSERT_TRUE(result.ok()) << result.status();

  EXPECT_EQ(result->errors, 0u);
  EXPECT_GT(result->rpcs, 100u);
  ASSERT_EQ(result->clients.size(), 3u);
  for (const ClientResult& c : result->clients) {
    EXPECT_EQ(c.zone, "zone-a");
    EXPECT_GT(c.rpcs, 0u) << "client " << c.id;
    ASSERT_EQ(c.rpcs_by_pod.size(), 1u) << "client " << c.id;
    EXPECT_EQ(c.rpcs_by_pod.begin()->first, "pod-0");
  }
  ASSERT_EQ(result->pods.size(), 1u);
  EXPECT_EQ(result->pods.at("pod-0").zone, "zone-a");
  EXPECT_EQ(result->pods.at("pod-0").rpcs, result->rpcs);
  EXPECT_EQ(result->latency.count(), result->rpcs);

  ASSERT_EQ(result->server_stats.size(), 2u);
  const ServerStatsDelta& s0 = result->server_stats[0];
  EXPECT_EQ(s0.error, "");
  EXPECT_EQ(s0.pod, "pod-0");
  EXPECT_EQ(s0.work_served, result->rpcs) << "client and server must agree exactly";
  EXPECT_EQ(s0.connections_seen, 3u) << "one TCP connection per client";
  EXPECT_EQ(result->server_stats[1].pod, "pod-1");
  EXPECT_EQ(result->server_stats[1].work_served, 0u);
  EXPECT_EQ(pod0->stats().connections_seen, 3u);
  EXPECT_EQ(pod1->stats().work_served, 0u);
}

TEST(LoadgenEchoTest, FixedRateIsHeldWithinFifteenPercent) {
  auto pod = StartPod("pod-0", "zone-a", 1000);
  ASSERT_TRUE(pod);
  Options o;
  o.target = pod->listen_address();
  o.clients = 3;
  o.concurrency = 8;
  o.rate_rps = 500;
  o.duration = absl::Seconds(1);
  auto result = loadgen::Run(o);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->errors, 0u);
  EXPECT_NEAR(result->achieved_rps, 500, 75);
  EXPECT_DOUBLE_EQ(result->offered_rps, 500);
  // Evenly spread: each client sends a third.
  for (const ClientResult& c : result->clients) EXPECT_NEAR(c.rpcs, 167, 30) << c.id;
  // Latency counts from the intended send time, so it cannot undercut the
  // pod's 1 ms service time.
  EXPECT_GE(result->latency.min_ns(), 1'000'000);
}

TEST(LoadgenEchoTest, WarmupIsLeftOutOfTheResultButNotOutOfThePodsCount) {
  auto pod = StartPod("pod-0", "zone-a", 0);
  ASSERT_TRUE(pod);
  Options o;
  o.target = pod->listen_address();
  o.clients = 1;
  o.concurrency = 2;
  o.rate_rps = 200;
  o.warmup = absl::Milliseconds(300);
  o.duration = absl::Milliseconds(500);
  o.stats_addresses = {pod->listen_address()};
  auto result = loadgen::Run(o);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NEAR(result->warmup_rpcs, 60, 15);
  EXPECT_NEAR(result->rpcs, 100, 20);
  EXPECT_EQ(result->server_stats[0].work_served, result->rpcs + result->warmup_rpcs);
  EXPECT_NEAR(result->elapsed_s, 0.5, 0.01);
}

// Established TCP sockets of this process's network namespace whose peer port is `port`
// (the clients' side of connections to a pod on loopback), from /proc/net/tcp and tcp6
// (gRPC dials IPv4 from dual-stack sockets, which show there as v4-mapped).
int EstablishedTo(int port) {
  int count = 0;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream table(path);
    std::string line;
    std::getline(table, line);  // header
    while (std::getline(table, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      const auto colon = remote.find(':');
      if (state == "01" && colon != std::string::npos &&
          std::stoi(remote.substr(colon + 1), nullptr, 16) == port) {
        ++count;
      }
    }
  }
  return count;
}

TEST(LoadgenEchoTest, UnderChurnEachClientHoldsOneConnectionAtATime) {
  // A replaced channel closes its connection once its calls are done, as a gRPC client's
  // does on MaxConnectionAge: a connection left open would count as load on its pod in
  // every balancer, while the client no longer uses it.
  auto pod = StartPod("pod-0", "zone-a", 200);
  ASSERT_TRUE(pod);
  Options o;
  o.target = pod->listen_address();
  o.clients = 2;
  o.concurrency = 2;
  o.rate_rps = 200;
  o.duration = absl::Seconds(2);
  o.max_connection_age = absl::Milliseconds(300);
  const int port = std::stoi(o.target.substr(o.target.rfind(':') + 1));
  std::vector<int> samples;
  std::thread sampler([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    for (int i = 0; i < 10; ++i) {
      samples.push_back(EstablishedTo(port));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  auto result = loadgen::Run(o);
  sampler.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->errors, 0u);
  std::uint64_t reconnects = 0;
  for (const ClientResult& c : result->clients) reconnects += c.reconnects_by_age;
  EXPECT_GE(reconnects, 6u);
  // A sample may fall between a new connection's handshake and the old one's close, or
  // (a slow build) after the run; most do not, so the median is the clients' count. With
  // each client's first channel kept for the run, every sample read 4.
  ASSERT_EQ(samples.size(), 10u);
  std::vector<int> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted[sorted.size() / 2], 2) << ::testing::PrintToString(samples);
}

TEST(LoadgenEchoTest, StopFlagEndsTheRunEarlyWithAResult) {
  auto pod = StartPod("pod-0", "zone-a", 500);
  ASSERT_TRUE(pod);
  Options o;
  o.target = pod->listen_address();
  o.clients = 2;
  o.duration = absl::Seconds(30);
  std::atomic<bool> stop{false};
  std::thread stopper([&stop] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    stop.store(true);
  });
  const absl::Time started = absl::Now();
  auto result = loadgen::Run(o, &stop);
  stopper.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LT(absl::Now() - started, absl::Seconds(3));
  EXPECT_LT(result->elapsed_s, 1.0);
  EXPECT_GT(result->rpcs, 0u);
}

TEST(LoadgenEchoTest, ProgressIsReportedAboutOncePerSecond) {
  auto pod = StartPod("pod-0", "zone-a", 0);
  ASSERT_TRUE(pod);
  Options o;
  o.target = pod->listen_address();
  o.clients = 1;
  o.rate_rps = 100;
  o.duration = absl::Milliseconds(2500);
  std::vector<Progress> reports;
  auto result = loadgen::Run(o, nullptr, [&reports](const Progress& p) { reports.push_back(p); });
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_GE(reports.size(), 2u);
  EXPECT_LE(reports.size(), 3u);
  EXPECT_NEAR(reports[0].elapsed_s, 1.0, 0.2);
  EXPECT_NEAR(reports[0].recent_rps, 100, 25);
}

TEST(LoadgenEchoTest, UnreachableTargetIsRefusedBeforeAnyLoad) {
  Options o;
  o.target = "127.0.0.1:1";  // nothing listens on tcpmux
  o.clients = 2;
  o.connect_timeout = absl::Milliseconds(500);
  auto result = loadgen::Run(o);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(result.status().message().find("127.0.0.1:1"), std::string::npos);
}

TEST(LoadgenEchoTest, BadOptionsNameTheField) {
  Options o;
  o.target = "127.0.0.1:1";
  o.concurrency = 0;
  auto result = loadgen::Run(o);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("concurrency"), std::string::npos);
}

TEST(LoadgenEchoTest, ExpiredDeadlinesAreCountedByCode) {
  auto pod = StartPod("pod-0", "zone-a", 50'000);  // 50 ms
  ASSERT_TRUE(pod);
  Options o;
  o.target = pod->listen_address();
  o.clients = 1;
  o.concurrency = 2;
  o.duration = absl::Milliseconds(300);
  o.rpc_deadline = absl::Milliseconds(10);
  auto result = loadgen::Run(o);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->rpcs, 0u);
  EXPECT_GT(result->errors, 0u);
  EXPECT_EQ(result->errors_by_code.at("DEADLINE_EXCEEDED"), result->errors);
  EXPECT_EQ(result->clients[0].errors_by_code.at("DEADLINE_EXCEEDED"), result->errors);
}

}  // namespace
}  // namespace skewless::loadgen
