// ClusterLoad on the agent's ADS stream, delta and state of the world, from a gRPC C++
// ADS server on loopback that publishes them: subscribed by the names of the watched
// clusters, delivered to the handler, updates pushed later arrive on the same stream.
#include <condition_variable>
#include <map>
#include <mutex>

#include "ads_protocols.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "recording_handler.h"
#include "skewless/agent/ads_client.h"
#include "skewless/xds/resources.h"

namespace skewless::agent {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using ::testing::ElementsAre;
using ::testing::Pair;
using namespace std::chrono_literals;

skewless::load::v1::ClusterLoad Load(const std::string& cluster, std::uint64_t connections) {
  skewless::load::v1::ClusterLoad load;
  load.set_cluster_name(cluster);
  auto* endpoint = load.add_endpoints();
  endpoint->set_address("10.0.0.1");
  endpoint->set_port(8080);
  endpoint->set_connections(connections);
  return load;
}

// Serves two plain clusters and the ClusterLoads the test sets, answering every request
// that is not an ACK with what it names (all of a type for a wildcard or empty list).
class FakeAds final : public envoy::service::discovery::v3::AggregatedDiscoveryService::Service {
 public:
  FakeAds() {
    for (const char* name : {"echo", "web"}) {
      envoy::config::cluster::v3::Cluster cluster;
      cluster.set_name(name);
      resources_[std::string(xds::kClusterTypeUrl)][name].PackFrom(cluster);
    }
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeAds() override { server_->Shutdown(std::chrono::system_clock::now()); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Sets (or replaces) a ClusterLoad and pushes it to a stream subscribed to it.
  void Publish(const skewless::load::v1::ClusterLoad& load) {
    std::lock_guard lock(mutex_);
    resources_[std::string(xds::kClusterLoadTypeUrl)][load.cluster_name()].PackFrom(load);
    if (push_) push_();
  }

  std::vector<std::string> cluster_load_names() {
    std::lock_guard lock(mutex_);
    return cluster_load_names_;
  }

  grpc::Status DeltaAggregatedResources(
      grpc::ServerContext* /*context*/,
      grpc::ServerReaderWriter<DeltaDiscoveryResponse, DeltaDiscoveryRequest>* stream) override {
    std::map<std::string, std::set<std::string>> subscribed;
    auto send = [&](const std::string& type_url) {
      DeltaDiscoveryResponse response;
      response.set_type_url(type_url);
      response.set_nonce(std::to_string(++nonce_));
      for (const auto& [name, any] : resources_[type_url]) {
        if (!subscribed[type_url].contains("*") && !subscribed[type_url].contains(name)) continue;
        auto* resource = response.add_resources();
        resource->set_name(name);
        *resource->mutable_resource() = any;
      }
      stream->Write(response);
    };
    {
      std::lock_guard lock(mutex_);
      push_ = [&] { send(std::string(xds::kClusterLoadTypeUrl)); };
    }
    DeltaDiscoveryRequest request;
    while (stream->Read(&request)) {
      std::lock_guard lock(mutex_);
      if (!request.response_nonce().empty()) continue;
      for (const auto& name : request.resource_names_subscribe()) {
        subscribed[request.type_url()].insert(name);
      }
      if (request.type_url() == xds::kClusterLoadTypeUrl) {
        cluster_load_names_.assign(subscribed[request.type_url()].begin(),
                                   subscribed[request.type_url()].end());
      }
      send(request.type_url());
    }
    std::lock_guard lock(mutex_);
    push_ = nullptr;
    return grpc::Status::OK;
  }

  grpc::Status StreamAggregatedResources(
      grpc::ServerContext* /*context*/,
      grpc::ServerReaderWriter<DiscoveryResponse, DiscoveryRequest>* stream) override {
    std::map<std::string, std::vector<std::string>> requested;
    auto send = [&](const std::string& type_url) {
      DiscoveryResponse response;
      response.set_type_url(type_url);
      response.set_version_info(std::to_string(++nonce_));
      response.set_nonce(std::to_string(nonce_));
      const std::vector<std::string>& names = requested[type_url];
      for (const auto& [name, any] : resources_[type_url]) {
        if (!names.empty() && std::find(names.begin(), names.end(), name) == names.end()) {
          continue;
        }
        *response.add_resources() = any;
      }
      stream->Write(response);
    };
    {
      std::lock_guard lock(mutex_);
      push_ = [&] { send(std::string(xds::kClusterLoadTypeUrl)); };
    }
    DiscoveryRequest request;
    while (stream->Read(&request)) {
      std::lock_guard lock(mutex_);
      std::vector<std::string> names(request.resource_names().begin(),
                                     request.resource_names().end());
      const bool changed = names != requested[request.type_url()];
      requested[request.type_url()] = names;
      if (request.type_url() == xds::kClusterLoadTypeUrl) cluster_load_names_ = names;
      if (request.response_nonce().empty() || changed) send(request.type_url());
    }
    std::lock_guard lock(mutex_);
    push_ = nullptr;
    return grpc::Status::OK;
  }

 private:
  std::mutex mutex_;  // guards everything below and each stream's writes
  std::map<std::string, std::map<std::string, google::protobuf::Any>> resources_;
  std::function<void()> push_;
  std::vector<std::string> cluster_load_names_;
  int nonce_ = 0;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

class AdsClusterLoadTest : public ::testing::TestWithParam<AdsProtocol> {};

TEST_P(AdsClusterLoadTest, TheLoadsOfTheWatchedClustersAreSubscribedAndDelivered) {
  FakeAds server;
  server.Publish(Load("echo", 7));
  server.Publish(Load("other", 99));  // a cluster the agent does not watch
  testing::RecordingHandler handler;
  prometheus::Registry registry;
  AdsClient client({.servers = {server.address()},
                    .protocol = GetParam(),
                    .node_name = "node-1",
                    .initial_backoff = 20ms,
                    .max_backoff = 100ms,
                    .cluster_load = true},
                   handler, registry);
  client.Start();
  ASSERT_TRUE(handler.Await([&] { return handler.cluster_loads.size() == 1; }));
  EXPECT_THAT(server.cluster_load_names(), ElementsAre("echo", "web"));
  {
    std::lock_guard lock(handler.mutex_);
    EXPECT_THAT(handler.cluster_loads, ElementsAre(Pair("echo", 7u)));
  }
  // A later figure arrives on the same stream.
  server.Publish(Load("web", 3));
  ASSERT_TRUE(handler.Await([&] { return handler.cluster_loads.size() == 2; }));
  std::lock_guard lock(handler.mutex_);
  EXPECT_THAT(handler.cluster_loads, ElementsAre(Pair("echo", 7u), Pair("web", 3u)));
  EXPECT_EQ(handler.servers.size(), 1u);
}

TEST_P(AdsClusterLoadTest, WithoutTheOptionClusterLoadIsNeitherAskedNorDelivered) {
  FakeAds server;
  server.Publish(Load("echo", 7));
  testing::RecordingHandler handler;
  prometheus::Registry registry;
  AdsClient client({.servers = {server.address()}, .protocol = GetParam(), .node_name = "node-1"},
                   handler, registry);
  client.Start();
  ASSERT_TRUE(handler.Await([&] { return handler.clusters.size() == 2; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(server.cluster_load_names().empty());
  std::lock_guard lock(handler.mutex_);
  EXPECT_TRUE(handler.cluster_loads.empty());
}

INSTANTIATE_TEST_SUITE_P(Protocols, AdsClusterLoadTest, ::testing::ValuesIn(testing::kAdsProtocols),
                         testing::AdsProtocolName);

}  // namespace
}  // namespace skewless::agent
