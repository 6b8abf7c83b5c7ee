// The running agent's load exchange on the real kernel: it reports the connections its
// data path counts over LRS, writes the control plane's cluster-wide figures into
// cluster_conns of the pinned load map, zeroes them once the control plane is gone for
// the max age, and steers as before against a control plane that has neither LRS nor
// ClusterLoad. The control plane is played in process on loopback; the agent attaches
// to the test's own cgroup and pins into the test's own bpffs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/load_stats/v3/lrs.grpc.pb.h"
#include "fake_lrs.h"
#include "grpcpp/grpcpp.h"
#include "httplib.h"
#include "skewless/agent/agent.h"
#include "skewless/agent/v1/node_info.pb.h"
#include "skewless/common/cgroup.h"
#include "skewless/datapath/splice_maps.h"
#include "skewless/load/v1/cluster_load.pb.h"
#include "skewless/xds/resources.h"
#include "steer_test_util.h"
#include "test_cgroup.h"
#include "tests/unit/xds/ads_harness.h"

namespace skewless::testing {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::load_stats::v3::LoadStatsRequest;
using envoy::service::load_stats::v3::LoadStatsResponse;
using namespace std::chrono_literals;

constexpr char kVip[] = "198.19.7.10";
constexpr char kCluster[] = "default/echo:80";

xds::ServicePort EchoPort(const std::vector<Backend>& backends) {
  xds::ServicePort port{
      .namespace_name = "default", .name = "echo", .port = 80, .cluster_ips = {kVip}};
  for (const Backend& backend : backends) {
    port.endpoints.push_back({.addresses = {backend.ip}, .port = backend.port, .zone = "zone-a"});
  }
  return port;
}

// Every cluster, every second.
LoadStatsResponse LrsAnswer() {
  LoadStatsResponse response;
  response.set_send_all_clusters(true);
  response.mutable_load_reporting_interval()->set_seconds(1);
  return response;
}

// A delta ADS server that serves NodeInfo, one Cluster, its endpoints and, once the test
// pushes one, its ClusterLoad; and, on the same server, LRS recording every request.
class FakeControlPlane final
    : public envoy::service::discovery::v3::AggregatedDiscoveryService::Service {
 public:
  explicit FakeControlPlane(const xds::ServicePort& port) : lrs_(LrsAnswer()) {
    skewless::agent::v1::NodeInfo node;
    node.set_name("node-1");
    node.set_zone("zone-a");
    resources_[std::string(xds::kNodeInfoTypeUrl)]["node-1"].PackFrom(node);
    resources_[std::string(xds::kClusterTypeUrl)][kCluster].PackFrom(*xds::BuildCluster(port));
    resources_[std::string(xds::kClusterLoadAssignmentTypeUrl)][kCluster].PackFrom(
        *xds::BuildLoadAssignment(port));
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    builder.RegisterService(&lrs_);
    server_ = builder.BuildAndStart();
  }
  ~FakeControlPlane() override { Stop(); }

  void Stop() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  void PushClusterLoad(const skewless::load::v1::ClusterLoad& load) {
    std::lock_guard lock(mutex_);
    resources_[std::string(xds::kClusterLoadTypeUrl)][load.cluster_name()].PackFrom(load);
    if (ads_stream_ != nullptr && cluster_load_subscribed_) {
      SendLocked(*ads_stream_, std::string(xds::kClusterLoadTypeUrl), {load.cluster_name()});
    }
  }

  // Waits until `done(reports)` holds for the LRS requests received so far.
  template <typename Done>
  bool AwaitReports(Done done, std::chrono::seconds timeout = 15s) {
    return lrs_.AwaitReports(done, timeout);
  }

  grpc::Status DeltaAggregatedResources(
      grpc::ServerContext* /*context*/,
      grpc::ServerReaderWriter<DeltaDiscoveryResponse, DeltaDiscoveryRequest>* stream) override {
    {
      std::lock_guard lock(mutex_);
      ads_stream_ = stream;
    }
    DeltaDiscoveryRequest request;
    while (stream->Read(&request)) {
      if (!request.response_nonce().empty()) continue;  // an ACK
      std::lock_guard lock(mutex_);
      std::vector<std::string> names(request.resource_names_subscribe().begin(),
                                     request.resource_names_subscribe().end());
      if (request.type_url() == xds::kClusterLoadTypeUrl) cluster_load_subscribed_ = true;
      SendLocked(*stream, request.type_url(), names);
    }
    std::lock_guard lock(mutex_);
    ads_stream_ = nullptr;
    return grpc::Status::OK;
  }

  std::vector<LoadStatsRequest> first_requests() { return lrs_.first_requests(); }

 private:
  void SendLocked(grpc::ServerReaderWriter<DeltaDiscoveryResponse, DeltaDiscoveryRequest>& stream,
                  const std::string& type_url, const std::vector<std::string>& names) {
    DeltaDiscoveryResponse response;
    response.set_type_url(type_url);
    response.set_nonce(std::to_string(++nonce_));
    const auto& of_type = resources_[type_url];
    for (const std::string& name : names) {
      for (const auto& [resource_name, any] : of_type) {
        if (name != "*" && name != resource_name) continue;
        auto* resource = response.add_resources();
        resource->set_name(resource_name);
        resource->set_version(std::to_string(nonce_));
        *resource->mutable_resource() = any;
      }
    }
    // Nothing to say about a type (ClusterLoad before the first push): stay silent, as
    // a control plane without it would.
    if (response.resources_size() == 0) return;
    stream.Write(response);
  }

  std::mutex mutex_;
  std::map<std::string, std::map<std::string, google::protobuf::Any>> resources_;
  grpc::ServerReaderWriter<DeltaDiscoveryResponse, DeltaDiscoveryRequest>* ads_stream_ = nullptr;
  bool cluster_load_subscribed_ = false;
  int nonce_ = 0;
  FakeLrsService lrs_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// What the LRS reports say about one endpoint of kCluster.
struct Reported {
  std::uint64_t last_in_progress = 0;
  std::uint64_t issued = 0;  // summed over every report
  bool seen = false;
};

Reported ReportedFor(const FakeLrsService::TimedReports& reports, const Backend& backend) {
  Reported out;
  for (const auto& [at, report] : reports) {
    for (const auto& cluster : report.cluster_stats()) {
      if (cluster.cluster_name() != kCluster) continue;
      for (const auto& locality : cluster.upstream_locality_stats()) {
        for (const auto& endpoint : locality.upstream_endpoint_stats()) {
          const auto& socket = endpoint.address().socket_address();
          if (socket.address() != backend.ip || socket.port_value() != backend.port) continue;
          out.seen = true;
          out.last_in_progress = endpoint.total_requests_in_progress();
          out.issued += endpoint.total_issued_requests();
        }
      }
    }
  }
  return out;
}

class AgentLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root to load BPF programs and create cgroups; run as root: ctest -L "
                      "bpf";
    }
    SKW_ASSERT_OK(MountTestBpffs());
    absl::StatusOr<std::string> path = TestCgroupPath();
    ASSERT_TRUE(path.ok()) << path.status();
    absl::StatusOr<OwnedCgroup> cgroup = OwnedCgroup::Create(*path);
    ASSERT_TRUE(cgroup.ok()) << cgroup.status();
    cgroup_.emplace(*std::move(cgroup));
    backends_.push_back(ListenOn("127.0.0.2"));
    backends_.push_back(ListenOn("127.0.0.3"));
  }

  void TearDown() override {
    if (agent_) agent_->Shutdown();  // uninstall_on_stop: detaches and unpins
    agent_.reset();
    if (cgroup_.has_value()) {
      absl::Status destroyed = cgroup_->Destroy();
      EXPECT_TRUE(destroyed.ok()) << destroyed;
    }
  }

  // `ready`: wait for the agent's first complete state (a control plane that answers).
  void StartAgent(const std::string& server, bool ready = true, bool uninstall_on_stop = true) {
    agent::AgentConfig config;
    config.node_name = "node-1";
    config.xds_servers = {server};
    config.plaintext = true;
    config.cgroup = cgroup_->path();
    config.pin_dir = SteerPinDir();
    config.http_listen = "127.0.0.1:0";
    config.uninstall_on_stop = uninstall_on_stop;
    config.cluster_load_max_age = 2s;
    auto agent = agent::Agent::Start(config);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    for (int i = 0; ready && i < 100 && !agent_->Ready(); ++i) std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(!ready || agent_->Ready()) << "the agent never wrote a complete state";
    auto counters = datapath::LoadCounters::Open(SteerPinDir());
    ASSERT_TRUE(counters.ok()) << counters.status();
    counters_ = *std::move(counters);
  }

  std::string Metrics() {
    httplib::Client client("127.0.0.1", agent_->http_port());
    auto response = client.Get("/metrics");
    return response ? response->body : std::string();
  }

  // Opens `count` connections to the VIP from the test cgroup; they stay open until the
  // child is told to close them. Returns how many each backend accepted.
  std::vector<int> Hold(int count, std::unique_ptr<Child>* child) {
    static SockAddr vip;
    vip = MakeSockAddr(kVip, 80);
    *child = Child::Start(*cgroup_,
                          [&](ChildPipes pipes) { return HoldConnections(pipes, vip, count); });
    if (*child == nullptr || !(*child)->AwaitSignal(10000)) {
      ADD_FAILURE() << "the child did not open its connections";
      return {};
    }
    std::vector<int> counts;
    for (const Backend& backend : backends_) {
      counts.push_back(AcceptPending(backend, 200, &accepted_));
    }
    return counts;
  }

  // The cluster_conns of the backends, in backends_' order. A fresh table numbers them
  // from 1 in the order of the assignment (sorted by address), which is backends_' order.
  std::vector<std::uint64_t> ClusterConns() {
    return {counters_->Read(1).cluster_conns, counters_->Read(2).cluster_conns};
  }

  template <typename Done>
  bool Eventually(Done done, std::chrono::milliseconds timeout = 5000ms) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  std::optional<OwnedCgroup> cgroup_;
  std::vector<Backend> backends_;
  std::vector<Fd> accepted_;
  std::unique_ptr<agent::Agent> agent_;
  std::unique_ptr<datapath::LoadCounters> counters_;
};

