// Pod server's streaming calls through a real gRPC C++ client: counts, payloads, order, status.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "skewless/lab/v1/echo.grpc.pb.h"
#include "skewless/podserver/echo_server.h"

namespace skewless::podserver {
namespace {

using skewless::lab::v1::Echo;
using skewless::lab::v1::StreamWorkRequest;
using skewless::lab::v1::WorkReply;
using skewless::lab::v1::WorkRequest;

class EchoStreamingTest : public ::testing::Test {
 protected:
  void Start(uint32_t service_time_us) {
    EchoServerOptions o;
    o.pod_name = "pod-5";
    o.zone = "zone-b";
    o.service_time_us = service_time_us;
    auto server = EchoServer::Start(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = Echo::NewStub(
        grpc::CreateChannel(server_->listen_address(), grpc::InsecureChannelCredentials()));
  }

  // Every reply of a StreamWork call, read with `pause` before each read.
  std::vector<WorkReply> StreamWork(uint32_t messages, uint32_t message_bytes, grpc::Status& status,
                                    absl::Duration pause = {}) {
    StreamWorkRequest request;
    request.set_messages(messages);
    request.set_message_bytes(message_bytes);
    grpc::ClientContext context;
    auto reader = stub_->StreamWork(&context, request);
    std::vector<WorkReply> replies;
    for (WorkReply reply;; replies.push_back(reply)) {
      absl::SleepFor(pause);
      if (!reader->Read(&reply)) break;
    }
    status = reader->Finish();
    return replies;
  }

  std::unique_ptr<EchoServer> server_;
  std::unique_ptr<Echo::Stub> stub_;
};

// Reply i is `message_bytes` copies of 'a' + i % 26: whole, in order, from this pod.
void ExpectReplyIntact(const WorkReply& reply, std::size_t index, uint32_t message_bytes) {
  EXPECT_EQ(reply.pod(), "pod-5");
  EXPECT_EQ(reply.zone(), "zone-b");
  EXPECT_EQ(reply.payload(), std::string(message_bytes, static_cast<char>('a' + index % 26)))
      << "reply " << index;
}

TEST_F(EchoStreamingTest, StreamWorkSendsEveryReplyWholeAndInOrderThenOk) {
  Start(0);
  grpc::Status status;
  const std::vector<WorkReply> replies = StreamWork(30, 1000, status);
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(replies.size(), 30u);
  for (std::size_t i = 0; i < replies.size(); ++i) ExpectReplyIntact(replies[i], i, 1000);
  EXPECT_EQ(server_->stats().streams_served, 1u);
  EXPECT_EQ(server_->stats().work_served, 0u);
}

TEST_F(EchoStreamingTest, StreamWorkSleepsTheServiceTimeBeforeEachReply) {
  Start(20'000);
  grpc::Status status;
  const absl::Time start = absl::Now();
  EXPECT_EQ(StreamWork(3, 10, status).size(), 3u);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(60));
}

TEST_F(EchoStreamingTest, StreamWorkOfNoMessagesEndsOkAndOversizedMessagesAreRefused) {
  Start(0);
  grpc::Status status;
  EXPECT_TRUE(StreamWork(0, 10, status).empty());
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(StreamWork(1, (4 << 20) + 1, status).empty());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
}

// 16 MiB read one message per 10 ms: far more than the HTTP/2 windows, so the server is
// held back many times over, and still every byte arrives.
TEST_F(EchoStreamingTest, AServerStreamReadSlowlyStillDeliversEverything) {
  Start(0);
  constexpr uint32_t kMessages = 64;
  constexpr uint32_t kMessageBytes = 256 << 10;
  grpc::Status status;
  const std::vector<WorkReply> replies =
      StreamWork(kMessages, kMessageBytes, status, absl::Milliseconds(10));
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(replies.size(), kMessages);
  for (std::size_t i = 0; i < replies.size(); ++i) ExpectReplyIntact(replies[i], i, kMessageBytes);
}

TEST_F(EchoStreamingTest, UploadWorkCountsEveryPayloadByteItReceived) {
  Start(0);
  grpc::ClientContext context;
  WorkReply reply;
  auto writer = stub_->UploadWork(&context, &reply);
  uint64_t sent = 0;
  for (int i = 0; i < 20; ++i) {
    WorkRequest request;
    request.set_payload(std::string(i * 1000, 'u'));
    ASSERT_TRUE(writer->Write(request));
    sent += request.payload().size();
  }
  ASSERT_TRUE(writer->WritesDone());
  const grpc::Status status = writer->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.bytes_received(), sent);
  EXPECT_TRUE(reply.payload().empty());
  EXPECT_EQ(reply.pod(), "pod-5");
  EXPECT_EQ(server_->stats().streams_served, 1u);
}

TEST_F(EchoStreamingTest, ChatWorkEchoesEachRequestInOrder) {
  Start(0);
  grpc::ClientContext context;
  auto stream = stub_->ChatWork(&context);
  // Lock-step first, then pipelined: every request written before any reply is read.
  WorkRequest request;
  WorkReply reply;
  for (int i = 0; i < 10; ++i) {
    request.set_payload("ping " + std::to_string(i));
    ASSERT_TRUE(stream->Write(request));
    ASSERT_TRUE(stream->Read(&reply));
    EXPECT_EQ(reply.payload(), "ping " + std::to_string(i));
    EXPECT_EQ(reply.pod(), "pod-5");
  }
  for (int i = 0; i < 50; ++i) {
    request.set_payload("burst " + std::to_string(i));
    ASSERT_TRUE(stream->Write(request));
  }
  ASSERT_TRUE(stream->WritesDone());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(stream->Read(&reply));
    EXPECT_EQ(reply.payload(), "burst " + std::to_string(i));
  }
  EXPECT_FALSE(stream->Read(&reply));
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(server_->stats().streams_served, 1u);
}

// A stream asleep between replies (30 s each) is finished by a shutdown's cancellation,
// not waited out.
TEST_F(EchoStreamingTest, ShutdownEndsAStreamSleepingBetweenReplies) {
  Start(30'000'000);
  grpc::ClientContext context;
  StreamWorkRequest request;
  request.set_messages(2);
  auto reader = stub_->StreamWork(&context, request);
  while (server_->stats().streams_served == 0) absl::SleepFor(absl::Milliseconds(5));
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  WorkReply reply;
  EXPECT_FALSE(reader->Read(&reply));
  EXPECT_FALSE(reader->Finish().ok());
}

}  // namespace
}  // namespace skewless::podserver
