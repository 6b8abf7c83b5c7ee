// A skewless-splicer process reporting its load over LRS to a real control plane (the
// library, on loopback, with the file source): the streams it holds on two pods show up as
// those pods' requests_in_progress in the published ClusterLoad (never as connections),
// their completions in the control plane's per-cluster counters, and a pod the control
// plane does not serve is dropped and counted.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cluster_load_subscriber.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "httplib.h"
#include "loopback_process.h"
#include "prometheus_sample.h"
#include "skewless/controlplane/server.h"
#include "skewless/controlplane/server_config.h"
#include "skewless/lab/subprocess.h"
#include "skewless/lab/v1/echo.grpc.pb.h"
#include "skewless/load/v1/cluster_load.pb.h"
#include "skewless/podserver/echo_server.h"
#include "skewless/xds/resources.h"

namespace skewless::splicer {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using skewless::lab::v1::Echo;
using skewless::lab::v1::WorkReply;
using skewless::lab::v1::WorkRequest;
using skewless::load::v1::ClusterLoad;

constexpr char kEcho[] = "default/echo:grpc";
// Two pods the control plane serves, and a third it has never heard of, on one port.
constexpr const char* kPodIps[] = {"127.0.0.1", "127.0.0.2", "127.0.0.3"};
constexpr int kServed = 2;
constexpr int kCalls = 9;
constexpr auto kCallTime = std::chrono::milliseconds(3000);
constexpr auto kWait = std::chrono::seconds(10);

const skewless::load::v1::EndpointLoad* EndpointOf(const ClusterLoad& load, const std::string& ip) {
  for (const auto& endpoint : load.endpoints()) {
    if (endpoint.address() == ip) return &endpoint;
  }
  return nullptr;
}

std::string Metrics(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(2));
  httplib::Result result = client.Get("/metrics");
  return result && result->status == 200 ? result->body : std::string();
}

class SplicerLrsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("splicer-lrs-", getpid());
    std::filesystem::create_directories(dir_);
    // One port for every pod: a Service port has one targetPort.
    const int pod_port = testing::FreePort();
    for (const char* ip : kPodIps) {
      absl::StatusOr<std::unique_ptr<podserver::EchoServer>> pod =
          podserver::EchoServer::Start({.pod_name = ip,
                                        .listen_address = absl::StrCat(ip, ":", pod_port),
                                        .service_time_us = 0});
      ASSERT_TRUE(pod.ok()) << pod.status();
      pods_.push_back(*std::move(pod));
    }
    std::ofstream(dir_ / "services.yaml") << absl::StrCat(
        "services:\n"
        "  - namespace: default\n"
        "    name: echo\n"
        "    clusterIPs: [10.96.0.10]\n"
        "    ports: [{name: grpc, port: 8080, targetPort: ",
        pod_port,
        ", appProtocol: grpc}]\n"
        "endpointSlices:\n"
        "  - namespace: default\n"
        "    service: echo\n"
        "    name: echo-1\n"
        "    endpoints:\n"
        "      - {address: ",
        kPodIps[0],
        "}\n"
        "      - {address: ",
        kPodIps[1], "}\n");
    controlplane::ServerConfig config;
    config.xds_listen = "127.0.0.1:0";
    config.http_listen = "127.0.0.1:0";
    config.file = (dir_ / "services.yaml").string();
    config.shutdown_grace = std::chrono::milliseconds(200);
    config.plaintext = true;
    config.lrs.interval = std::chrono::milliseconds(1000);
    absl::StatusOr<std::unique_ptr<controlplane::ControlPlaneServer>> server =
        controlplane::ControlPlaneServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    control_plane_ = *std::move(server);

    splicer_port_ = testing::FreePort();
    splicer_http_port_ = testing::FreePort();
    std::vector<std::string> argv = {SKEWLESS_BIN_DIR "/skewless-splicer",
                                     "--listen",
                                     absl::StrCat("127.0.0.1:", splicer_port_),
                                     "--http-listen",
                                     absl::StrCat("127.0.0.1:", splicer_http_port_),
                                     "--workers",
                                     "2",
                                     "--xds-server",
                                     absl::StrCat("127.0.0.1:", control_plane_->xds_port()),
                                     "--plaintext",
                                     "--node-name",
                                     "node-a",
                                     "--backend-cluster",
                                     kEcho};
    for (const auto& pod : pods_) {
      argv.push_back("--backend");
      argv.push_back(pod->listen_address());
    }
    absl::StatusOr<lab::Child> child =
        lab::Child::Spawn({.argv = argv, .log_path = (dir_ / "splicer.log").string()});
    ASSERT_TRUE(child.ok()) << child.status();
    splicer_.emplace(*std::move(child));
  }

  void TearDown() override {
    if (splicer_) {
      splicer_->Signal(SIGTERM);
      (void)splicer_->Wait(std::chrono::seconds(15));
      splicer_.reset();
    }
    control_plane_.reset();
    pods_.clear();
    std::filesystem::remove_all(dir_);
  }

  std::string SplicerLog() const { return splicer_ ? splicer_->LogTail() : std::string(); }

  std::filesystem::path dir_;
  std::vector<std::unique_ptr<podserver::EchoServer>> pods_;
  std::unique_ptr<controlplane::ControlPlaneServer> control_plane_;
  std::optional<lab::Child> splicer_;
  int splicer_port_ = 0;
  int splicer_http_port_ = 0;
};