TEST_F(AgentLoadTest,
       ReportsItsConnectionsAndWritesOtherNodesLoadThenFallsBackWhenTheControlPlaneGoes) {
  FakeControlPlane control_plane(EchoPort(backends_));
  StartAgent(control_plane.address());
  // A first report (nothing open yet) says the stream is up and the counters' base taken.
  ASSERT_TRUE(control_plane.AwaitReports([](const auto& reports) { return !reports.empty(); }));
  const auto first = control_plane.first_requests();
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first[0].node().id(), "node-1");
  EXPECT_EQ(first[0].node().user_agent_name(), "skewless-agent");
  EXPECT_EQ(first[0].cluster_stats_size(), 0);
  // The backends' ids as the test reads them (ClusterConns) are the agent's.
  ASSERT_EQ(counters_->Read(1).active_conns + counters_->Read(2).active_conns, 0u);

  std::unique_ptr<Child> child;
  const std::vector<int> held = Hold(3, &child);
  ASSERT_EQ(held.size(), 2u);
  ASSERT_EQ(held[0] + held[1], 3);
  ASSERT_EQ(counters_->Read(1).active_conns, static_cast<std::uint64_t>(held[0]));

  // Each endpoint's open connections, and the three new ones, reach the control plane.
  ASSERT_TRUE(control_plane.AwaitReports([&](const auto& reports) {
    const Reported a = ReportedFor(reports, backends_[0]);
    const Reported b = ReportedFor(reports, backends_[1]);
    return a.seen && b.seen && a.last_in_progress == static_cast<std::uint64_t>(held[0]) &&
           b.last_in_progress == static_cast<std::uint64_t>(held[1]) && a.issued + b.issued == 3;
  })) << "no report with the held connections";
  EXPECT_THAT(Metrics(), ::testing::HasSubstr("skewless_agent_lrs_stream_up{server=\"" +
                                              control_plane.address() + "\"} 1"));

  // Other nodes hold 10 and 4 more: cluster_conns is the sum less this node's own share.
  skewless::load::v1::ClusterLoad load;
  load.set_cluster_name(kCluster);
  for (int i = 0; i < 2; ++i) {
    auto* endpoint = load.add_endpoints();
    endpoint->set_address(backends_[i].ip);
    endpoint->set_port(backends_[i].port);
    endpoint->set_connections(static_cast<std::uint64_t>(held[i]) + (i == 0 ? 10 : 4));
    endpoint->set_reporters(3);
  }
  control_plane.PushClusterLoad(load);
  ASSERT_TRUE(Eventually([&] {
    return ClusterConns() == std::vector<std::uint64_t>{10, 4};
  })) << "cluster_conns "
      << ClusterConns()[0] << ", " << ClusterConns()[1];
  EXPECT_THAT(Metrics(), ::testing::HasSubstr("skewless_agent_cluster_load_backends 2"));
  EXPECT_THAT(Metrics(), ::testing::HasSubstr("skewless_agent_cluster_load_fresh 1"));

  // The control plane vanishes: the figures stay for the max age (2 s), then are zeroed.
  const auto stopped_at = std::chrono::steady_clock::now();
  control_plane.Stop();
  ASSERT_TRUE(Eventually(
      [&] {
        return ClusterConns() == std::vector<std::uint64_t>{0, 0};
      },
      8000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - stopped_at, 1500ms) << "zeroed before the max age";
  EXPECT_THAT(Metrics(), ::testing::HasSubstr("skewless_agent_cluster_load_fresh 0"));
  EXPECT_THAT(Metrics(), ::testing::HasSubstr("skewless_agent_cluster_load_backends 0"));

  // Steering goes on without it.
  std::unique_ptr<Child> more;
  const std::vector<int> again = Hold(2, &more);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0] + again[1], 2);
  more->SendSignal();
  EXPECT_EQ(more->Wait(), 0);
  child->SendSignal();
  EXPECT_EQ(child->Wait(), 0);
}

