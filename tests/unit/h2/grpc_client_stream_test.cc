// The nghttp2 gRPC call against a real gRPC C++ server (and against peers that are not
// one): messages both ways, statuses, large messages, cancel, keepalive.
#include "skewless/h2/grpc_client_stream.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "raw_peer.h"

namespace skewless::h2 {
namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using ::testing::HasSubstr;

constexpr char kStreamMethod[] =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

// Answers each request by its type_url: "fail" ends the call with a status, "big" sends
// a response of version_info's length in bytes, anything else is echoed as the nonce.
class EchoService final : public AggregatedDiscoveryService::Service {
  grpc::Status StreamAggregatedResources(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<DiscoveryResponse, DiscoveryRequest>* stream) override {
    DiscoveryRequest request;
    while (stream->Read(&request)) {
      if (request.type_url() == "fail") {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad 100% \xc3\xbc request");
      }
      DiscoveryResponse response;
      if (request.type_url() == "big") {
        response.set_version_info(std::string(std::stoul(request.version_info()), 'b'));
      } else {
        response.set_nonce(request.version_info());
      }
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }
};

class GrpcClientStreamTest : public ::testing::Test {
 protected:
  GrpcClientStreamTest() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.SetMaxReceiveMessageSize(-1);
    builder.SetMaxSendMessageSize(-1);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~GrpcClientStreamTest() override { server_->Shutdown(std::chrono::system_clock::now()); }

  GrpcCallOptions Call(const std::string& method = kStreamMethod) {
    return GrpcCallOptions{.target = "127.0.0.1:" + std::to_string(port_), .method = method};
  }

  static DiscoveryRequest Request(const std::string& type_url, const std::string& version) {
    DiscoveryRequest request;
    request.set_type_url(type_url);
    request.set_version_info(version);
    return request;
  }

