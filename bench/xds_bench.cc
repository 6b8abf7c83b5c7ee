// skewless-xds-bench: the control plane under load, as a real process watching a
// simulated Kubernetes API: propagation latency from an EndpointSlice event to a
// subscribed xDS client (next to the API server's own watch latency), the time to push
// one change to every one of many ADS streams, and the control plane's memory.
// Prints one JSON object; bench/run.py turns it into docs/BENCHMARKS.md.
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "bench_support.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "fake_apiserver.h"
#include "grpcpp/grpcpp.h"
#include "kube_fixtures.h"
#include "nlohmann/json.hpp"

namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using skewless::bench::Clock;
using skewless::testing::FakeApiServer;
using Resource = skewless::testing::Resource;

constexpr char kEndpointsType[] =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

using skewless::bench::ClusterOf;
using skewless::bench::Ms;
using skewless::bench::Percentile;
using skewless::bench::Populate;
using skewless::bench::Slice;
using skewless::bench::Summary;

void Say(const std::string& line) { skewless::bench::Say("xds-bench", line); }

// Counts responses per stream so the bench can wait for "every stream got change k".
class Arrivals {
 public:
  explicit Arrivals(int streams) : counts_(streams, 0), last_(streams) {}
  void Arrived(int stream) {
    std::lock_guard lock(mutex_);
    ++counts_[stream];
    last_[stream] = Clock::now();
    changed_.notify_all();
  }
  std::vector<std::uint64_t> Counts() {
    std::lock_guard lock(mutex_);
    return counts_;
  }
  // Waits until every stream has more responses than in `before`; returns each
  // stream's arrival time, or nothing on timeout.
  std::optional<std::vector<Clock::time_point>> AwaitAll(const std::vector<std::uint64_t>& before,
                                                         std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    const bool all = changed_.wait_for(lock, limit, [&] {
      for (std::size_t i = 0; i < counts_.size(); ++i) {
        if (counts_[i] <= before[i]) return false;
      }
      return true;
    });
    if (!all) return std::nullopt;
    return last_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::uint64_t> counts_;
  std::vector<Clock::time_point> last_;
};

// One proxyless-gRPC-style ADS stream (callback API: a thousand of them need no
// thousand threads here) subscribed to EDS for the given clusters; it never ACKs,
// which the server does not wait for.
class EdsWatcher : public grpc::ClientBidiReactor<DiscoveryRequest, DiscoveryResponse> {
 public:
  EdsWatcher(envoy::service::discovery::v3::AggregatedDiscoveryService::Stub* stub, int index,
             std::vector<std::string> clusters, Arrivals* arrivals)
      : index_(index), arrivals_(arrivals) {
    request_.set_type_url(kEndpointsType);
    request_.mutable_node()->set_id("bench-" + std::to_string(index));
    request_.mutable_node()->set_user_agent_name("gRPC bench");
    for (const std::string& cluster : clusters) request_.add_resource_names(cluster);
    stub->async()->StreamAggregatedResources(&context_, this);
    StartWrite(&request_);
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    arrivals_->Arrived(index_);
    StartRead(&response_);
  }
  void OnDone(const grpc::Status&) override {
    std::lock_guard lock(mutex_);
    done_ = true;
    finished_.notify_all();
  }
  void Cancel() { context_.TryCancel(); }
  void AwaitDone() {
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [&] { return done_; });
  }

 private:
  grpc::ClientContext context_;
  DiscoveryRequest request_;
  DiscoveryResponse response_;
  const int index_;
  Arrivals* arrivals_;
  std::mutex mutex_;
  std::condition_variable finished_;
  bool done_ = false;
};