TEST_F(AgentLoadTest, AControlPlaneWithoutLrsOrClusterLoadIsFollowedAndSteeringUsesLocalCounts) {
  // The real ADS server of a control plane that predates both: no LoadReportingService
  // (UNIMPLEMENTED) and nothing for the ClusterLoad subscription.
  xds::testing::AdsServerFixture old_control_plane;
  ASSERT_THAT(old_control_plane.cache().Update({.ports = xds::SharedPorts({EchoPort(backends_)}),
                                                .node_zones = {{"node-1", "zone-a"}}}),
              ::testing::IsEmpty());
  const std::string address = "127.0.0.1:" + std::to_string(old_control_plane.port());
  StartAgent(address);

  std::unique_ptr<Child> child;
  const std::vector<int> held = Hold(3, &child);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0] + held[1], 3);
  EXPECT_EQ(counters_->Read(1).active_conns + counters_->Read(2).active_conns, 3u);
  EXPECT_EQ(ClusterConns(), (std::vector<std::uint64_t>{0, 0}));
  ASSERT_TRUE(Eventually([&] {
    const std::string metrics = Metrics();
    return metrics.find("skewless_agent_lrs_streams_total{server=\"" + address + "\"} 1") !=
               std::string::npos &&
           metrics.find("skewless_agent_xds_connected{server=\"" + address + "\"} 1") !=
               std::string::npos;
  })) << Metrics();
  const std::string metrics = Metrics();
  EXPECT_THAT(metrics,
              ::testing::HasSubstr("skewless_agent_lrs_stream_up{server=\"" + address + "\"} 0"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("skewless_agent_cluster_load_fresh 0"));
  child->SendSignal();
  EXPECT_EQ(child->Wait(), 0);
}

