// KubeSource against the API server simulator: initial sync, watch events, pagination,
// bookmarks, dropped watches, 410 Gone, outages, malformed objects, tokens, TLS, Stop.
#include "skewless/controlplane/kube_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fake_apiserver.h"
#include "kube_fixtures.h"
#include "model_printers.h"
#include "test_pki.h"

namespace skewless::controlplane {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using skewless::testing::ControllerSlices;
using skewless::testing::FakeApiServer;
using skewless::testing::FakeApiServerOptions;
using skewless::testing::GoneStyle;
using skewless::testing::MakeEndpointSliceJson;
using skewless::testing::MakeNodeJson;
using skewless::testing::MakeServiceJson;
using skewless::testing::PodState;
using skewless::testing::RecordedRequest;
using skewless::testing::Resource;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Generous: a loaded 2-core CI box can stall a thread for seconds.
constexpr auto kWaitLimit = 10s;

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds limit = kWaitLimit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

KubeSourceOptions FastOptions() {
  KubeSourceOptions options;
  options.page_size = 2;  // every list of more than two objects takes several pages
  options.watch_timeout = 60s;
  options.initial_backoff = 20ms;
  options.max_backoff = 100ms;
  options.debounce = 5ms;
  options.max_delay = 50ms;
  options.request_timeout = 5s;
  options.connect_timeout = 2s;
  return options;
}

json EchoService(int http_port = 80) {
  return MakeServiceJson(
      "default", "echo", {"10.96.0.10"},
      {{.name = "grpc", .port = 8080, .target_port = "grpc", .app_protocol = "grpc"},
       {.name = "http", .port = http_port, .target_port = 8081}});
}

json EchoSlice(const std::string& name, const std::vector<std::string>& addresses,
               const std::string& node = "node-a") {
  std::vector<testing::SliceEndpointSpec> endpoints;
  for (const std::string& address : addresses) {
    endpoints.push_back({.address = address, .node_name = node, .pod_name = "echo-" + address});
  }
  return MakeEndpointSliceJson("default", name, "echo", "IPv4", {{"grpc", 9090}, {"http", 8081}},
                               endpoints);
}

json CartService() {
  return MakeServiceJson("shop", "cart", {"10.96.0.20"}, {{.name = "", .port = 80}});
}

json CartSlice(const std::vector<std::string>& addresses) {
  std::vector<testing::SliceEndpointSpec> endpoints;
  for (const std::string& address : addresses) endpoints.push_back({.address = address});
  return MakeEndpointSliceJson("shop", "cart-x1", "cart", "IPv4", {{"", 80}}, endpoints);
}

std::vector<std::string> Addresses(const Snapshot& snapshot, const ServiceKey& key,
                                   const std::string& port) {
  std::vector<std::string> addresses;
  if (const ServicePortEndpoints* endpoints = snapshot.FindEndpoints(key, port)) {
    for (const PortEndpoint& e : endpoints->endpoints) {
      addresses.push_back(e.endpoint.addresses.front());
    }
  }
  return addresses;
}

std::vector<std::string> ServiceNames(const Snapshot& snapshot) {
  std::vector<std::string> names;
  for (const Service& service : snapshot.services) names.push_back(ToString(service.key));
  return names;
}

const ServiceKey kEcho{"default", "echo"};
const ServiceKey kCart{"shop", "cart"};

class KubeSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeApiServer>> server = FakeApiServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void TearDown() override {
    if (source_) source_->Stop();
  }

  // Three nodes (one without a zone), Services echo and cart, a headless Service, and
  // their slices: enough objects that every list takes two pages or more.
  void AddCluster() {
    server_->Add(Resource::kNodes, MakeNodeJson("node-a", "zone-a"));
    server_->Add(Resource::kNodes, MakeNodeJson("node-b", "zone-b"));
    server_->Add(Resource::kNodes, MakeNodeJson("node-c", ""));
    server_->Add(Resource::kServices, EchoService());
    server_->Add(Resource::kServices, CartService());
    json headless = MakeServiceJson("default", "db", {"None"}, {{.name = "pg", .port = 5432}});
    server_->Add(Resource::kServices, headless);
    server_->Add(Resource::kEndpointSlices, EchoSlice("echo-abc12", {"10.0.0.1", "10.0.0.2"}));
    server_->Add(Resource::kEndpointSlices, EchoSlice("echo-def34", {"10.0.0.3"}, "node-b"));
    server_->Add(Resource::kEndpointSlices, CartSlice({"10.0.1.1"}));
  }