// Many EDS streams over a few connections (gRPC clients each have their own).
class StreamFleet {
 public:
  StreamFleet(int xds_port, int streams, int services) : arrivals_(streams) {
    const int connections = std::max(1, streams / 100);
    for (int c = 0; c < connections; ++c) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(xds_port),
                                               grpc::InsecureChannelCredentials(), args);
      stubs_.push_back(envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel));
    }
    for (int i = 0; i < streams; ++i) {
      // Every stream watches service 0 (the one that changes) and one of its own.
      std::vector<std::string> clusters = {ClusterOf(0)};
      if (services > 1) clusters.push_back(ClusterOf(1 + i % (services - 1)));
      watchers_.push_back(
          std::make_unique<EdsWatcher>(stubs_[i % stubs_.size()].get(), i, clusters, &arrivals_));
    }
  }
  ~StreamFleet() {
    for (auto& watcher : watchers_) watcher->Cancel();
    for (auto& watcher : watchers_) watcher->AwaitDone();
  }
  Arrivals& arrivals() { return arrivals_; }

 private:
  Arrivals arrivals_;
  std::vector<std::unique_ptr<envoy::service::discovery::v3::AggregatedDiscoveryService::Stub>>
      stubs_;
  std::vector<std::unique_ptr<EdsWatcher>> watchers_;
};

