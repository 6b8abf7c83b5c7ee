// The daemons' HTTP server: routes, what it refuses, binding errors and a prompt stop.
#include "skewless/common/http_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

namespace skewless {
namespace {

using ::testing::HasSubstr;

std::vector<HttpRoute> Routes() {
  return {{"/healthz", [] { return HttpReply{.body = "ok\n"}; }},
          {"/readyz", [] { return HttpReply{.status = 503, .body = "not ready: reason\n"}; }},
          {"/metrics",
           [] { return HttpReply{.content_type = "text/plain; version=0.0.4", .body = "m 1\n"}; }}};
}

TEST(HttpServerTest, ServesEachRouteWithItsStatusAndContentType) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Start("127.0.0.1:0", Routes(), "http_listen");
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  httplib::Client client("127.0.0.1", (*server)->port());
  auto healthz = client.Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);
  EXPECT_EQ(healthz->body, "ok\n");
  auto readyz = client.Get("/readyz");
  ASSERT_TRUE(readyz);
  EXPECT_EQ(readyz->status, 503);
  EXPECT_EQ(readyz->body, "not ready: reason\n");
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_EQ(metrics->body, "m 1\n");
}

TEST(HttpServerTest, UnknownPathsAre404AndOtherMethodsRefused) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Start("127.0.0.1:0", Routes(), "http_listen");
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  auto missing = client.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto posted = client.Post("/healthz", "x", "text/plain");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 501);  // libevent: Not Implemented
}

TEST(HttpServerTest, ServesIpv6Loopback) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Start("[::1]:0", Routes(), "http_listen");
  if (!server.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << server.status();
  httplib::Client client("::1", (*server)->port());
  auto healthz = client.Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);
}

TEST(HttpServerTest, ATakenPortIsAnErrorNamingTheSetting) {
  absl::StatusOr<std::unique_ptr<HttpServer>> first =
      HttpServer::Start("127.0.0.1:0", Routes(), "http_listen");
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  absl::StatusOr<std::unique_ptr<HttpServer>> second =
      HttpServer::Start(taken, Routes(), "http_listen");
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("http_listen"));
  EXPECT_THAT(second.status().message(), HasSubstr(taken));
}

TEST(HttpServerTest, ANonAddressIsAnError) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Start("9090", Routes(), "http_listen");
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("\"9090\" is not host:port"));
}

TEST(HttpServerTest, StopsRightAfterStartAndTwice) {
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start("127.0.0.1:0", Routes(), "http_listen");
    ASSERT_TRUE(server.ok()) << server.status();
    (*server)->Stop();
    (*server)->Stop();
  }
}

TEST(HttpServerTest, AfterStopThePortIsClosed) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Start("127.0.0.1:0", Routes(), "http_listen");
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  server->reset();
  httplib::Client client("127.0.0.1", port);
  EXPECT_FALSE(client.Get("/healthz"));
}

}  // namespace
}  // namespace skewless