  void StartSource(KubeConfig config, KubeSourceOptions options = FastOptions()) {
    absl::StatusOr<std::unique_ptr<KubeSource>> source = KubeSource::Start(
        std::move(config),
        [this](std::shared_ptr<const Snapshot> snapshot) {
          std::lock_guard<std::mutex> lock(mutex_);
          snapshots_.push_back(std::move(snapshot));
        },
        [this](const absl::Status& status) {
          std::lock_guard<std::mutex> lock(mutex_);
          errors_.emplace_back(status.message());
        },
        options);
    ASSERT_TRUE(source.ok()) << source.status();
    source_ = *std::move(source);
  }

  void StartSource(KubeSourceOptions options = FastOptions()) {
    StartSource(KubeConfig{.server = server_->url()}, options);
  }

  // Starts the source and waits for its first snapshot and for all three watches.
  void StartSynced(KubeSourceOptions options = FastOptions()) {
    StartSource(options);
    ASSERT_TRUE(WaitFor([&] { return SnapshotCount() >= 1; })) << DescribeErrors();
    ASSERT_TRUE(server_->WaitForOpenWatches(3, kWaitLimit));
  }

  size_t SnapshotCount() {
    std::lock_guard<std::mutex> lock(mutex_);
    return snapshots_.size();
  }
  std::shared_ptr<const Snapshot> Latest() {
    std::lock_guard<std::mutex> lock(mutex_);
    return snapshots_.empty() ? nullptr : snapshots_.back();
  }
  std::vector<std::string> Errors() {
    std::lock_guard<std::mutex> lock(mutex_);
    return errors_;
  }
  std::string DescribeErrors() {
    std::string text = "errors:";
    for (const std::string& error : Errors()) text += "\n  " + error;
    return text;
  }
  // Waits until the latest snapshot satisfies `condition`.
  bool WaitForSnapshot(const std::function<bool(const Snapshot&)>& condition) {
    return WaitFor([&] {
      std::shared_ptr<const Snapshot> latest = Latest();
      return latest != nullptr && condition(*latest);
    });
  }
  // Watch requests for `resource` made after the first `skip`.
  std::vector<RecordedRequest> Watches(Resource resource, size_t skip = 0) {
    std::vector<RecordedRequest> watches;
    for (const RecordedRequest& request : server_->Requests(resource)) {
      if (request.is_watch()) watches.push_back(request);
    }
    watches.erase(watches.begin(), watches.begin() + std::min(skip, watches.size()));
    return watches;
  }

  // Runs `make_gap` (deletes and adds objects while the source cannot see them, then
  // compacts the history) and checks that the source relists and ends up with exactly
  // the server's state.
  void ExpectRelistAfterGone(const std::function<void()>& make_gap) {
    make_gap();
    ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) {
      return s.FindService(kCart) == nullptr && s.FindEndpoints(kCart, "") == nullptr &&
             Addresses(s, kEcho, "grpc") == std::vector<std::string>{"10.0.0.3", "10.0.0.7"};
    })) << DescribeErrors();
    const KubeSourceStats stats = source_->Stats();
    EXPECT_GE(stats.relists_gone, 1u);
    EXPECT_GT(stats.lists, 3u);
  }

  std::unique_ptr<FakeApiServer> server_;
  std::unique_ptr<KubeSource> source_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<const Snapshot>> snapshots_;
  std::vector<std::string> errors_;
};