// A plain watch on EndpointSlices, timing when each event line arrives: the API
// server's own delivery latency, the floor under the control plane's.
class RawWatch {
 public:
  RawWatch(const std::string& host, int port, std::uint64_t resource_version) {
    thread_ = std::thread([this, host, port, resource_version] {
      httplib::Client client(host, port);
      client.set_read_timeout(1, 0);
      const std::string path = FakeApiServer::PathOf(Resource::kEndpointSlices) +
                               "?watch=1&resourceVersion=" + std::to_string(resource_version);
      std::string pending;
      while (!stop_) {
        client.Get(path, [&](const char* data, size_t length) {
          pending.append(data, length);
          std::size_t newline;
          while ((newline = pending.find('\n')) != std::string::npos) {
            pending.erase(0, newline + 1);
            std::lock_guard lock(mutex_);
            ++events_;
            last_ = Clock::now();
            arrived_.notify_all();
          }
          return !stop_;
        });
      }
    });
  }
  ~RawWatch() {
    stop_ = true;
    thread_.join();
  }
  std::uint64_t events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::optional<Clock::time_point> AwaitEvent(std::uint64_t before,
                                              std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    if (!arrived_.wait_for(lock, limit, [&] { return events_ > before; })) return std::nullopt;
    return last_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::uint64_t events_ = 0;
  Clock::time_point last_;
};

struct Scenario {
  int services;
  int endpoints;
  int streams;
  int changes;
};

nlohmann::json Run(const std::string& controlplane, const Scenario& scenario, bool propagation) {
  const std::string work_dir = "/tmp/skewless-xds-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(work_dir);
  auto api = FakeApiServer::Start();
  if (!api.ok()) throw std::runtime_error(std::string(api.status().message()));
  Say("simulated API: " + std::to_string(scenario.services) + " services x " +
      std::to_string(scenario.endpoints) + " endpoints");
  Populate(**api, scenario.services, scenario.endpoints);

  nlohmann::json out = {{"services", scenario.services},
                        {"endpoints", scenario.services * scenario.endpoints},
                        {"streams", scenario.streams}};
  skewless::bench::ControlPlane cp(controlplane, (*api)->url(), work_dir);
  const auto start = Clock::now();
  if (!cp.AwaitReady(std::chrono::seconds(120)))
    throw std::runtime_error("control plane not ready");
  out["sync_ms"] = Ms(Clock::now() - start);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto [idle_rss, idle_hwm] = cp.daemon().MemoryKiB();
  out["rss_idle_kib"] = idle_rss;

  int not_ready = 0;
  auto change = [&] {
    not_ready = (not_ready + 1) % scenario.endpoints;
    (*api)->Modify(Resource::kEndpointSlices, Slice(0, scenario.endpoints, not_ready));
  };

  if (propagation) {
    // One subscriber: EndpointSlice event → watch → snapshot → cache → ADS push.
    StreamFleet one(cp.xds_port(), 1, scenario.services);
    auto& arrivals = one.arrivals();
    if (!arrivals.AwaitAll({0}, std::chrono::seconds(30)))
      throw std::runtime_error("no initial EDS");
    RawWatch raw("127.0.0.1", std::stoi((*api)->url().substr((*api)->url().rfind(':') + 1)),
                 (*api)->resource_version());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::vector<double> xds_ms, watch_ms;
    for (int k = 0; k < scenario.changes; ++k) {
      const auto before = arrivals.Counts();
      const std::uint64_t raw_before = raw.events();
      const auto t0 = Clock::now();
      change();
      auto arrived = arrivals.AwaitAll(before, std::chrono::seconds(5));
      auto watched = raw.AwaitEvent(raw_before, std::chrono::seconds(5));
      if (!arrived || !watched) throw std::runtime_error("a change did not arrive within 5 s");
      xds_ms.push_back(Ms((*arrived)[0] - t0));
      watch_ms.push_back(Ms(*watched - t0));
      // Space changes past the source's debounce so each is timed on its own.
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
    out["propagation"] = Summary(xds_ms);
    out["watch_delivery"] = Summary(watch_ms);
  }

  if (scenario.streams > 0) {
    Say("opening " + std::to_string(scenario.streams) + " ADS streams");
    StreamFleet fleet(cp.xds_port(), scenario.streams, scenario.services);
    auto& arrivals = fleet.arrivals();
    if (!arrivals.AwaitAll(std::vector<std::uint64_t>(scenario.streams, 0),
                           std::chrono::seconds(60))) {
      throw std::runtime_error("not every stream got its first EDS");
    }
    std::vector<double> all_ms, median_ms;
    for (int k = 0; k < std::max(1, scenario.changes / 10); ++k) {
      const auto before = arrivals.Counts();
      const auto t0 = Clock::now();
      change();
      auto arrived = arrivals.AwaitAll(before, std::chrono::seconds(30));
      if (!arrived) throw std::runtime_error("a change did not reach every stream within 30 s");
      std::vector<double> per_stream;
      for (const auto& at : *arrived) per_stream.push_back(Ms(at - t0));
      all_ms.push_back(*std::max_element(per_stream.begin(), per_stream.end()));
      median_ms.push_back(Percentile(per_stream, 0.5));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    out["push_to_all"] = Summary(all_ms);
    out["push_median_stream"] = Summary(median_ms);
    const auto [rss, hwm] = cp.daemon().MemoryKiB();
    out["rss_streams_kib"] = rss;
    out["hwm_kib"] = hwm;
  }
  if (!getenv("KEEP")) std::filesystem::remove_all(work_dir);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "skewless-xds-bench: control-plane propagation latency, fan-out to many ADS "
      "streams and memory, against a simulated Kubernetes API. Prints JSON."};
  std::string controlplane;
  Scenario scenario{.services = 1000, .endpoints = 10, .streams = 1000, .changes = 200};
  bool propagation = true;
  app.add_option("--controlplane", controlplane, "Path to skewless-controlplane")->required();
  app.add_option("--services", scenario.services, "Services (one port each)")
      ->capture_default_str();
  app.add_option("--endpoints", scenario.endpoints, "Endpoints per Service (<= 254)")
      ->capture_default_str()
      ->check(CLI::Range(1, 254));
  app.add_option("--streams", scenario.streams, "Concurrent ADS streams for the fan-out and memory")
      ->capture_default_str();
  app.add_option("--changes", scenario.changes,
                 "EndpointSlice changes timed for propagation (a tenth for the fan-out)")
      ->capture_default_str();
  app.add_flag("!--no-propagation", propagation, "Skip the propagation measurement");
  CLI11_PARSE(app, argc, argv);
  signal(SIGPIPE, SIG_IGN);
  try {
    std::cout << Run(controlplane, scenario, propagation).dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "skewless-xds-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
