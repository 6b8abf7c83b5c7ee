// Pod server: replies name the pod, service time is slept (times the slow factor), bad input fails.
#include "skewless/podserver/echo_server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "skewless/lab/v1/echo.grpc.pb.h"

namespace skewless::podserver {
namespace {

using skewless::lab::v1::Echo;

std::unique_ptr<EchoServer> Start(uint32_t service_time_us, double slow_factor) {
  EchoServerOptions o;
  o.pod_name = "pod-7";
  o.zone = "zone-c";
  o.service_time_us = service_time_us;
  o.slow_factor = slow_factor;
  auto s = EchoServer::Start(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

// Duration of one Work call on a fresh connection (connection set up first).
absl::Duration TimeOneWork(const EchoServer& server, uint32_t extra_us = 0) {
  auto channel = grpc::CreateChannel(server.listen_address(), grpc::InsecureChannelCredentials());
  EXPECT_TRUE(channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(5))));
  auto stub = Echo::NewStub(channel);
  skewless::lab::v1::WorkRequest request;
  request.set_extra_service_time_us(extra_us);
  request.set_payload("hello");
  skewless::lab::v1::WorkReply reply;
  grpc::ClientContext context;
  const absl::Time start = absl::Now();
  const grpc::Status status = stub->Work(&context, request, &reply);
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.pod(), "pod-7");
  EXPECT_EQ(reply.zone(), "zone-c");
  EXPECT_EQ(reply.payload(), "hello");
  return took;
}

TEST(EchoServerTest, ReportsTheRealPortWhenAskedForPortZero) {
  auto server = Start(0, 1);
  ASSERT_TRUE(server);
  EXPECT_GT(server->port(), 0);
  EXPECT_EQ(server->listen_address(), "127.0.0.1:" + std::to_string(server->port()));
}

TEST(EchoServerTest, WorkSleepsTheServiceTimeTimesTheSlowFactor) {
  auto normal = Start(20'000, 1);
  auto slow = Start(20'000, 3);
  ASSERT_TRUE(normal && slow);
  const absl::Duration normal_took = TimeOneWork(*normal);
  const absl::Duration slow_took = TimeOneWork(*slow);
  EXPECT_GE(normal_took, absl::Milliseconds(20));
  EXPECT_LT(normal_took, absl::Milliseconds(50));
  EXPECT_GE(slow_took, absl::Milliseconds(60));
  EXPECT_LT(slow_took, absl::Milliseconds(100));
  // The request's extra time is added before the factor applies.
  EXPECT_GE(TimeOneWork(*slow, 10'000), absl::Milliseconds(90));
}

TEST(EchoServerTest, CountsWorkAndDistinctConnections) {
  auto server = Start(0, 1);
  ASSERT_TRUE(server);
  TimeOneWork(*server);
  TimeOneWork(*server);  // a second channel: a second connection
  EXPECT_EQ(server->stats().work_served, 2u);
  EXPECT_EQ(server->stats().connections_seen, 2u);
}

TEST(EchoServerTest, ShutdownEndsSleepingCallsWithinTheDeadline) {
  auto server = Start(30'000'000, 1);  // 30 s per call
  ASSERT_TRUE(server);
  auto channel = grpc::CreateChannel(server->listen_address(), grpc::InsecureChannelCredentials());
  auto stub = Echo::NewStub(channel);
  grpc::ClientContext context;
  skewless::lab::v1::WorkReply reply;
  std::atomic<bool> returned{false};
  stub->async()->Work(&context, &skewless::lab::v1::WorkRequest::default_instance(), &reply,
                      [&returned](grpc::Status) { returned = true; });
  while (server->stats().work_served == 0) absl::SleepFor(absl::Milliseconds(5));
  const absl::Time start = absl::Now();
  server->Shutdown(absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  while (!returned) absl::SleepFor(absl::Milliseconds(5));
}

TEST(EchoServerTest, ShutdownLetsCallsInServiceFinishNormally) {
  auto server = Start(200'000, 1);  // 200 ms per call, well inside the 1 s grace
  ASSERT_TRUE(server);
  auto channel = grpc::CreateChannel(server->listen_address(), grpc::InsecureChannelCredentials());
  auto stub = Echo::NewStub(channel);
  grpc::ClientContext context;
  skewless::lab::v1::WorkReply reply;
  std::atomic<bool> returned{false};
  grpc::Status status;
  stub->async()->Work(&context, &skewless::lab::v1::WorkRequest::default_instance(), &reply,
                      [&](grpc::Status s) {
                        status = std::move(s);
                        returned = true;
                      });
  while (server->stats().work_served == 0) absl::SleepFor(absl::Milliseconds(5));
  server->Shutdown(absl::Seconds(1));
  while (!returned) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(reply.pod(), "pod-7");
}

TEST(EchoServerTest, RefusesBadOptionsAndUnbindableAddresses) {
  EchoServerOptions o;
  o.slow_factor = 0;
  EXPECT_EQ(EchoServer::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = {};
  o.listen_address = "no-port";
  EXPECT_EQ(EchoServer::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = {};
  o.listen_address = "192.0.2.1:8080";  // TEST-NET-1: never a local address
  EXPECT_EQ(EchoServer::Start(o).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace skewless::podserver