TEST_F(AgentLoadTest, AStoppingAgentZeroesWhatItWroteAndANewOneClearsWhatACrashedOneLeft) {
  {
    FakeControlPlane control_plane(EchoPort(backends_));
    StartAgent(control_plane.address(), /*ready=*/true, /*uninstall_on_stop=*/false);
    skewless::load::v1::ClusterLoad load;
    load.set_cluster_name(kCluster);
    for (int i = 0; i < 2; ++i) {
      auto* endpoint = load.add_endpoints();
      endpoint->set_address(backends_[i].ip);
      endpoint->set_port(backends_[i].port);
      endpoint->set_connections(5 + i);
    }
    control_plane.PushClusterLoad(load);
    ASSERT_TRUE(Eventually([&] { return ClusterConns() == std::vector<std::uint64_t>{5, 6}; }));
    // SIGTERM without uninstall: the data path stays, without others' load of the past.
    agent_->Shutdown();
    EXPECT_EQ(ClusterConns(), (std::vector<std::uint64_t>{0, 0}));
    agent_.reset();
  }
  // What an agent killed with -9 would have left.
  counters_->SetClusterConns(1, 77);
  counters_->SetClusterConns(2, 78);
  // The next one adopts the maps; with no control plane to vouch for those figures it
  // clears them at once, before any stream.
  int dead_port = 0;
  {
    FakeControlPlane gone(EchoPort(backends_));
    dead_port = std::stoi(gone.address().substr(gone.address().rfind(':') + 1));
  }
  StartAgent("127.0.0.1:" + std::to_string(dead_port), /*ready=*/false);
  EXPECT_EQ(ClusterConns(), (std::vector<std::uint64_t>{0, 0}));
}

}  // namespace
}  // namespace skewless::testing