TEST_F(SplicerLrsTest, TheSplicersStreamsAreThePodsRequestsInProgressAndAStrangerIsDropped) {
  // Reporting is under way once the control plane has answered the splicer's stream.
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  const std::string up = absl::StrCat(
      "skewless_splicer_lrs_stream_up{server=\"127.0.0.1:", control_plane_->xds_port(), "\"}");
  while (testing::SampleValue(Metrics(splicer_http_port_), up) != 1) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no LRS stream:\n" << SplicerLog();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  testing::ClusterLoadSubscriber watcher(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", control_plane_->xds_port()),
                          grpc::InsecureChannelCredentials()),
      {.node_id = "node-b", .cluster = kEcho, .wait = kWait});

  // One client connection, kCalls long calls at once: the splicer holds each as a stream.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = Echo::NewStub(grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", splicer_port_),
                                                      grpc::InsecureChannelCredentials(), args));
  std::map<std::string, int> served;
  std::mutex served_mutex;
  std::vector<std::thread> calls;
  for (int i = 0; i < kCalls; ++i) {
    calls.emplace_back([&] {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
      WorkRequest request;
      request.set_extra_service_time_us(
          std::chrono::duration_cast<std::chrono::microseconds>(kCallTime).count());
      WorkReply reply;
      const grpc::Status status = stub->Work(&context, request, &reply);
      std::lock_guard lock(served_mutex);
      ++served[status.ok() ? reply.pod() : "failed: " + status.error_message()];
    });
  }
  // What the splicer holds on each pod once every call is on one, from its own metrics.
  std::map<std::string, double> outstanding;
  for (const auto until = std::chrono::steady_clock::now() + kWait;;) {
    const std::string text = Metrics(splicer_http_port_);
    double total = 0;
    for (const auto& pod : pods_) {
      outstanding[pod->options().pod_name] = std::max(
          0.0, testing::SampleValue(text, absl::StrCat("skewless_splicer_backend_outstanding_"
                                                       "streams{backend=\"",
                                                       pod->listen_address(), "\"}")));
      total += outstanding[pod->options().pod_name];
    }
    if (total == kCalls) break;
    ASSERT_LT(std::chrono::steady_clock::now(), until) << text;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  // The published load of each served pod is exactly the streams the splicer holds there,
  // as requests; no agent reported, so no connections.
  const std::optional<ClusterLoad> load = watcher.Await([&](const ClusterLoad& load) {
    for (int i = 0; i < kServed; ++i) {
      const auto* endpoint = EndpointOf(load, kPodIps[i]);
      const double requests = endpoint ? static_cast<double>(endpoint->requests_in_progress()) : 0;
      if (requests != outstanding[kPodIps[i]]) return false;
    }
    return true;
  });
  ASSERT_TRUE(load.has_value()) << "no ClusterLoad published\n" << SplicerLog();
  for (int i = 0; i < kServed; ++i) {
    const auto* endpoint = EndpointOf(*load, kPodIps[i]);
    const double requests = endpoint ? static_cast<double>(endpoint->requests_in_progress()) : 0;
    EXPECT_EQ(requests, outstanding[kPodIps[i]]) << kPodIps[i] << "\n" << load->DebugString();
    if (endpoint != nullptr) {
      EXPECT_EQ(endpoint->connections(), 0u) << load->DebugString();
      EXPECT_EQ(endpoint->reporters(), 1u) << load->DebugString();
    }
  }
  EXPECT_EQ(EndpointOf(*load, kPodIps[2]), nullptr) << load->DebugString();
  EXPECT_GT(outstanding[kPodIps[0]] + outstanding[kPodIps[1]], 0);

  for (std::thread& call : calls) call.join();
  EXPECT_EQ(served[kPodIps[0]] + served[kPodIps[1]] + served[kPodIps[2]], kCalls)
      << ::testing::PrintToString(served);

  // Completions reach the control plane's per-cluster counters; the stranger's are not
  // among them, and its entries are dropped as an unknown endpoint.
  const int served_known = served[kPodIps[0]] + served[kPodIps[1]];
  const std::string success =
      absl::StrCat("skewless_controlplane_lrs_completed_requests_total{cluster=\"", kEcho,
                   "\",result=\"success\"}");
  std::string text;
  for (const auto until = std::chrono::steady_clock::now() + kWait;;) {
    text = Metrics(control_plane_->http_port());
    if (testing::SampleValue(text, success) == served_known) break;
    ASSERT_LT(std::chrono::steady_clock::now(), until) << text << "\n" << SplicerLog();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(testing::SampleValue(text, absl::StrCat("skewless_controlplane_lrs_issued_requests_"
                                                    "total{cluster=\"",
                                                    kEcho, "\"}")),
            served_known);
  EXPECT_EQ(testing::SampleValue(text, absl::StrCat("skewless_controlplane_lrs_completed_requests_"
                                                    "total{cluster=\"",
                                                    kEcho, "\",result=\"error\"}")),
            0);
  if (served[kPodIps[2]] > 0) {
    EXPECT_GT(
        testing::SampleValue(
            text, "skewless_controlplane_lrs_dropped_endpoints_total{reason=\"unknown_endpoint\"}"),
        0)
        << text;
  }
  EXPECT_GT(served[kPodIps[2]], 0)
      << "P2C over three pods left the stranger idle: " << ::testing::PrintToString(served);
}

}  // namespace
}  // namespace skewless::splicer