TEST_F(KubeSourceTest, InitialSyncPublishesOneSnapshotOfTheWholeCluster) {
  AddCluster();
  // Services and Nodes are listed long before the slices: a snapshot then would say that
  // no Service has endpoints.
  server_->SetListDelay(Resource::kEndpointSlices, 150ms);

  StartSynced();

  std::shared_ptr<const Snapshot> snapshot = Latest();
  // The headless Service has no VIP to steer.
  EXPECT_THAT(ServiceNames(*snapshot), ElementsAre("default/echo", "shop/cart"));
  const Service* echo = snapshot->FindService(kEcho);
  ASSERT_NE(echo, nullptr);
  EXPECT_THAT(echo->cluster_ips, ElementsAre("10.96.0.10"));
  // targetPort "grpc" is a name: its number comes from the slices.
  EXPECT_THAT(echo->ports, ElementsAre(ServicePort{"grpc", 8080, 9090, Protocol::kTcp, "grpc"},
                                       ServicePort{"http", 80, 8081, Protocol::kTcp, ""}));
  EXPECT_THAT(Addresses(*snapshot, kEcho, "grpc"), ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3"));
  EXPECT_THAT(Addresses(*snapshot, kCart, ""), ElementsAre("10.0.1.1"));
  const ServicePortEndpoints* grpc = snapshot->FindEndpoints(kEcho, "grpc");
  ASSERT_NE(grpc, nullptr);
  ASSERT_EQ(grpc->endpoints.size(), 3u);
  // The slices carry no zone: it comes from each endpoint's Node.
  EXPECT_EQ(grpc->endpoints[0],
            (PortEndpoint{9090, Endpoint{.addresses = {"10.0.0.1"},
                                         .zone = "zone-a",
                                         .node_name = "node-a",
                                         .target_ref = grpc->endpoints[0].endpoint.target_ref,
                                         .weight = 100}}));
  EXPECT_EQ(grpc->endpoints[2].endpoint.zone, "zone-b");
  EXPECT_THAT(snapshot->nodes,
              ElementsAre(Node{"node-a", "zone-a"}, Node{"node-b", "zone-b"}, Node{"node-c", ""}));

  // Publishing waits for all three lists, so there is one snapshot, not a partial one first.
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(SnapshotCount(), 1u);
  EXPECT_EQ(source_->Current(), snapshot);
  const KubeSourceStats stats = source_->Stats();
  EXPECT_TRUE(stats.synced);
  EXPECT_EQ(stats.lists, 3u);
  EXPECT_EQ(stats.snapshots, 1u);
  EXPECT_TRUE(Errors().empty()) << DescribeErrors();
  const RecordedRequest first = server_->Requests().front();
  EXPECT_EQ("http://" + first.host, server_->url());
  EXPECT_THAT(first.user_agent, HasSubstr("skewless-controlplane"));
  EXPECT_EQ(first.authorization, "");  // no token configured
}

TEST_F(KubeSourceTest, ListsArePaginatedWithLimitAndContinue) {
  AddCluster();

  StartSynced();

  for (Resource resource : {Resource::kServices, Resource::kEndpointSlices, Resource::kNodes}) {
    std::vector<RecordedRequest> lists;
    for (const RecordedRequest& request : server_->Requests(resource)) {
      if (!request.is_watch()) lists.push_back(request);
    }
    // Three objects of each kind, two per page.
    ASSERT_EQ(lists.size(), 2u) << FakeApiServer::PathOf(resource);
    EXPECT_EQ(lists[0].param("limit"), "2");
    EXPECT_EQ(lists[0].param("continue"), "");
    EXPECT_EQ(lists[1].param("limit"), "2");
    EXPECT_NE(lists[1].param("continue"), "");
  }
}

TEST_F(KubeSourceTest, AContinueTokenThatExpiresMidListRestartsTheList) {
  AddCluster();
  server_->SetListDelay(Resource::kEndpointSlices, 150ms);
  StartSource();
  // Between the first and the second page of slices, the history is compacted.
  ASSERT_TRUE(WaitFor([&] { return !server_->Requests(Resource::kEndpointSlices).empty(); }));
  server_->Add(Resource::kEndpointSlices, EchoSlice("echo-ghi56", {"10.0.0.4"}));
  server_->Compact();
  server_->SetListDelay(Resource::kEndpointSlices, 0ms);

  ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) {
    return Addresses(s, kEcho, "grpc").size() == 4;
  })) << DescribeErrors();
  std::vector<int> statuses;
  for (const RecordedRequest& request : server_->Requests(Resource::kEndpointSlices)) {
    if (!request.is_watch()) statuses.push_back(request.status);
  }
  // Page 1, page 2 refused, then the whole list again (four slices, two pages).
  EXPECT_THAT(statuses, ElementsAre(200, 410, 200, 200));
  EXPECT_EQ(source_->Stats().lists, 3u);
  EXPECT_TRUE(Errors().empty()) << DescribeErrors();
}

TEST_F(KubeSourceTest, WatchesStartFromTheListsVersionWithBookmarksAndATimeout) {
  AddCluster();
  const std::uint64_t listed_at = server_->resource_version();

  StartSynced();

  const std::vector<RecordedRequest> watches = Watches(Resource::kServices);
  ASSERT_EQ(watches.size(), 1u);
  EXPECT_EQ(watches[0].param("watch"), "1");
  EXPECT_EQ(watches[0].param("resourceVersion"), std::to_string(listed_at));
  EXPECT_EQ(watches[0].param("allowWatchBookmarks"), "true");
  // In [watch_timeout, 2 * watch_timeout).
  const int timeout_s = std::stoi(watches[0].param("timeoutSeconds"));
  EXPECT_GE(timeout_s, 60);
  EXPECT_LT(timeout_s, 120);
}