  EchoService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// Cancels `stream` after `delay` unless destroyed first: a test whose feature is broken
// fails instead of hanging.
class CancelAfter {
 public:
  CancelAfter(GrpcClientStream& stream, std::chrono::milliseconds delay)
      : thread_([this, &stream, delay] {
          std::unique_lock lock(mutex_);
          if (!wake_.wait_for(lock, delay, [this] { return done_; })) stream.Cancel();
        }) {}
  ~CancelAfter() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

TEST_F(GrpcClientStreamTest, MessagesFlowBothWaysAndTheCallEndsOk) {
  GrpcClientStream stream(Call());
  ASSERT_TRUE(stream.Start().ok());
  for (const char* version : {"1", "2", "3"}) {
    ASSERT_TRUE(stream.Write(Request("t", version)));
  }
  for (const char* version : {"1", "2", "3"}) {
    DiscoveryResponse response;
    ASSERT_TRUE(stream.Read(&response));
    EXPECT_EQ(response.nonce(), version);
  }
  ASSERT_TRUE(stream.WritesDone());
  DiscoveryResponse none;
  EXPECT_FALSE(stream.Read(&none));
  EXPECT_TRUE(stream.Finish().ok());
}

TEST_F(GrpcClientStreamTest, AMessageFarLargerThanTheFlowControlWindowsArrivesWhole) {
  GrpcClientStream stream(Call());
  ASSERT_TRUE(stream.Start().ok());
  constexpr std::size_t kBytes = 20u << 20;  // above gRPC's 4 MiB default and our windows
  ASSERT_TRUE(stream.Write(Request("big", std::to_string(kBytes))));
  DiscoveryResponse response;
  ASSERT_TRUE(stream.Read(&response));
  EXPECT_EQ(response.version_info().size(), kBytes);
  ASSERT_TRUE(stream.Write(Request("t", "after")));
  ASSERT_TRUE(stream.Read(&response));
  EXPECT_EQ(response.nonce(), "after");
}

TEST_F(GrpcClientStreamTest, TheServersStatusAndDecodedMessageComeFromFinish) {
  GrpcClientStream stream(Call());
  ASSERT_TRUE(stream.Start().ok());
  ASSERT_TRUE(stream.Write(Request("fail", "")));
  DiscoveryResponse response;
  EXPECT_FALSE(stream.Read(&response));
  const absl::Status status = stream.Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "bad 100% \xc3\xbc request");
}

TEST_F(GrpcClientStreamTest, AnUnknownMethodIsUnimplemented) {
  GrpcClientStream stream(
      Call("/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"));
  ASSERT_TRUE(stream.Start().ok());
  DiscoveryResponse response;
  EXPECT_FALSE(stream.Read(&response));
  EXPECT_EQ(stream.Finish().code(), absl::StatusCode::kUnimplemented);
}

TEST_F(GrpcClientStreamTest, CancelFromAnotherThreadEndsABlockedRead) {
  GrpcClientStream stream(Call());
  ASSERT_TRUE(stream.Start().ok());
  {
    CancelAfter cancel(stream, std::chrono::milliseconds(50));
    DiscoveryResponse response;
    EXPECT_FALSE(stream.Read(&response));  // the server sends nothing unasked
  }
  EXPECT_EQ(stream.Finish().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(stream.Write(Request("t", "late")));
}

TEST_F(GrpcClientStreamTest, ReadUntilTimesOutWithTheCallStillUsable) {
  GrpcClientStream stream(Call());
  ASSERT_TRUE(stream.Start().ok());
  CancelAfter cancel(stream, std::chrono::seconds(10));
  DiscoveryResponse response;
  const auto start = std::chrono::steady_clock::now();
  // The server sends nothing unasked: the deadline ends the wait, not the call.
  EXPECT_EQ(stream.ReadUntil(&response, start + std::chrono::milliseconds(100)),
            ReadOutcome::kTimedOut);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(100));
  EXPECT_LT(waited, std::chrono::seconds(5));
  ASSERT_TRUE(stream.Write(Request("t", "after")));
  ASSERT_EQ(stream.ReadUntil(&response, std::chrono::steady_clock::now() + std::chrono::seconds(5)),
            ReadOutcome::kMessage);
  EXPECT_EQ(response.nonce(), "after");
  ASSERT_TRUE(stream.WritesDone());
  EXPECT_EQ(stream.ReadUntil(&response, std::chrono::steady_clock::now() + std::chrono::seconds(5)),
            ReadOutcome::kEnded);
  EXPECT_TRUE(stream.Finish().ok());
}

TEST(GrpcClientStreamErrorsTest, ARefusedConnectionNamesTheAddress) {
  int port = 0;
  {
    RawPeer closed([](int) {});
    port = std::stoi(closed.target().substr(10));
  }
  GrpcClientStream stream({.target = "127.0.0.1:" + std::to_string(port), .method = kStreamMethod});
  const absl::Status started = stream.Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(started.message(), HasSubstr("127.0.0.1:" + std::to_string(port)));
  EXPECT_THAT(started.message(), HasSubstr("refused"));
}

TEST(GrpcClientStreamErrorsTest, ATargetThatIsNotHostPortIsRejected) {
  GrpcClientStream stream({.target = "controlplane", .method = kStreamMethod});
  const absl::Status started = stream.Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(started.message(), HasSubstr("\"controlplane\""));
}

TEST(GrpcClientStreamErrorsTest, APeerThatGoesSilentFailsTheKeepalive) {
  // Accepts, reads everything, answers nothing: a control plane whose node vanished.
  RawPeer silent([](int fd) {
    char buffer[4096];
    while (read(fd, buffer, sizeof(buffer)) > 0) {
    }
  });
  GrpcClientStream stream({.target = silent.target(),
                           .method = kStreamMethod,
                           .keepalive_interval = std::chrono::milliseconds(100),
                           .keepalive_timeout = std::chrono::milliseconds(200)});
  ASSERT_TRUE(stream.Start().ok());
  {
    // Without keepalive the Read would block forever; the guard makes that a failure.
    CancelAfter guard(stream, std::chrono::seconds(20));
    DiscoveryResponse response;
    EXPECT_FALSE(stream.Read(&response));
  }
  const absl::Status status = stream.Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr("keepalive"));
}

TEST(GrpcClientStreamErrorsTest, APeerThatIsNotHttp2IsNamedAsSuch) {
  // Reads what the client sends first, then answers as an HTTP/1.1 server would.
  RawPeer http1([](int fd) {
    char buffer[4096];
    (void)read(fd, buffer, sizeof(buffer));
    const std::string reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    (void)write(fd, reply.data(), reply.size());
  });
  GrpcClientStream stream({.target = http1.target(), .method = kStreamMethod});
  // Depending on timing the failure shows at Start (the peer already closed) or later.
  absl::Status status = stream.Start();
  if (status.ok()) {
    DiscoveryResponse response;
    EXPECT_FALSE(stream.Read(&response));
    status = stream.Finish();
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr(http1.target()));
}

}  // namespace
}  // namespace skewless::h2
