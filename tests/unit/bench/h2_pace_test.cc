// skewless-h2-pace against a real gRPC C++ pod server: paced calls all succeed and their
// count follows rate x duration; a method the server lacks is counted as UNIMPLEMENTED; an
// unreachable target and bad flags exit as documented.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "run_tool.h"
#include "skewless/podserver/echo_server.h"

namespace skewless {
namespace {

using ::testing::HasSubstr;

const std::string kPace = std::string(SKEWLESS_BIN_DIR) + "/skewless-h2-pace";

class H2PaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<podserver::EchoServer>> pod =
        podserver::EchoServer::Start({.pod_name = "pod-0", .service_time_us = 0});
    ASSERT_TRUE(pod.ok()) << pod.status();
    pod_ = *std::move(pod);
  }

  // Runs the generator against the pod; fails the test unless it exits 0 with JSON.
  nlohmann::json Pace(const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {kPace, "--target", pod_->listen_address()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    testing::ToolRun run = testing::RunTool(argv);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    return nlohmann::json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  }

  std::unique_ptr<podserver::EchoServer> pod_;
};

TEST_F(H2PaceTest, PacedCallsSucceedAndTheirCountFollowsTheRate) {
  const nlohmann::json r = Pace({"--rate", "400", "--duration", "2s", "--warmup", "300ms",
                                 "--connections", "3", "--max-in-flight", "4"});
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["errors"], 0) << r.dump();
  EXPECT_EQ(r["unsent"], 0) << r.dump();
  // Calls are due every 2.5 ms; the measured 2 s hold 800 of them.
  EXPECT_NEAR(r["rpcs"].get<double>(), 800, 8) << r.dump();
  EXPECT_NEAR(r["achieved_rps"].get<double>(), 400, 4) << r.dump();
  EXPECT_NEAR(r["warmup_rpcs"].get<double>(), 120, 2) << r.dump();
  // The pod served every call, warm-up included, over the generator's 3 connections.
  EXPECT_EQ(pod_->stats().work_served,
            r["rpcs"].get<std::uint64_t>() + r["warmup_rpcs"].get<std::uint64_t>());
  EXPECT_EQ(pod_->stats().connections_seen, 3u);
  EXPECT_GT(r["latency_us"]["p50"].get<double>(), 0);
  EXPECT_LE(r["latency_us"]["p50"].get<double>(), r["latency_us"]["p99"].get<double>());
  EXPECT_GT(r["cpu_s"].get<double>(), 0);
}

TEST_F(H2PaceTest, AMethodTheServerLacksIsCountedAsUnimplemented) {
  const nlohmann::json r = Pace({"--rate", "200", "--duration", "1s", "--warmup", "0", "--path",
                                 "/skewless.lab.v1.Echo/NoSuchMethod"});
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["rpcs"], 0) << r.dump();
  EXPECT_NEAR(r["errors"].get<double>(), 200, 2) << r.dump();
  // UNIMPLEMENTED is gRPC status code 12.
  EXPECT_EQ(r["errors_by_code"], (nlohmann::json{{"UNIMPLEMENTED", r["errors"]}})) << r.dump();
  EXPECT_EQ(pod_->stats().work_served, 0u);
}

TEST(H2PaceCli, AnUnreachableTargetExitsOneNamingIt) {
  // A port that was free a moment ago: nothing listens there.
  const int probe = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
  ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length);
  close(probe);
  const std::string target = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));

  testing::ToolRun run = testing::RunTool({kPace, "--target", target, "--rate", "10"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("cannot connect to " + target));
  EXPECT_EQ(run.out, "");
}

TEST(H2PaceCli, BadFlagsExitTwo) {
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{"--target", "127.0.0.1:1", "--rate", "-5"},
        std::vector<std::string>{"--target", "127.0.0.1:1", "--rate", "10", "--duration", "x"},
        std::vector<std::string>{"--rate", "10"},
        std::vector<std::string>{"--target", "127.0.0.1:1", "--rate", "10", "--duration", "0"}}) {
    std::vector<std::string> argv = {kPace};
    argv.insert(argv.end(), flags.begin(), flags.end());
    testing::ToolRun run = testing::RunTool(argv);
    EXPECT_EQ(run.exit_code, 2) << ::testing::PrintToString(flags) << run.err;
    EXPECT_FALSE(run.err.empty());
  }
}

}  // namespace
}  // namespace skewless
