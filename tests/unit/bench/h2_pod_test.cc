// skewless-h2-pod, the bench's lightweight pod, as a process: a real gRPC C++ client gets
// the same replies it gets from the lab's pod (Work, Stats, UNIMPLEMENTED for anything
// else), skewless-h2-pace's paced calls all succeed and are counted, and SIGTERM prints the
// summary bench/run.py reads.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>

#include "nlohmann/json.hpp"
#include "run_tool.h"
#include "skewless/lab/subprocess.h"
#include "skewless/lab/v1/echo.grpc.pb.h"

namespace skewless {
namespace {

using namespace std::chrono_literals;

const std::string kPod = std::string(SKEWLESS_BIN_DIR) + "/skewless-h2-pod";
const std::string kPace = std::string(SKEWLESS_BIN_DIR) + "/skewless-h2-pace";

class H2PodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<lab::Child> child = lab::Child::Spawn(
        {.argv = {kPod, "--name", "pod-7", "--zone", "zone-b", "--listen", "127.0.0.1:0"},
         .log_path = ::testing::TempDir() + "h2-pod.log"});
    ASSERT_TRUE(child.ok()) << child.status();
    pod_ = std::make_unique<lab::Child>(*std::move(child));
    absl::StatusOr<std::string> ready = pod_->ReadLine(10s);
    ASSERT_TRUE(ready.ok()) << ready.status() << pod_->LogTail();
    ASSERT_EQ(ready->rfind("READY 127.0.0.1:", 0), 0u) << *ready;
    address_ = ready->substr(6);
    while (!address_.empty() && address_.back() == '\n') address_.pop_back();
    stub_ =
        lab::v1::Echo::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }

  // SIGTERM, then the JSON summary on stdout.
  nlohmann::json Stop() {
    pod_->Signal(SIGTERM);
    absl::StatusOr<std::string> out = pod_->ReadAll(10s);
    EXPECT_TRUE(out.ok()) << out.status();
    absl::StatusOr<int> code = pod_->Wait(10s);
    EXPECT_TRUE(code.ok() && *code == 0) << code.status() << " " << (code.ok() ? *code : -1);
    return nlohmann::json::parse(out.ok() ? *out : "", nullptr, /*allow_exceptions=*/false);
  }

  lab::v1::StatsReply Stats() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    lab::v1::StatsReply reply;
    const grpc::Status status = stub_->Stats(&context, lab::v1::StatsRequest(), &reply);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return reply;
  }

  std::unique_ptr<lab::Child> pod_;
  std::string address_;
  std::unique_ptr<lab::v1::Echo::Stub> stub_;
};

TEST_F(H2PodTest, AGrpcClientGetsWorkRepliesAndCounts) {
  for (int i = 0; i < 5; ++i) {
    grpc::ClientContext context;
    lab::v1::WorkRequest request;
    request.set_payload("ignored");
    lab::v1::WorkReply reply;
    const grpc::Status status = stub_->Work(&context, request, &reply);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(reply.pod(), "pod-7");
    EXPECT_EQ(reply.zone(), "zone-b");
  }
  const lab::v1::StatsReply stats = Stats();
  EXPECT_EQ(stats.pod(), "pod-7");
  EXPECT_EQ(stats.work_served(), 5u);
  EXPECT_EQ(stats.connections_seen(), 1u);  // one channel, one connection
  const nlohmann::json summary = Stop();
  EXPECT_EQ(summary["work_served"], 5) << summary.dump();
  EXPECT_EQ(summary["connections_seen"], 1) << summary.dump();
  EXPECT_EQ(summary["pod"], "pod-7") << summary.dump();
}

TEST_F(H2PodTest, AnUnknownMethodIsUnimplemented) {
  grpc::GenericStub generic(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  grpc::CompletionQueue queue;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call = generic.PrepareUnaryCall(
      &context, "/skewless.lab.v1.Echo/NoSuchMethod", grpc::ByteBuffer(), &queue);
  call->StartCall();
  grpc::ByteBuffer reply;
  grpc::Status status;
  call->Finish(&reply, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(queue.Next(&tag, &ok));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << status.error_message();
  EXPECT_EQ(Stats().work_served(), 0u);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
}

TEST_F(H2PodTest, PacedCallsAllSucceedAndEveryOneIsCounted) {
  testing::ToolRun run =
      testing::RunTool({kPace, "--target", address_, "--rate", "500", "--duration", "1s",
                        "--warmup", "200ms", "--connections", "3", "--max-in-flight", "4"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json r = nlohmann::json::parse(run.out, nullptr, false);
  ASSERT_TRUE(r.is_object()) << run.out;
  EXPECT_EQ(r["errors"], 0) << r.dump();
  EXPECT_NEAR(r["rpcs"].get<double>(), 500, 5) << r.dump();
  const lab::v1::StatsReply stats = Stats();
  EXPECT_EQ(stats.work_served(),
            r["rpcs"].get<std::uint64_t>() + r["warmup_rpcs"].get<std::uint64_t>());
  EXPECT_EQ(stats.connections_seen(), 3u);  // the Stats channel sent no Work
}

TEST(H2PodCli, AListenAddressThatIsNotHostPortExitsTwoNamingIt) {
  testing::ToolRun run = testing::RunTool({kPod, "--listen", "nowhere"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("nowhere"), std::string::npos) << run.err;
}

TEST(H2PodCli, AnAddressInUseExitsOne) {
  absl::StatusOr<lab::Child> first = lab::Child::Spawn(
      {.argv = {kPod, "--listen", "127.0.0.1:0"}, .log_path = ::testing::TempDir() + "first.log"});
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::string> ready = first->ReadLine(10s);
  ASSERT_TRUE(ready.ok()) << ready.status();
  std::string taken = ready->substr(6);
  while (!taken.empty() && taken.back() == '\n') taken.pop_back();
  testing::ToolRun run = testing::RunTool({kPod, "--listen", taken});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find(taken), std::string::npos) << run.err;
  first->Signal(SIGTERM);
  EXPECT_TRUE(first->Wait(10s).ok());
}

}  // namespace
}  // namespace skewless