TEST_F(KubeSourceTest, AddedModifiedAndDeletedObjectsReachTheSnapshot) {
  AddCluster();
  StartSynced();

  server_->Add(Resource::kServices,
               MakeServiceJson("shop", "checkout", {"10.96.0.30"}, {{.name = "", .port = 80}}));
  server_->Add(Resource::kEndpointSlices,
               MakeEndpointSliceJson("shop", "checkout-1", "checkout", "IPv4", {{"", 8080}},
                                     {{.address = "10.0.2.1"}}));
  ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) {
    return Addresses(s, {"shop", "checkout"}, "") == std::vector<std::string>{"10.0.2.1"};
  })) << DescribeErrors();

  // A pod stops being ready.
  json slice = EchoSlice("echo-abc12", {"10.0.0.1", "10.0.0.2"});
  slice["endpoints"][1]["conditions"] = {
      {"ready", false}, {"serving", false}, {"terminating", true}};
  server_->Modify(Resource::kEndpointSlices, slice);
  ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) {
    const ServicePortEndpoints* grpc = s.FindEndpoints(kEcho, "grpc");
    return grpc != nullptr && grpc->endpoints.size() == 3 &&
           grpc->endpoints[1].endpoint.conditions == EndpointConditions{false, false, true};
  }));

  // A node moves zone: endpoints without their own zone follow it.
  server_->Modify(Resource::kNodes, MakeNodeJson("node-b", "zone-c"));
  ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) {
    const ServicePortEndpoints* grpc = s.FindEndpoints(kEcho, "grpc");
    return grpc != nullptr && grpc->endpoints.size() == 3 &&
           grpc->endpoints[2].endpoint.zone == "zone-c";
  }));

  server_->Delete(Resource::kEndpointSlices, "default", "echo-def34");
  ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) {
    return Addresses(s, kEcho, "grpc") == std::vector<std::string>{"10.0.0.1", "10.0.0.2"};
  }));

  server_->Delete(Resource::kServices, "shop", "cart");
  ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) {
    return s.FindService(kCart) == nullptr && s.FindEndpoints(kCart, "") == nullptr;
  }));
  EXPECT_EQ(source_->Stats().lists, 3u);
  EXPECT_TRUE(Errors().empty()) << DescribeErrors();
}

TEST_F(KubeSourceTest, APublishNotReadyServiceRollsOutThroughTheWatch) {
  // The slices the EndpointSlice controller writes at each step of a rollout of a Service
  // with publishNotReadyAddresses: every one has ready pods that are terminating or not
  // serving, and every one must reach the snapshot.
  AddCluster();
  StartSynced();
  const ServiceKey kDns{"shop", "dns"};
  auto slice = [](std::vector<PodState> pods) {
    return ControllerSlices("shop", "dns", true, false, {{"dns", 5353}}, pods, true)[0];
  };
  auto conditions = [&](const Snapshot& s) {
    std::vector<std::pair<std::string, EndpointConditions>> out;
    if (const ServicePortEndpoints* port = s.FindEndpoints(kDns, "dns"); port != nullptr) {
      for (const PortEndpoint& e : port->endpoints) {
        out.emplace_back(e.endpoint.addresses[0], e.endpoint.conditions);
      }
    }
    return out;
  };
  using Conditions = std::vector<std::pair<std::string, EndpointConditions>>;
  server_->Add(Resource::kServices,
               MakeServiceJson("shop", "dns", {"10.96.0.53"}, {{.name = "dns", .port = 53}},
                               /*publish_not_ready_addresses=*/true));
  server_->Add(Resource::kEndpointSlices, slice({{.name = "dns-old", .ipv4 = "10.0.5.1"}}));
  ASSERT_TRUE(WaitForSnapshot([&](const Snapshot& s) {
    return conditions(s) == Conditions{{"10.0.5.1", {true, true, false}}};
  })) << DescribeErrors();

  // The new pod starts, not ready yet; the old one is deleted and still serves.
  server_->Modify(Resource::kEndpointSlices,
                  slice({{.name = "dns-old", .ipv4 = "10.0.5.1", .deleting = true},
                         {.name = "dns-new", .ipv4 = "10.0.5.2", .pod_ready = false}}));
  ASSERT_TRUE(WaitForSnapshot([&](const Snapshot& s) {
    return conditions(s) ==
           Conditions{{"10.0.5.1", {true, true, true}}, {"10.0.5.2", {true, false, false}}};
  })) << DescribeErrors();

  // The new pod is ready; the old one stopped serving.
  server_->Modify(
      Resource::kEndpointSlices,
      slice({{.name = "dns-old", .ipv4 = "10.0.5.1", .pod_ready = false, .deleting = true},
             {.name = "dns-new", .ipv4 = "10.0.5.2"}}));
  ASSERT_TRUE(WaitForSnapshot([&](const Snapshot& s) {
    return conditions(s) ==
           Conditions{{"10.0.5.1", {true, false, true}}, {"10.0.5.2", {true, true, false}}};
  })) << DescribeErrors();

  // The old pod is gone.
  server_->Modify(Resource::kEndpointSlices, slice({{.name = "dns-new", .ipv4 = "10.0.5.2"}}));
  ASSERT_TRUE(WaitForSnapshot([&](const Snapshot& s) {
    return conditions(s) == Conditions{{"10.0.5.2", {true, true, false}}};
  })) << DescribeErrors();
  EXPECT_EQ(source_->Stats().rejected_objects, 0u) << DescribeErrors();
}

