// `skewlessctl xds`'s fetch against a scripted ADS server on loopback: Services deleted or
// added while it waits for endpoints (the CDS set changes between its CDS answer and the
// EDS answers). It follows every CDS response until the assignments match the latest
// cluster set, instead of waiting out its timeout for a cluster that no longer exists.
#include "skewless/ctl/xds_fetch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "skewless/xds/resources.h"

namespace skewless::ctl {
namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

DiscoveryResponse Clusters(const std::vector<std::string>& names, int version) {
  DiscoveryResponse response;
  response.set_type_url(std::string(xds::kClusterTypeUrl));
  response.set_version_info("c" + std::to_string(version));
  response.set_nonce("c" + std::to_string(version));
  for (const std::string& name : names) {
    envoy::config::cluster::v3::Cluster cluster;
    cluster.set_name(name);
    response.add_resources()->PackFrom(cluster);
  }
  return response;
}

DiscoveryResponse Endpoints(const std::vector<std::string>& names, int version) {
  DiscoveryResponse response;
  response.set_type_url(std::string(xds::kClusterLoadAssignmentTypeUrl));
  response.set_version_info("e" + std::to_string(version));
  response.set_nonce("e" + std::to_string(version));
  for (const std::string& name : names) {
    envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
    assignment.set_cluster_name(name);
    response.add_resources()->PackFrom(assignment);
  }
  return response;
}

// Answers the first CDS request with {a, b}; answers the first EDS request with a's
// assignment and then, the Service change landing mid-fetch, the CDS set `later`; any
// EDS request naming a cluster not yet sent gets it. Remembers what was asked.
class ScriptedAds final
    : public envoy::service::discovery::v3::AggregatedDiscoveryService::Service {
 public:
  explicit ScriptedAds(std::vector<std::string> later) : later_(std::move(later)) {}

  grpc::Status StreamAggregatedResources(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<DiscoveryResponse, DiscoveryRequest>* stream) override {
    DiscoveryRequest request;
    bool clusters_sent = false, endpoints_sent = false;
    std::set<std::string> sent;
    while (stream->Read(&request)) {
      if (request.type_url() == xds::kClusterTypeUrl && !clusters_sent) {
        clusters_sent = true;
        stream->Write(Clusters({"a", "b"}, 1));
      } else if (request.type_url() == xds::kClusterLoadAssignmentTypeUrl) {
        eds_requests_.emplace_back(request.resource_names().begin(),
                                   request.resource_names().end());
        if (!endpoints_sent) {
          endpoints_sent = true;
          sent.insert("a");
          stream->Write(Endpoints({"a"}, 1));
          stream->Write(Clusters(later_, 2));
          continue;
        }
        std::vector<std::string> missing;
        // As a control plane does: no assignment for a cluster that no longer exists.
        for (const std::string& name : request.resource_names()) {
          if (!sent.contains(name) && std::ranges::count(later_, name) > 0) {
            missing.push_back(name);
          }
        }
        if (!missing.empty()) {
          sent.insert(missing.begin(), missing.end());
          stream->Write(Endpoints(missing, 2));
        }
      }
    }
    return grpc::Status::OK;
  }

  std::vector<std::vector<std::string>> eds_requests_;

 private:
  const std::vector<std::string> later_;
};

class XdsFetch : public ::testing::Test {
 protected:
  absl::StatusOr<XdsSnapshot> FetchFrom(ScriptedAds& service) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    server_ = builder.BuildAndStart();
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<XdsSnapshot> snapshot = FetchXds({.server = "127.0.0.1:" + std::to_string(port),
                                                     .node_id = "node-a",
                                                     .timeout = std::chrono::seconds(5),
                                                     .plaintext = true});
    elapsed_ = std::chrono::steady_clock::now() - start;
    server_->Shutdown(std::chrono::system_clock::now());
    return snapshot;
  }

  std::unique_ptr<grpc::Server> server_;
  std::chrono::steady_clock::duration elapsed_{};
};

std::vector<std::string> ClusterNames(const XdsSnapshot& snapshot) {
  std::vector<std::string> names;
  for (const auto& cluster : snapshot.clusters) names.push_back(cluster.name());
  return names;
}

TEST_F(XdsFetch, AServiceDeletedMidFetchIsDroppedInsteadOfWaitedFor) {
  ScriptedAds service({"a"});
  absl::StatusOr<XdsSnapshot> snapshot = FetchFrom(service);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_LT(elapsed_, std::chrono::seconds(2)) << "it waited for the deleted cluster";
  EXPECT_THAT(ClusterNames(*snapshot), ElementsAre("a"));
  EXPECT_EQ(snapshot->cluster_version, "c2");
  EXPECT_EQ(snapshot->assignments.size(), 1u);
  EXPECT_TRUE(snapshot->assignments.contains("a"));
  EXPECT_THAT(snapshot->missing_assignments, IsEmpty());
}

TEST_F(XdsFetch, AServiceAddedMidFetchIsFetchedToo) {
  ScriptedAds service({"a", "b", "c"});
  absl::StatusOr<XdsSnapshot> snapshot = FetchFrom(service);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_THAT(ClusterNames(*snapshot), ElementsAre("a", "b", "c"));
  EXPECT_EQ(snapshot->assignments.size(), 3u);
  EXPECT_THAT(snapshot->missing_assignments, IsEmpty());
  ASSERT_GE(service.eds_requests_.size(), 2u);
  EXPECT_THAT(service.eds_requests_[0], ElementsAre("a", "b"));
  EXPECT_THAT(service.eds_requests_.back(), ElementsAre("a", "b", "c"));
}

}  // namespace
}  // namespace skewless::ctl
