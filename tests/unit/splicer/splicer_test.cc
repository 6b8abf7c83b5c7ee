// The splicer between real gRPC C++ clients and servers on loopback: one channel's calls
// spread over every backend, and gRPC's semantics pass through unchanged.
#include "skewless/splicer/splicer.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "loopback_process.h"
#include "nlohmann/json.hpp"
#include "prometheus_sample.h"
#include "run_tool.h"
#include "skewless/lab/subprocess.h"
#include "skewless/lab/v1/echo.grpc.pb.h"
#include "skewless/podserver/echo_server.h"

namespace skewless::splicer {
namespace {

using testing::CpuSeconds;
using testing::FreePort;

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using skewless::lab::v1::Echo;
using skewless::lab::v1::WorkReply;
using skewless::lab::v1::WorkRequest;
using ::testing::HasSubstr;

std::unique_ptr<Splicer> StartSplicer(const std::vector<std::string>& backends) {
  SplicerOptions options{.listen = "127.0.0.1:0", .workers = 2};
  for (const std::string& address : backends) options.backends.push_back({.address = address});
  absl::StatusOr<std::unique_ptr<Splicer>> splicer = Splicer::Start(options);
  EXPECT_TRUE(splicer.ok()) << splicer.status();
  return splicer.ok() ? *std::move(splicer) : nullptr;
}

std::shared_ptr<grpc::Channel> ChannelTo(int port) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<Splicer> StartSplicerWith(const SplicerOptions& options) {
  absl::StatusOr<std::unique_ptr<Splicer>> splicer = Splicer::Start(options);
  EXPECT_TRUE(splicer.ok()) << splicer.status();
  return splicer.ok() ? *std::move(splicer) : nullptr;
}

int ConnectTo(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{.sin_family = AF_INET,
                      .sin_port = htons(static_cast<std::uint16_t>(port)),
                      .sin_addr = {htonl(INADDR_LOOPBACK)}};
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// True when the peer closed `fd` within `wait` (EOF or reset).
bool ClosedByPeer(int fd, std::chrono::milliseconds wait) {
  timeval timeout{.tv_sec = 0, .tv_usec = static_cast<suseconds_t>(wait.count() * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  char byte = 0;
  const ssize_t n = recv(fd, &byte, 1, 0);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

class SplicerEchoTest : public ::testing::Test {
 protected:
  // `callers` threads share one channel, `calls_each` Work calls each: calls per pod.
  std::map<std::string, int> CallThroughOneChannel(int port, int callers, int calls_each) {
    auto stub = Echo::NewStub(ChannelTo(port));
    std::vector<std::map<std::string, int>> per_caller(callers);
    std::vector<std::thread> threads;
    for (int c = 0; c < callers; ++c) {
      threads.emplace_back([&, c] {
        for (int i = 0; i < calls_each; ++i) {
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
          WorkRequest request;
          request.set_extra_service_time_us(200);
          WorkReply reply;
          const grpc::Status status = stub->Work(&context, request, &reply);
          ++per_caller[c][status.ok() ? reply.pod() : "failed: " + status.error_message()];
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    std::map<std::string, int> per_pod;
    for (const auto& counts : per_caller) {
      for (const auto& [pod, calls] : counts) per_pod[pod] += calls;
    }
    return per_pod;
  }

  void StartPods(int count, std::uint32_t service_time_us = 0, double last_slow_factor = 1) {
    for (int i = 0; i < count; ++i) {
      absl::StatusOr<std::unique_ptr<podserver::EchoServer>> pod =
          podserver::EchoServer::Start({.pod_name = "pod-" + std::to_string(i),
                                        .service_time_us = service_time_us,
                                        .slow_factor = i == count - 1 ? last_slow_factor : 1.0});
      ASSERT_TRUE(pod.ok()) << pod.status();
      addresses_.push_back((*pod)->listen_address());
      pods_.push_back(*std::move(pod));
    }
  }

  std::vector<std::unique_ptr<podserver::EchoServer>> pods_;
  std::vector<std::string> addresses_;
};

TEST_F(SplicerEchoTest, OneChannelsCallsAreSpreadEvenlyOverEveryBackend) {
  // Pods with the lab's 1 ms service time: equal pods whose latency differences are
  // the machine's noise, not a millisecond apart.
  StartPods(4, /*service_time_us=*/1000);
  std::unique_ptr<Splicer> splicer = StartSplicer(addresses_);
  ASSERT_NE(splicer, nullptr);
  // One channel (one HTTP/2 connection) used by 8 callers at once, as a busy client does.
  constexpr int kCallers = 8;
  constexpr int kCallsEach = 1250;
  const std::map<std::string, int> per_pod =
      CallThroughOneChannel(splicer->port(), kCallers, kCallsEach);
  ASSERT_EQ(per_pod.size(), 4u) << ::testing::PrintToString(per_pod);
  for (const auto& [pod, calls] : per_pod) {
    EXPECT_NEAR(static_cast<double>(calls) / (kCallers * kCallsEach), 0.25, 0.02) << pod;
  }
  // Each backend saw the splicer's pooled connection (one per worker at most), not one
  // per call.
  for (const auto& pod : pods_) EXPECT_LE(pod->stats().connections_seen, 2u);
}

TEST_F(SplicerEchoTest, ATenTimesSlowerBackendGetsFarFewerCalls) {
  StartPods(4, /*service_time_us=*/1000, /*last_slow_factor=*/10);
  std::unique_ptr<Splicer> splicer = StartSplicer(addresses_);
  ASSERT_NE(splicer, nullptr);
  std::map<std::string, int> per_pod = CallThroughOneChannel(splicer->port(), 8, 250);
  ASSERT_EQ(per_pod["pod-0"] + per_pod["pod-1"] + per_pod["pod-2"] + per_pod["pod-3"], 2000)
      << ::testing::PrintToString(per_pod);  // none failed
  // Fewest outstanding streams alone would give it a good part of a fair share; its
  // measured latency keeps it near nothing (0.2% on a quiet machine).
  const int fastest_few = std::min({per_pod["pod-0"], per_pod["pod-1"], per_pod["pod-2"]});
  EXPECT_LT(per_pod["pod-3"] * 5, fastest_few) << ::testing::PrintToString(per_pod);
}

TEST_F(SplicerEchoTest, AStoppedBackendFailsNoNewCall) {
  StartPods(2);
  std::unique_ptr<Splicer> splicer = StartSplicer(addresses_);
  ASSERT_NE(splicer, nullptr);
  std::map<std::string, int> warm = CallThroughOneChannel(splicer->port(), 2, 20);
  ASSERT_EQ(warm["pod-0"] + warm["pod-1"], 40) << ::testing::PrintToString(warm);
  pods_[1]->Shutdown(absl::ZeroDuration());
  // A stream whose backend connection cannot be made has sent nothing: it goes to
  // another backend instead of failing, while the balancer learns to avoid the dead one.
  const std::map<std::string, int> after = CallThroughOneChannel(splicer->port(), 2, 50);
  EXPECT_EQ(after, (std::map<std::string, int>{{"pod-0", 100}}));
}

TEST_F(SplicerEchoTest, MetricsCountStreamsPerBackendAndOutcome) {
  StartPods(2);
  std::unique_ptr<Splicer> splicer = StartSplicer(addresses_);
  ASSERT_NE(splicer, nullptr);
  // Sequential calls may all go to the pod measured faster: a pod may have none.
  std::map<std::string, int> per_pod = CallThroughOneChannel(splicer->port(), 1, 10);
  ASSERT_EQ(per_pod["pod-0"] + per_pod["pod-1"], 10) << ::testing::PrintToString(per_pod);
  const std::string text = splicer->registry().Render();
  for (int pod = 0; pod < 2; ++pod) {
    const std::string calls = std::to_string(per_pod["pod-" + std::to_string(pod)]);
    EXPECT_THAT(text, HasSubstr("skewless_splicer_streams_total{backend=\"" + addresses_[pod] +
                                "\",outcome=\"success\"} " + calls + "\n"));
    EXPECT_THAT(text, HasSubstr("skewless_splicer_backend_outstanding_streams{backend=\"" +
                                addresses_[pod] + "\"} 0\n"));
  }
  // A channel that stays open is one client connection (the helper's channel is gone,
  // or going).
  auto stub = Echo::NewStub(ChannelTo(splicer->port()));
  grpc::ClientContext context;
  WorkReply reply;
  ASSERT_TRUE(stub->Work(&context, WorkRequest(), &reply).ok());
  std::string now;
  for (int i = 0; i < 100; ++i) {
    now = splicer->registry().Render();
    if (now.find("skewless_splicer_client_connections 1\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_THAT(now, HasSubstr("skewless_splicer_client_connections 1\n"));
}

// A listener whose accept queue is full: the kernel drops further SYNs, so a connect to
// it neither succeeds nor fails (a blackholed pod), all on loopback.
class FullListener {
 public:
  FullListener() {
    listener_ = testing::LoopbackSocket(0, &port_);
    const sockaddr_in address{.sin_family = AF_INET,
                              .sin_port = htons(static_cast<std::uint16_t>(port_)),
                              .sin_addr = {htonl(INADDR_LOOPBACK)}};
    for (int i = 0; i < 2; ++i) {  // backlog 0 queues one; the second waits in SYN-SENT
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
      fillers_.push_back(fd);
    }
  }
  ~FullListener() {
    for (int fd : fillers_) close(fd);
    close(listener_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;
};

TEST_F(SplicerEchoTest, ABackendThatNeverAnswersTheConnectIsLeftAfterATimeout) {
  StartPods(1);
  FullListener blackhole;
  std::unique_ptr<Splicer> splicer = StartSplicer({addresses_[0], blackhole.address()});
  ASSERT_NE(splicer, nullptr);
  // Calls that pick the silent backend wait for the connect timeout (2 s), then go to the
  // live one; the client's 10 s deadline is never reached.
  const std::map<std::string, int> per_pod = CallThroughOneChannel(splicer->port(), 2, 10);
  EXPECT_EQ(per_pod, (std::map<std::string, int>{{"pod-0", 20}}));
}

TEST_F(SplicerEchoTest, StreamsABackendRefusesByGoawayGoToAnotherBackendUnharmed) {
  StartPods(1);
  // A backend that answers every request with GOAWAY(last-stream-id 0): the stream was
  // not processed, so the splicer sends it, body and all, to the live pod.
  absl::StatusOr<lab::Child> refusing =
      lab::Child::Spawn({.argv = {"/usr/bin/python3", std::string(SKEWLESS_SOURCE_DIR) +
                                                          "/tests/unit/splicer/goaway_backend.py"},
                         .log_path = ::testing::TempDir() + "/goaway_backend.log"});
  ASSERT_TRUE(refusing.ok()) << refusing.status();
  absl::StatusOr<std::string> port = refusing->ReadLine(std::chrono::seconds(10));
  ASSERT_TRUE(port.ok()) << port.status();
  // Weighted so that every call goes to the refusing backend first, whatever latencies
  // the balancer has measured.
  absl::StatusOr<std::unique_ptr<Splicer>> started = Splicer::Start(
      {.listen = "127.0.0.1:0",
       .workers = 1,
       .backends = {{.address = addresses_[0], .weight = 1},
                    {.address = "127.0.0.1:" + std::string(absl::StripAsciiWhitespace(*port)),
                     .weight = 1000}}});
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<Splicer> splicer = *std::move(started);
  auto stub = Echo::NewStub(ChannelTo(splicer->port()));
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    WorkRequest request;
    request.set_payload(std::string(1000 + i, 'r'));
    WorkReply reply;
    const grpc::Status status = stub->Work(&context, request, &reply);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(reply.pod(), "pod-0");
    EXPECT_EQ(reply.payload(), request.payload());
  }
  EXPECT_THAT(splicer->registry().Render(),
              HasSubstr("skewless_splicer_stream_reroutes_total 20\n"));
}  // ~Child kills the refusing backend

bool Connectable(int port);  // below

TEST_F(SplicerEchoTest, OutOfDescriptorsTheToolPausesAcceptingInsteadOfSpinning) {
  StartPods(1);
  const int port = FreePort();
  // 40 descriptors for the whole process: a few dozen clients exhaust them.
  absl::StatusOr<lab::Child> splicer = lab::Child::Spawn(
      {.argv = {"/bin/sh", "-c",
                "ulimit -n 40 && exec " SKEWLESS_BIN_DIR "/skewless-splicer --workers 1 "
                "--http-listen 127.0.0.1:0 --listen 127.0.0.1:" +
                    std::to_string(port) + " --backend " + addresses_[0]},
       .log_path = ::testing::TempDir() + "/splicer_emfile.log"});
  ASSERT_TRUE(splicer.ok()) << splicer.status();
  for (int i = 0; i < 200 && !Connectable(port); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::vector<int> clients;
  for (int i = 0; i < 60; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{.sin_family = AF_INET,
                        .sin_port = htons(static_cast<std::uint16_t>(port)),
                        .sin_addr = {htonl(INADDR_LOOPBACK)}};
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    clients.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const double before = CpuSeconds(splicer->pid());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  // A loop spinning on the ever-readable listener would burn the whole second.
  EXPECT_LT(CpuSeconds(splicer->pid()) - before, 0.3);
  for (int fd : clients) close(fd);
  // Once descriptors are free again it serves as before.
  std::map<std::string, int> per_pod;
  for (int i = 0; i < 100 && per_pod["pod-0"] == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    per_pod = CallThroughOneChannel(port, 1, 1);
  }
  EXPECT_EQ(per_pod["pod-0"], 1) << ::testing::PrintToString(per_pod);
}

TEST_F(SplicerEchoTest, LargeMessagesPassWhole) {
  StartPods(2);
  std::unique_ptr<Splicer> splicer = StartSplicer(addresses_);
  ASSERT_NE(splicer, nullptr);
  auto stub = Echo::NewStub(ChannelTo(splicer->port()));
  WorkRequest request;
  request.set_payload(std::string(3 << 20, 'p'));  // far above every flow-control window
  for (int i = 0; i < 4; ++i) {
    grpc::ClientContext context;
    WorkReply reply;
    const grpc::Status status = stub->Work(&context, request, &reply);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(reply.payload(), request.payload());
  }
}

TEST_F(SplicerEchoTest, AnUnknownMethodIsAnsweredByTheBackendAsUnimplemented) {
  StartPods(1);
  std::unique_ptr<Splicer> splicer = StartSplicer(addresses_);
  ASSERT_NE(splicer, nullptr);
  auto stub = AggregatedDiscoveryService::NewStub(ChannelTo(splicer->port()));
  grpc::ClientContext context;
  auto stream = stub->StreamAggregatedResources(&context);
  DiscoveryResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

bool Connectable(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{.sin_family = AF_INET,
                      .sin_port = htons(static_cast<std::uint16_t>(port)),
                      .sin_addr = {htonl(INADDR_LOOPBACK)}};
  const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return connected;
}

TEST_F(SplicerEchoTest, ADrainLetsTheCallInFlightFinishAndTakesNoNewConnections) {
  StartPods(1);
  std::unique_ptr<Splicer> splicer = StartSplicer(addresses_);
  ASSERT_NE(splicer, nullptr);
  const int port = splicer->port();
  auto stub = Echo::NewStub(ChannelTo(port));
  grpc::Status status;
  WorkReply reply;
  std::thread call([&] {
    grpc::ClientContext context;
    WorkRequest request;
    request.set_extra_service_time_us(300000);
    status = stub->Work(&context, request, &reply);
  });
  // The call is on the backend once the pod has counted its connection.
  for (int i = 0; i < 200 && pods_[0]->stats().connections_seen == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  splicer->Drain(std::chrono::seconds(20));
  call.join();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.pod(), "pod-0");
  EXPECT_FALSE(Connectable(port));
}

struct BadInput {
  std::string name;
  std::optional<int> goaway_error;  // RFC 9113 error code; nullopt: no GOAWAY expected
};

class SplicerBadInputTest : public SplicerEchoTest,
                            public ::testing::WithParamInterface<BadInput> {};

// Crafted with Debian's python3-h2/hpack (bad_frames.py): the offending connection gets a
// GOAWAY naming the error and is closed; the splicer goes on serving everyone else.
TEST_P(SplicerBadInputTest, EndsOnlyThatConnectionWithAGoaway) {
  StartPods(1);
  std::unique_ptr<Splicer> splicer = StartSplicer(addresses_);
  ASSERT_NE(splicer, nullptr);
  testing::ToolRun run = testing::RunTool(
      {"/usr/bin/python3", std::string(SKEWLESS_SOURCE_DIR) + "/tests/unit/splicer/bad_frames.py",
       "127.0.0.1", std::to_string(splicer->port()), GetParam().name});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json result = nlohmann::json::parse(run.out);
  EXPECT_TRUE(result["closed"].get<bool>()) << run.out;
  if (GetParam().goaway_error) {
    ASSERT_FALSE(result["goaway_error"].is_null()) << run.out;
    EXPECT_EQ(result["goaway_error"].get<int>(), *GetParam().goaway_error) << run.out;
  }
  const std::map<std::string, int> per_pod = CallThroughOneChannel(splicer->port(), 1, 3);
  EXPECT_EQ(per_pod.at("pod-0"), 3) << ::testing::PrintToString(per_pod);
}

INSTANTIATE_TEST_SUITE_P(Frames, SplicerBadInputTest,
                         ::testing::Values(BadInput{"data_on_stream_0", 0x1},  // PROTOCOL_ERROR
                                           BadInput{"window_too_large", 0x3},  // FLOW_CONTROL_ERROR
                                           BadInput{"bad_hpack", 0x9},         // COMPRESSION_ERROR
                                           BadInput{"hpack_bomb", 0xb},        // ENHANCE_YOUR_CALM
                                           BadInput{"http1", std::nullopt}),   // not HTTP/2: closed
                         [](const auto& info) { return info.param.name; });

// A plain TCP server on loopback for one connection, which `serve` handles before it is
// closed.
class OneConnectionServer {
 public:
  explicit OneConnectionServer(std::function<void(int fd)> serve) {
    listener_ = testing::LoopbackSocket(8, &port_);
    thread_ = std::thread([this, serve = std::move(serve)] {
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      serve(fd);
      close(fd);
    });
  }
  ~OneConnectionServer() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// Echoes until EOF, then half-closes back.
class TcpEcho : public OneConnectionServer {
 public:
  TcpEcho()
      : OneConnectionServer([](int fd) {
          char buffer[65536];
          for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) {
            for (ssize_t sent = 0; sent < n;) sent += write(fd, buffer + sent, n - sent);
          }
          shutdown(fd, SHUT_WR);
        }) {}
};

TEST(SplicerTest, AClientThatIsNotHttp2IsRelayedToABackendAsBytes) {
  TcpEcho echo;
  std::unique_ptr<Splicer> splicer = StartSplicer({echo.address()});
  ASSERT_NE(splicer, nullptr);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{.sin_family = AF_INET,
                      .sin_port = htons(static_cast<std::uint16_t>(splicer->port())),
                      .sin_addr = {htonl(INADDR_LOOPBACK)}};
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  // An HTTP/1.1 request, then 2 MiB more (well above the relay's buffers), then EOF.
  std::string sent = "GET / HTTP/1.1\r\nHost: echo\r\n\r\n";
  for (int i = 0; sent.size() < (2u << 20); ++i) sent += std::to_string(i) + ",";
  std::thread writer([&] {
    for (std::size_t at = 0; at < sent.size();) {
      const ssize_t n = write(fd, sent.data() + at, sent.size() - at);
      if (n <= 0) break;
      at += static_cast<std::size_t>(n);
    }
    shutdown(fd, SHUT_WR);
  });
  std::string received;
  char buffer[65536];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) received.append(buffer, n);
  writer.join();
  close(fd);
  EXPECT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent) << "the bytes came back changed";
  EXPECT_THAT(splicer->registry().Render(),
              HasSubstr("skewless_splicer_passthrough_connections_total 1\n"));
}

// Answers one line and closes, as an HTTP/1.0 server does.
class AnswerAndClose : public OneConnectionServer {
 public:
  AnswerAndClose()
      : OneConnectionServer([](int fd) {
          char buffer[1024];
          if (read(fd, buffer, sizeof(buffer)) > 0) (void)!write(fd, "bye\n", 4);
        }) {}
};

TEST(SplicerTest, ARelayWhoseBackendClosedIsReapedWhileTheClientHoldsItsEnd) {
  AnswerAndClose backend;
  SplicerOptions options{.listen = "127.0.0.1:0", .workers = 1, .backends = {{backend.address()}}};
  options.limits.half_close_timeout = std::chrono::milliseconds(300);
  std::unique_ptr<Splicer> splicer = StartSplicerWith(options);
  ASSERT_NE(splicer, nullptr);
  const int fd = ConnectTo(splicer->port());
  ASSERT_GE(fd, 0);
  const std::string request = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string received;
  char buffer[256];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) received.append(buffer, n);
  EXPECT_EQ(received, "bye\n");  // and the pod's close, passed on as EOF
  // The client keeps its end open. The relay gives it the half-close timeout, then closes
  // both sockets and stops counting the backend as busy.
  std::string metrics;
  for (int i = 0; i < 100; ++i) {
    metrics = splicer->registry().Render();
    if (metrics.find("skewless_splicer_timeouts_total{kind=\"half_close\"} 1\n") !=
        std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_THAT(metrics, HasSubstr("skewless_splicer_timeouts_total{kind=\"half_close\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("skewless_splicer_backend_outstanding_streams{backend=\"" +
                                 backend.address() + "\"} 0\n"));
  // Writing to the reaped relay fails: the splicer's socket is gone.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  (void)!write(fd, "x", 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(ClosedByPeer(fd, std::chrono::milliseconds(200)));
  close(fd);
}

TEST(SplicerTest, ABackendThatIsDownFailsTheCallWithUnavailable) {
  // Bound and closed: nobody listens there.
  int dead_port = 0;
  {
    absl::StatusOr<std::unique_ptr<podserver::EchoServer>> gone =
        podserver::EchoServer::Start({.service_time_us = 0});
    ASSERT_TRUE(gone.ok());
    dead_port = (*gone)->port();
  }
  std::unique_ptr<Splicer> splicer = StartSplicer({"127.0.0.1:" + std::to_string(dead_port)});
  ASSERT_NE(splicer, nullptr);
  auto stub = Echo::NewStub(ChannelTo(splicer->port()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  WorkRequest request;
  WorkReply reply;
  const grpc::Status status = stub->Work(&context, request, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("skewless-splicer"));
}

// An Echo pod that takes request header lists of at most `limit` bytes
// (GRPC_ARG_MAX_METADATA_SIZE, which gRPC advertises as SETTINGS_MAX_HEADER_LIST_SIZE).
class SmallHeaderPod final : public Echo::Service {
 public:
  explicit SmallHeaderPod(int limit) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, limit);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~SmallHeaderPod() override { server_->Shutdown(std::chrono::system_clock::now()); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::atomic<int> served{0};

 private:
  grpc::Status Work(grpc::ServerContext*, const WorkRequest*, WorkReply* reply) override {
    ++served;
    reply->set_pod("small-header-pod");
    return grpc::Status::OK;
  }
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

grpc::Status WorkWithHeader(Echo::Stub& stub, std::size_t header_bytes, WorkReply* reply,
                            std::uint32_t extra_service_time_us = 0) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (header_bytes > 0) context.AddMetadata("x-big", std::string(header_bytes, 'h'));
  WorkRequest request;
  request.set_extra_service_time_us(extra_service_time_us);
  return stub.Work(&context, request, reply);
}

TEST(SplicerLimitsTest, ARequestOverAPodsHeaderLimitIsAnsweredByTheSplicerAndTheConnectionStays) {
  SmallHeaderPod pod(4096);
  std::unique_ptr<Splicer> splicer =
      StartSplicerWith({.listen = "127.0.0.1:0", .workers = 1, .backends = {{pod.address()}}});
  ASSERT_NE(splicer, nullptr);
  auto stub = Echo::NewStub(ChannelTo(splicer->port()));
  WorkReply reply;
  // The first call opens the pod connection, whose SETTINGS say 4,096 bytes.
  ASSERT_TRUE(WorkWithHeader(*stub, 0, &reply).ok());
  // 6 KB: within the splicer's own 8 KiB (so the gRPC client sends it), over the pod's.
  const grpc::Status refused = WorkWithHeader(*stub, 6000, &reply);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("skewless-splicer"));
  EXPECT_THAT(refused.error_message(), HasSubstr("4096"));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(WorkWithHeader(*stub, 0, &reply).ok());
  EXPECT_EQ(pod.served, 6);  // the refused call never reached it
  const std::string metrics = splicer->registry().Render();
  EXPECT_THAT(metrics, HasSubstr("skewless_splicer_backend_connections{backend=\"" + pod.address() +
                                 "\"} 1\n"));  // never broken
  EXPECT_THAT(metrics, HasSubstr("skewless_splicer_streams_total{backend=\"" + pod.address() +
                                 "\",outcome=\"cancelled\"} 1\n"));  // not held against it
  EXPECT_THAT(metrics,
              HasSubstr("skewless_splicer_rejected_streams_total{reason=\"headers_too_large\"} 1"));
}

TEST(SplicerLimitsTest, ARequestOverTheAdvertisedHeaderLimitNeverLeavesTheClient) {
  SmallHeaderPod pod(64 << 10);
  std::unique_ptr<Splicer> splicer =
      StartSplicerWith({.listen = "127.0.0.1:0", .workers = 1, .backends = {{pod.address()}}});
  ASSERT_NE(splicer, nullptr);
  auto stub = Echo::NewStub(ChannelTo(splicer->port()));
  WorkReply reply;
  ASSERT_TRUE(WorkWithHeader(*stub, 0, &reply).ok());
  // 12 KB against the splicer's advertised 8 KiB: gRPC C++ refuses to send it at all, with
  // RESOURCE_EXHAUSTED (a client that sends anyway gets the splicer's own answer: the
  // abuse suite's OversizedHeaders test).
  EXPECT_EQ(WorkWithHeader(*stub, 12000, &reply).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(WorkWithHeader(*stub, 0, &reply).ok());
  EXPECT_EQ(pod.served, 2);
}

TEST_F(SplicerEchoTest, AStreamWithNoFrameForTheStreamIdleTimeoutIsEndedByTheSplicer) {
  StartPods(1, /*service_time_us=*/0);
  SplicerOptions options{.listen = "127.0.0.1:0", .workers = 1, .backends = {{addresses_[0]}}};
  options.limits.stream_idle_timeout = std::chrono::milliseconds(300);
  std::unique_ptr<Splicer> splicer = StartSplicerWith(options);
  ASSERT_NE(splicer, nullptr);
  auto stub = Echo::NewStub(ChannelTo(splicer->port()));
  WorkReply reply;
  const auto start = std::chrono::steady_clock::now();
  const grpc::Status status = WorkWithHeader(*stub, 0, &reply, /*extra_service_time_us=*/3000000);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(status.error_message(), HasSubstr("skewless-splicer: no frame on the stream"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
  EXPECT_TRUE(WorkWithHeader(*stub, 0, &reply).ok());  // a quick call is unaffected
  EXPECT_THAT(splicer->registry().Render(),
              HasSubstr("skewless_splicer_timeouts_total{kind=\"stream_idle\"} 1\n"));
}

TEST_F(SplicerEchoTest, AtItsMaximumAgeAConnectionGetsGoawayAndItsClientCarriesOnOnANewOne) {
  StartPods(2, /*service_time_us=*/0);
  SplicerOptions options{.listen = "127.0.0.1:0", .workers = 1};
  for (const std::string& address : addresses_) options.backends.push_back({.address = address});
  options.limits.max_connection_age = std::chrono::milliseconds(400);
  std::unique_ptr<Splicer> splicer = StartSplicerWith(options);
  ASSERT_NE(splicer, nullptr);
  auto stub = Echo::NewStub(ChannelTo(splicer->port()));
  WorkReply reply;
  for (int i = 0; i < 40; ++i) {
    const grpc::Status status = WorkWithHeader(*stub, 0, &reply);
    EXPECT_TRUE(status.ok()) << i << ": " << status.error_message();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // 2 s of calls on one channel at a 0.4 s age: GOAWAY on each of its connections in turn.
  EXPECT_GE(testing::SampleValue(splicer->registry().Render(),
                                 "skewless_splicer_timeouts_total{kind=\"max_age\"}"),
            3);
}

TEST_F(SplicerEchoTest, AWorkerTakesNoMoreThanItsMaximumConnections) {
  StartPods(1, /*service_time_us=*/0);
  SplicerOptions options{.listen = "127.0.0.1:0", .workers = 1, .backends = {{addresses_[0]}}};
  options.limits.max_connections_per_worker = 3;
  std::unique_ptr<Splicer> splicer = StartSplicerWith(options);
  ASSERT_NE(splicer, nullptr);
  std::vector<int> fds;
  for (int i = 0; i < 6; ++i) {
    fds.push_back(ConnectTo(splicer->port()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // accepted in this order
  }
  int closed = 0;
  for (int i = 0; i < 6; ++i) {
    const bool was_closed = ClosedByPeer(fds[i], std::chrono::milliseconds(300));
    EXPECT_EQ(was_closed, i >= 3) << "connection " << i;
    closed += was_closed ? 1 : 0;
    close(fds[i]);
  }
  EXPECT_EQ(closed, 3);
  EXPECT_THAT(splicer->registry().Render(),
              HasSubstr("skewless_splicer_rejected_connections_total 3\n"));
}

// Bidirectional streaming: answers each request at once, echoing version_info as the
// nonce; "big" asks for a response of that many bytes.
class BidiEcho final : public AggregatedDiscoveryService::Service {
 public:
  // Streams that ended because the client side cancelled them.
  std::atomic<int> cancelled{0};

 private:
  grpc::Status StreamAggregatedResources(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<DiscoveryResponse, DiscoveryRequest>* stream) override {
    DiscoveryRequest request;
    while (stream->Read(&request)) {
      DiscoveryResponse response;
      if (request.type_url() == "big") {
        response.set_version_info(std::string(std::stoul(request.version_info()), 'b'));
      }
      response.set_nonce(request.version_info());
      if (!stream->Write(response)) break;
    }
    if (context->IsCancelled()) ++cancelled;
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "the client half-closed");
  }
};

// A BidiEcho gRPC server (no message size caps) behind a splicer.
class SplicerBidiTest : public ::testing::Test {
 protected:
  SplicerBidiTest() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.SetMaxReceiveMessageSize(-1);
    builder.SetMaxSendMessageSize(-1);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    splicer_ = StartSplicer({"127.0.0.1:" + std::to_string(port_)});
    stub_ = AggregatedDiscoveryService::NewStub(ChannelTo(splicer_->port()));
  }
  ~SplicerBidiTest() override { server_->Shutdown(std::chrono::system_clock::now()); }

  BidiEcho service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Splicer> splicer_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> stub_;
};

TEST_F(SplicerBidiTest, ABidiStreamStaysOnOneBackendAndKeepsItsTrailers) {
  grpc::ClientContext context;
  auto stream = stub_->StreamAggregatedResources(&context);
  for (int i = 0; i < 100; ++i) {
    DiscoveryRequest request;
    request.set_version_info(std::to_string(i));
    ASSERT_TRUE(stream->Write(request));
    DiscoveryResponse response;
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.nonce(), std::to_string(i));
  }
  DiscoveryRequest big;
  big.set_type_url("big");
  big.set_version_info(std::to_string(8 << 20));
  ASSERT_TRUE(stream->Write(big));
  DiscoveryResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.version_info().size(), std::size_t{8} << 20);
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(status.error_message(), "the client half-closed");
}

TEST_F(SplicerBidiTest, ASlowReaderSlowsTheBackendInsteadOfGrowingABuffer) {
  grpc::ClientContext context;
  auto stream = stub_->StreamAggregatedResources(&context);
  constexpr std::size_t kBytes = 32u << 20;
  DiscoveryRequest big;
  big.set_type_url("big");
  big.set_version_info(std::to_string(kBytes));
  ASSERT_TRUE(stream->Write(big));
  // The backend writes 32 MiB at once; the client reads nothing for a while. What the
  // splicer holds stays within its 256 KiB stream window (plus a frame), not 32 MiB.
  double most = 0;
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    most = std::max(most, testing::SampleValue(splicer_->registry().Render(),
                                               "skewless_splicer_buffered_bytes"));
  }
  EXPECT_GE(most, 0);
  EXPECT_LE(most, 512 * 1024);
  DiscoveryResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.version_info().size(), kBytes);
  context.TryCancel();
  (void)stream->Finish();
}

TEST_F(SplicerBidiTest, AClientThatCancelsCancelsItsBackendStream) {
  grpc::ClientContext context;
  auto stream = stub_->StreamAggregatedResources(&context);
  DiscoveryRequest request;
  request.set_version_info("1");
  ASSERT_TRUE(stream->Write(request));
  DiscoveryResponse response;
  ASSERT_TRUE(stream->Read(&response));
  context.TryCancel();  // the client gives up mid-stream (a deadline, a user)
  (void)stream->Finish();
  // The backend's handler sees its stream cancelled: the splicer reset it, rather than
  // leaving it open with nobody to read it.
  for (int i = 0; i < 500 && service_.cancelled == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(service_.cancelled, 1);
}

}  // namespace
}  // namespace skewless::splicer