TEST_F(KubeSourceTest, AChangeNoSnapshotFieldSeesIsNotRepublished) {
  AddCluster();
  StartSynced();
  const std::uint64_t events_before = source_->Stats().events;

  // A new resourceVersion and a label: nothing the snapshot models.
  json node = MakeNodeJson("node-a", "zone-a");
  node["metadata"]["labels"]["example.com/drained"] = "false";
  server_->Modify(Resource::kNodes, node);
  json service = EchoService();
  service["metadata"]["annotations"]["example.com/owner"] = "team-a";
  server_->Modify(Resource::kServices, service);
  ASSERT_TRUE(WaitFor([&] { return source_->Stats().events >= events_before + 2; }));
  std::this_thread::sleep_for(150ms);  // several debounce periods

  EXPECT_EQ(SnapshotCount(), 1u);

  // A change that does matter still goes through.
  server_->Modify(Resource::kServices, EchoService(81));
  ASSERT_TRUE(WaitFor([&] { return SnapshotCount() == 2; }));
  const Service* echo = Latest()->FindService(kEcho);
  ASSERT_NE(echo, nullptr);
  EXPECT_EQ(echo->ports[1].port, 81);
}

TEST_F(KubeSourceTest, EventsSplitAcrossChunksOrSharingOneAreAllApplied) {
  AddCluster();
  StartSynced();

  server_->SetSplitEvents(true);
  server_->Add(Resource::kEndpointSlices, EchoSlice("echo-ghi56", {"10.0.0.4"}));
  ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) {
    return Addresses(s, kEcho, "grpc").size() == 4;
  })) << DescribeErrors();

  server_->SetSplitEvents(false);
  server_->SetWatchesPaused(true);
  for (int i = 5; i <= 9; ++i) {
    server_->Add(Resource::kEndpointSlices,
                 EchoSlice("echo-n" + std::to_string(i), {"10.0.0." + std::to_string(i)}));
  }
  server_->SetWatchesPaused(false);  // five events in one chunk
  ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) {
    return Addresses(s, kEcho, "grpc").size() == 9;
  })) << DescribeErrors();
  EXPECT_TRUE(Errors().empty()) << DescribeErrors();
}

TEST_F(KubeSourceTest, ADroppedWatchResumesFromItsLastVersionWithoutRelisting) {
  AddCluster();
  StartSynced();
  server_->Add(Resource::kServices,
               MakeServiceJson("shop", "checkout", {"10.96.0.30"}, {{.name = "", .port = 80}}));
  ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) { return s.services.size() == 3; }));
  const std::uint64_t seen = server_->resource_version();
  const size_t watches_before = Watches(Resource::kServices).size();

  server_->DropWatches();
  // While the watches are down: the resumed watch must replay it.
  server_->Delete(Resource::kServices, "shop", "checkout");

  ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) { return s.services.size() == 2; }));
  ASSERT_TRUE(server_->WaitForOpenWatches(3, kWaitLimit));
  const std::vector<RecordedRequest> rewatches = Watches(Resource::kServices, watches_before);
  ASSERT_FALSE(rewatches.empty());
  EXPECT_EQ(rewatches[0].param("resourceVersion"), std::to_string(seen));
  const KubeSourceStats stats = source_->Stats();
  EXPECT_EQ(stats.lists, 3u);
  EXPECT_EQ(stats.relists_gone, 0u);
  EXPECT_GE(stats.errors, 3u);  // three broken streams
}

