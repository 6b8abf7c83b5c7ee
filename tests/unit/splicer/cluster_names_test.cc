// The splicer names a pinned Service's cluster from the agent's /debug/clusters: by VIP
// and port, read again as the agent's answer changes, nothing while it cannot be read.
#include "cluster_names.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace skewless::splicer {
namespace {

skw_addr V4(const char* text) {
  skw_addr addr{};
  addr.words[2] = htonl(0x0000ffff);
  inet_pton(AF_INET, text, &addr.words[3]);
  return addr;
}

TEST(ParseAgentClusters, MapsEveryVipAndPortToItsCluster) {
  absl::StatusOr<ClusterNameMap> names = ParseAgentClusters(
      R"({"clusters": [{"name": "default/echo:grpc", "vips": ["10.96.0.10", "fd00::10"],
                        "port": 8080},
                       {"name": "default/web:http", "vips": ["10.96.0.11"], "port": 80}]})");
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(names->size(), 3u);
  EXPECT_EQ(names->at({"fd00::10", 8080}), "default/echo:grpc");
  EXPECT_EQ(names->at({"10.96.0.11", 80}), "default/web:http");
  EXPECT_FALSE(
      ParseAgentClusters(R"({"clusters": [{"name": "x", "port": 70000, "vips": []}]})").ok());
  EXPECT_FALSE(ParseAgentClusters("not json").ok());
}

TEST(ClusterNames, FollowsTheAgentsAnswer) {
  std::mutex mutex;
  std::string body = R"({"clusters": []})";
  httplib::Server agent;
  agent.Get("/debug/clusters", [&](const httplib::Request&, httplib::Response& response) {
    std::lock_guard lock(mutex);
    response.set_content(body, "application/json");
  });
  const int port = agent.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { agent.listen_after_bind(); });
  {
    ClusterNames names(absl::StrCat("http://127.0.0.1:", port), std::chrono::milliseconds(20));
    const skw_addr vip = V4("10.96.0.10");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(names.Lookup(vip, htons(8080)), "");
    {
      std::lock_guard lock(mutex);
      body =
          R"({"clusters": [{"name": "default/echo:grpc", "vips": ["10.96.0.10"], "port": 8080}]})";
    }
    std::string named;
    for (int i = 0; i < 250 && named.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      named = names.Lookup(vip, htons(8080));
    }
    EXPECT_EQ(named, "default/echo:grpc");
    EXPECT_EQ(names.Lookup(vip, htons(9090)), "");  // another port of the same VIP
  }
  agent.stop();
  serving.join();
}

}  // namespace
}  // namespace skewless::splicer