TEST_F(KubeSourceTest, ACorruptWatchStreamIsReportedAndResumedWithoutRelisting) {
  AddCluster();
  StartSynced();

  server_->SendRawLineToWatches("<html>502 Bad Gateway</html>");
  server_->Add(Resource::kServices,
               MakeServiceJson("shop", "checkout", {"10.96.0.30"}, {{.name = "", .port = 80}}));

  ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) { return s.services.size() == 3; }));
  EXPECT_THAT(Errors(), Contains("watch /api/v1/services: not a watch event: <html>502 Bad "
                                 "Gateway</html>"));
  EXPECT_EQ(source_->Stats().lists, 3u);
}

TEST_F(KubeSourceTest, AnOutageKeepsTheLastSnapshotAndChangesArriveAfterIt) {
  AddCluster();
  StartSynced();
  std::shared_ptr<const Snapshot> before = Latest();

  server_->SetUnavailable(true);
  server_->Delete(Resource::kEndpointSlices, "default", "echo-def34");
  server_->Add(Resource::kEndpointSlices, EchoSlice("echo-ghi56", {"10.0.0.9"}));
  // Several failed retries of each watch (503), with backoff.
  ASSERT_TRUE(WaitFor([&] {
    size_t refused = 0;
    for (const RecordedRequest& request : server_->Requests()) refused += request.status == 503;
    return refused >= 6;
  }));

  EXPECT_EQ(source_->Current(), before);
  EXPECT_EQ(SnapshotCount(), 1u);
  EXPECT_THAT(Errors(), Contains(HasSubstr("HTTP 503 (ServiceUnavailable)")));

  server_->SetUnavailable(false);
  ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) {
    return Addresses(s, kEcho, "grpc") ==
           std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.9"};
  })) << DescribeErrors();
  // The watches resumed from where they were: the history was still there.
  EXPECT_EQ(source_->Stats().lists, 3u);
}

TEST_F(KubeSourceTest, ABookmarkMovesTheResumePointSoACompactionNeedsNoRelist) {
  AddCluster();
  StartSynced();
  // Only Nodes change: the Service and EndpointSlice watches see no event, so without a
  // bookmark their resourceVersion stays at the list's, which the compaction removes.
  for (int i = 0; i < 3; ++i) server_->Modify(Resource::kNodes, MakeNodeJson("node-c", ""));
  server_->SendBookmarks();
  ASSERT_TRUE(WaitFor([&] { return source_->Stats().bookmarks >= 3; }));
  const std::uint64_t bookmarked = server_->resource_version();
  const size_t watches_before = Watches(Resource::kServices).size();

  server_->Compact();
  server_->DropWatches();
  ASSERT_TRUE(WaitFor([&] { return Watches(Resource::kServices, watches_before).size() >= 1; }));
  ASSERT_TRUE(server_->WaitForOpenWatches(3, kWaitLimit));

  EXPECT_EQ(Watches(Resource::kServices, watches_before)[0].param("resourceVersion"),
            std::to_string(bookmarked));
  const KubeSourceStats stats = source_->Stats();
  EXPECT_EQ(stats.relists_gone, 0u);
  EXPECT_EQ(stats.lists, 3u);
  server_->Add(Resource::kServices,
               MakeServiceJson("shop", "checkout", {"10.96.0.30"}, {{.name = "", .port = 80}}));
  EXPECT_TRUE(WaitForSnapshot([](const Snapshot& s) { return s.services.size() == 3; }));
}

TEST_F(KubeSourceTest, AnHttp410RelistsAndDropsWhatWasDeletedMeanwhile) {
  AddCluster();
  server_->SetGoneStyle(GoneStyle::kHttpStatus);
  StartSynced();

  ExpectRelistAfterGone([&] {
    server_->SetUnavailable(true);
    server_->Delete(Resource::kServices, "shop", "cart");
    server_->Delete(Resource::kEndpointSlices, "shop", "cart-x1");
    server_->Delete(Resource::kEndpointSlices, "default", "echo-abc12");
    server_->Add(Resource::kEndpointSlices, EchoSlice("echo-jkl78", {"10.0.0.7"}));
    server_->Compact();
    server_->SetUnavailable(false);
  });
  bool saw_410 = false;
  for (const RecordedRequest& request : server_->Requests()) saw_410 |= request.status == 410;
  EXPECT_TRUE(saw_410);
}

TEST_F(KubeSourceTest, AnErrorEventWithCode410RelistsAndDropsWhatWasDeletedMeanwhile) {
  AddCluster();
  server_->SetGoneStyle(GoneStyle::kErrorEvent);
  StartSynced();

  ExpectRelistAfterGone([&] {
    server_->SetUnavailable(true);
    server_->Delete(Resource::kServices, "shop", "cart");
    server_->Delete(Resource::kEndpointSlices, "shop", "cart-x1");
    server_->Delete(Resource::kEndpointSlices, "default", "echo-abc12");
    server_->Add(Resource::kEndpointSlices, EchoSlice("echo-jkl78", {"10.0.0.7"}));
    server_->Compact();
    server_->SetUnavailable(false);
  });
}

TEST_F(KubeSourceTest, AnErrorEventOnAnOpenWatchRelists) {
  AddCluster();
  StartSynced();

  ExpectRelistAfterGone([&] {
    server_->SetWatchesPaused(true);  // the deletions below are never streamed
    server_->Delete(Resource::kServices, "shop", "cart");
    server_->Delete(Resource::kEndpointSlices, "shop", "cart-x1");
    server_->Delete(Resource::kEndpointSlices, "default", "echo-abc12");
    server_->Add(Resource::kEndpointSlices, EchoSlice("echo-jkl78", {"10.0.0.7"}));
    server_->Compact();
    server_->SendGoneToWatches();
    server_->SetWatchesPaused(false);
  });
  EXPECT_EQ(source_->Stats().errors, 0u);  // a 410 is routine, not an error
}

TEST_F(KubeSourceTest, AMalformedUpdateIsReportedAndThePreviousVersionKept) {
  AddCluster();
  StartSynced();

  json broken = EchoService();
  broken["spec"]["ports"][1]["port"] = 70000;
  server_->Modify(Resource::kServices, broken);
  ASSERT_TRUE(WaitFor([&] { return source_->Stats().rejected_objects == 1; }));

  EXPECT_THAT(Errors(), ElementsAre("Service default/echo: spec.ports[1].port: 70000 is not a "
                                    "port (1-65535) (kept its previous version)"));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(SnapshotCount(), 1u);
  const Service* echo = source_->Current()->FindService(kEcho);
  ASSERT_NE(echo, nullptr);
  EXPECT_EQ(echo->ports[1].port, 80);

  // A malformed new object is skipped; the rest of the stream goes on.
  json bad_slice = EchoSlice("echo-bad99", {"10.0.0.8"});
  bad_slice["endpoints"][0]["addresses"][0] = "10.0.0.x";
  server_->Add(Resource::kEndpointSlices, bad_slice);
  server_->Modify(Resource::kServices, EchoService(81));
  ASSERT_TRUE(WaitForSnapshot([](const Snapshot& s) {
    const Service* echo = s.FindService(kEcho);
    return echo != nullptr && echo->ports[1].port == 81;
  }));
  EXPECT_THAT(Errors(), Contains("EndpointSlice default/echo-bad99: endpoints[0].addresses[0]: "
                                 "\"10.0.0.x\" is not an IP address (skipped)"));
  EXPECT_THAT(Addresses(*Latest(), kEcho, "grpc"), ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3"));
  EXPECT_EQ(source_->Stats().rejected_objects, 2u);
}

TEST_F(KubeSourceTest, AMalformedObjectInTheFirstListIsSkippedAndTheRestServed) {
  AddCluster();
  json broken = CartService();
  broken["spec"]["clusterIPs"] = {"10.96.0.x"};
  server_->Modify(Resource::kServices, broken);

  StartSynced();

  EXPECT_THAT(ServiceNames(*Latest()), ElementsAre("default/echo"));
  EXPECT_THAT(Errors(), ElementsAre("Service shop/cart: spec.clusterIPs[0]: \"10.96.0.x\" is not "
                                    "an IP address (skipped)"));
}

TEST_F(KubeSourceTest, StopReturnsPromptlyWithWatchesOpen) {
  AddCluster();
  StartSynced();

  const auto started = std::chrono::steady_clock::now();
  source_->Stop();
  const auto took = std::chrono::steady_clock::now() - started;

  EXPECT_LT(took, 2s);
  source_->Stop();                         // idempotent
  EXPECT_NE(source_->Current(), nullptr);  // the last snapshot stays readable
}

TEST_F(KubeSourceTest, StopReturnsPromptlyDuringALongBackoff) {
  server_->SetUnavailable(true);
  KubeSourceOptions options = FastOptions();
  options.initial_backoff = 20s;
  options.max_backoff = 20s;
  StartSource(options);
  ASSERT_TRUE(WaitFor([&] { return source_->Stats().errors >= 3; }));

  const auto started = std::chrono::steady_clock::now();
  source_->Stop();

  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(source_->Current(), nullptr);
  EXPECT_FALSE(source_->Stats().synced);
}

TEST_F(KubeSourceTest, TheTokenFileIsReadAgainOnEveryConnection) {
  AddCluster();
  const std::string token_file =
      (std::filesystem::temp_directory_path() / ("skewless-token-" + std::to_string(::getpid())))
          .string();
  // Removed however the test ends (a failed ASSERT returns early).
  struct RemoveFile {
    std::string path;
    ~RemoveFile() { std::filesystem::remove(path); }
  } remove_token_file{token_file};
  std::ofstream(token_file) << "token-1\n";
  server_->SetRequiredToken("token-1");
  StartSource(KubeConfig{.server = server_->url(), .bearer_token_file = token_file});
  ASSERT_TRUE(WaitFor([&] { return SnapshotCount() == 1; })) << DescribeErrors();
  ASSERT_TRUE(server_->WaitForOpenWatches(3, kWaitLimit));

  // The kubelet rotates the projected token; the server stops taking the old one.
  std::ofstream(token_file) << "token-2\n";
  server_->SetRequiredToken("token-2");
  const size_t requests_before = server_->Requests().size();
  server_->DropWatches();
  ASSERT_TRUE(server_->WaitForOpenWatches(3, kWaitLimit)) << DescribeErrors();
  server_->Add(Resource::kServices,
               MakeServiceJson("shop", "checkout", {"10.96.0.30"}, {{.name = "", .port = 80}}));

  EXPECT_TRUE(WaitForSnapshot([](const Snapshot& s) { return s.services.size() == 3; }));
  const std::vector<RecordedRequest> requests = server_->Requests();
  ASSERT_GT(requests.size(), requests_before);
  EXPECT_EQ(requests.back().authorization, "Bearer token-2");
  EXPECT_EQ(requests.front().authorization, "Bearer token-1");
}

TEST_F(KubeSourceTest, AWrongTokenIsReportedAsUnauthorized) {
  AddCluster();
  server_->SetRequiredToken("right");

  StartSource(KubeConfig{.server = server_->url(), .bearer_token = "wrong"});

  ASSERT_TRUE(WaitFor([&] { return !Errors().empty(); }));
  EXPECT_THAT(Errors()[0], HasSubstr("HTTP 401 (Unauthorized)"));
  EXPECT_FALSE(source_->Stats().synced);
}

// --- TLS ---

class KubeSourceTlsTest : public KubeSourceTest {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestPki> pki = testing::MakeTestPki();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
  }

  void StartServer(bool require_client_certificate) {
    FakeApiServerOptions options{.tls_cert_pem = pki_.server_cert_pem,
                                 .tls_key_pem = pki_.server_key_pem};
    if (require_client_certificate) options.client_ca_pem = pki_.ca_cert_pem;
    absl::StatusOr<std::unique_ptr<FakeApiServer>> server = FakeApiServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    AddCluster();
  }

  testing::TestPki pki_;
};

TEST_F(KubeSourceTlsTest, VerifiesTheServerAgainstTheCaAndPresentsTheClientCertificate) {
  StartServer(/*require_client_certificate=*/true);

  StartSource(KubeConfig{.server = server_->url(),
                         .ca_data = pki_.ca_cert_pem,
                         .client_cert_data = pki_.client_cert_pem,
                         .client_key_data = pki_.client_key_pem});

  ASSERT_TRUE(WaitFor([&] { return SnapshotCount() == 1; })) << DescribeErrors();
  EXPECT_THAT(ServiceNames(*Latest()), ElementsAre("default/echo", "shop/cart"));
}

TEST_F(KubeSourceTlsTest, RefusesAServerItsCaDidNotSign) {
  StartServer(/*require_client_certificate=*/false);
  absl::StatusOr<testing::TestPki> other = testing::MakeTestPki();
  ASSERT_TRUE(other.ok());

  StartSource(KubeConfig{.server = server_->url(), .ca_data = other->ca_cert_pem});

  ASSERT_TRUE(WaitFor([&] { return !Errors().empty(); }));
  EXPECT_THAT(Errors()[0], HasSubstr("server certificate not trusted"));
  EXPECT_FALSE(source_->Stats().synced);
  EXPECT_TRUE(server_->Requests().empty());  // nothing was sent to the impostor
}

TEST_F(KubeSourceTlsTest, InsecureSkipsServerVerification) {
  StartServer(/*require_client_certificate=*/false);

  StartSource(KubeConfig{.server = server_->url(), .insecure_skip_tls_verify = true});

  ASSERT_TRUE(WaitFor([&] { return SnapshotCount() == 1; })) << DescribeErrors();
}

}  // namespace
}  // namespace skewless::controlplane
