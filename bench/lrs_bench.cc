// skewless-lrs-bench: cluster-wide load at cluster scale. Many simulated nodes report
// their open connections per endpoint over LRS to a real skewless-controlplane, and
// subscribe (delta ADS) to the ClusterLoads of the clusters they steer, as agents do.
// Measures the control plane's CPU and memory with heartbeats only and under churn, the
// bytes per agent, and the time from one node's report of a change to every subscriber
// holding the new sum. Prints one JSON object; bench/run.py turns it into
// docs/BENCHMARKS.md.
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench_support.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/load_stats/v3/lrs.grpc.pb.h"
#include "fake_apiserver.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "skewless/load/v1/cluster_load.pb.h"

namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::load_stats::v3::LoadStatsRequest;
using envoy::service::load_stats::v3::LoadStatsResponse;
using skewless::bench::Clock;
using skewless::bench::ClusterOf;
using skewless::bench::Ms;
using skewless::bench::PodIp;

constexpr char kClusterLoadType[] = "type.googleapis.com/skewless.load.v1.ClusterLoad";
constexpr std::uint32_t kPort = 8080;  // bench_support's target port
// What a message costs on the wire beyond its serialized bytes, counted per message: the
// gRPC length prefix (5) and one HTTP/2 DATA frame header (9). Not counted: HEADERS at a
// stream's start, WINDOW_UPDATE and PING frames, TCP/IP headers.
constexpr std::size_t kFramingBytes = 5 + 9;

void Say(const std::string& line) { skewless::bench::Say("lrs-bench", line); }

struct Options {
  int nodes = 1000;
  int services = 1000;
  int endpoints = 10;
  int subscribers = 1000;
  int services_per_node = 10;
  int endpoints_per_service = 3;
  double seconds = 20;
  int changes = 50;
  double churn = 0.10;
  double publish_interval = 0.25;
};

// One endpoint a node holds connections to.
struct Held {
  int service;
  int endpoint;
  std::uint64_t connections;
};

// Time when each subscriber has seen each (cluster, endpoint)'s connections reach a value:
// the latency phase waits on it.
class Seen {
 public:
  void Record(int subscriber, const skewless::load::v1::ClusterLoad& load, Clock::time_point at) {
    std::lock_guard lock(mutex_);
    for (const auto& endpoint : load.endpoints()) {
      values_[{subscriber, load.cluster_name(), endpoint.address()}] = {endpoint.connections(), at};
    }
    changed_.notify_all();
  }
  // Waits until every subscriber in `who` holds `value` for the endpoint; the latest
  // arrival among them, or nothing on timeout.
  std::optional<Clock::time_point> AwaitAll(const std::vector<int>& who, const std::string& cluster,
                                            const std::string& address, std::uint64_t value,
                                            std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    Clock::time_point latest{};
    const bool all = changed_.wait_for(lock, limit, [&] {
      latest = {};
      for (int s : who) {
        auto it = values_.find({s, cluster, address});
        if (it == values_.end() || it->second.first != value) return false;
        latest = std::max(latest, it->second.second);
      }
      return true;
    });
    if (!all) return std::nullopt;
    return latest;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::tuple<int, std::string, std::string>, std::pair<std::uint64_t, Clock::time_point>>
      values_;
};

// Bytes that crossed one stream, serialized sizes plus kFramingBytes per message.
struct Traffic {
  std::atomic<std::uint64_t> out{0};
  std::atomic<std::uint64_t> in{0};
  void Out(std::size_t bytes) { out += bytes + kFramingBytes; }
  void In(std::size_t bytes) { in += bytes + kFramingBytes; }
};

// One node's LRS stream (callback API). Send() replaces a report still waiting for the
// one in flight, as an agent reports its latest counts, not every step between.
class LrsNode : public grpc::ClientBidiReactor<LoadStatsRequest, LoadStatsResponse> {
 public:
  LrsNode(envoy::service::load_stats::v3::LoadReportingService::Stub* stub, Traffic* traffic)
      : traffic_(traffic) {
    stub->async()->StreamLoadStats(&context_, this);
    StartRead(&response_);
    StartCall();
  }
  void Send(LoadStatsRequest request) {
    std::lock_guard lock(mutex_);
    if (done_) return;
    if (writing_) {
      pending_ = std::move(request);
      return;
    }
    WriteLocked(std::move(request));
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    ++writes_done_;
    write_done_at_ = Clock::now();
    if (ok && pending_) {
      WriteLocked(std::move(*pending_));
      pending_.reset();
    }
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    traffic_->In(response_.ByteSizeLong());
    {
      std::lock_guard lock(mutex_);
      interval_ms_ = response_.load_reporting_interval().seconds() * 1000 +
                     response_.load_reporting_interval().nanos() / 1000000;
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override {
    std::lock_guard lock(mutex_);
    done_ = true;
    status_ = status;
    finished_.notify_all();
  }
  long interval_ms() {
    std::lock_guard lock(mutex_);
    return interval_ms_;
  }
  std::optional<grpc::Status> ended() {
    std::lock_guard lock(mutex_);
    if (!done_) return std::nullopt;
    return status_;
  }
  // Writes completed (handed to the transport) and when the last one did.
  std::pair<std::uint64_t, Clock::time_point> writes_done() {
    std::lock_guard lock(mutex_);
    return {writes_done_, write_done_at_};
  }
  void Cancel() { context_.TryCancel(); }
  void AwaitDone() {
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [&] { return done_; });
  }

 private:
  void WriteLocked(LoadStatsRequest request) {
    writing_ = true;
    request_ = std::move(request);
    traffic_->Out(request_.ByteSizeLong());
    StartWrite(&request_);
  }

  grpc::ClientContext context_;
  Traffic* traffic_;
  std::mutex mutex_;
  std::condition_variable finished_;
  LoadStatsRequest request_;
  LoadStatsResponse response_;
  std::optional<LoadStatsRequest> pending_;
  bool writing_ = false;
  bool done_ = false;
  long interval_ms_ = 0;
  std::uint64_t writes_done_ = 0;
  Clock::time_point write_done_at_;
  grpc::Status status_;
};

// One node's delta ADS stream subscribed to the ClusterLoads of its clusters; it ACKs
// every response, as the agent does.
class LoadSubscriber
    : public grpc::ClientBidiReactor<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
 public:
  LoadSubscriber(envoy::service::discovery::v3::AggregatedDiscoveryService::Stub* stub, int index,
                 const std::string& node_id, const std::set<std::string>& clusters, Seen* seen,
                 Traffic* traffic)
      : index_(index), seen_(seen), traffic_(traffic) {
    DeltaDiscoveryRequest subscribe;
    subscribe.mutable_node()->set_id(node_id);
    subscribe.mutable_node()->set_user_agent_name("skewless-agent");
    subscribe.set_type_url(kClusterLoadType);
    for (const std::string& cluster : clusters) subscribe.add_resource_names_subscribe(cluster);
    stub->async()->DeltaAggregatedResources(&context_, this);
    Queue(std::move(subscribe));
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    const auto at = Clock::now();
    traffic_->In(response_.ByteSizeLong());
    for (const auto& resource : response_.resources()) {
      skewless::load::v1::ClusterLoad load;
      if (resource.resource().UnpackTo(&load)) seen_->Record(index_, load, at);
    }
    responses_.fetch_add(1);
    DeltaDiscoveryRequest ack;
    ack.set_type_url(kClusterLoadType);
    ack.set_response_nonce(response_.nonce());
    Queue(std::move(ack));
    StartRead(&response_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) return;
    queue_.erase(queue_.begin());
    if (!queue_.empty()) WriteLocked();
  }
  void OnDone(const grpc::Status&) override {
    std::lock_guard lock(mutex_);
    done_ = true;
    finished_.notify_all();
  }
  std::uint64_t responses() const { return responses_.load(); }
  void Cancel() { context_.TryCancel(); }
  void AwaitDone() {
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [&] { return done_; });
  }

 private:
  void Queue(DeltaDiscoveryRequest request) {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(request));
    if (!writing_) WriteLocked();
  }
  void WriteLocked() {
    writing_ = true;
    traffic_->Out(queue_.front().ByteSizeLong());
    StartWrite(&queue_.front());
  }

  grpc::ClientContext context_;
  const int index_;
  Seen* seen_;
  Traffic* traffic_;
  std::mutex mutex_;
  std::condition_variable finished_;
  std::vector<DeltaDiscoveryRequest> queue_;  // front() is being written
  DeltaDiscoveryResponse response_;
  bool writing_ = false;
  bool done_ = false;
  std::atomic<std::uint64_t> responses_{0};
};

// The simulated nodes: what each holds, their streams, and when each reports.
class Fleet {
 public:
  Fleet(const Options& options, int xds_port) : options_(options) {
    std::mt19937 random(42);
    held_.resize(options.nodes);
    for (int n = 0; n < options.nodes; ++n) {
      std::set<int> services;
      while (static_cast<int>(services.size()) <
             std::min(options.services_per_node, options.services)) {
        services.insert(static_cast<int>(random() % options.services));
      }
      for (int s : services) {
        std::set<int> endpoints;
        while (static_cast<int>(endpoints.size()) <
               std::min(options.endpoints_per_service, options.endpoints)) {
          endpoints.insert(static_cast<int>(random() % options.endpoints));
        }
        for (int e : endpoints) held_[n].push_back({s, e, 1 + random() % 4});
      }
    }
    // Streams share connections, a hundred to each, as xds_bench does: a real node has a
    // connection of its own, but 2,000 client connections on this box measure the client.
    const int streams = options.nodes + options.subscribers;
    for (int c = 0; c < std::max(1, streams / 100); ++c) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      channels_.push_back(grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(xds_port),
                                                    grpc::InsecureChannelCredentials(), args));
    }
    lrs_traffic_ = std::vector<Traffic>(options.nodes);
    ads_traffic_ = std::vector<Traffic>(options.subscribers);
  }
  ~Fleet() {
    for (auto& s : subscribers_) s->Cancel();
    for (auto& n : lrs_) n->Cancel();
    for (auto& s : subscribers_) s->AwaitDone();
    for (auto& n : lrs_) n->AwaitDone();
  }

  static std::string NodeId(int n) { return "sim-node-" + std::to_string(n); }
  // Subscriber i is node SubscriberNode(i): an even sample of the nodes.
  int SubscriberNode(int i) const {
    return static_cast<int>(static_cast<long>(i) * options_.nodes / options_.subscribers);
  }

  void OpenReporters() {
    for (int n = 0; n < options_.nodes; ++n) {
      auto stub = envoy::service::load_stats::v3::LoadReportingService::NewStub(
          channels_[n % channels_.size()]);
      lrs_.push_back(std::make_unique<LrsNode>(stub.get(), &lrs_traffic_[n]));
      lrs_stubs_.push_back(std::move(stub));
      Report(n);
    }
    next_heartbeat_.assign(options_.nodes, Clock::time_point::max());
  }

  void OpenSubscribers() {
    for (int i = 0; i < options_.subscribers; ++i) {
      const int n = SubscriberNode(i);
      std::set<std::string> clusters;
      for (const Held& h : held_[n]) clusters.insert(ClusterOf(h.service));
      for (const std::string& c : clusters) subscribed_by_[c].push_back(i);
      auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(
          channels_[(options_.nodes + i) % channels_.size()]);
      subscribers_.push_back(std::make_unique<LoadSubscriber>(stub.get(), i, NodeId(n), clusters,
                                                              &seen_, &ads_traffic_[i]));
      ads_stubs_.push_back(std::move(stub));
    }
  }

  // The interval the control plane asked for, once every stream has it.
  std::chrono::milliseconds AwaitInterval(std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      long interval = 0;
      bool all = true;
      for (auto& node : lrs_) {
        if (auto status = node->ended()) {
          throw std::runtime_error("an LRS stream ended: " + status->error_message());
        }
        const long ms = node->interval_ms();
        if (ms == 0) {
          all = false;
          break;
        }
        interval = interval == 0 ? ms : std::min(interval, ms);
      }
      if (all && interval > 0) return std::chrono::milliseconds(interval);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("not every LRS stream got the control plane's response");
  }

  // Heartbeats spread evenly over the interval, as nodes started at random times are.
  void StartHeartbeats(std::chrono::milliseconds interval) {
    interval_ = interval;
    const auto now = Clock::now();
    for (int n = 0; n < options_.nodes; ++n) {
      next_heartbeat_[n] = now + interval * n / options_.nodes;
    }
  }

  // One check of every node, as agents check every 0.25 s: a changed node reports now,
  // the others when their heartbeat is due.
  void Tick(const std::set<int>& changed) {
    const auto now = Clock::now();
    for (int n = 0; n < options_.nodes; ++n) {
      if (changed.contains(n) || now >= next_heartbeat_[n]) Report(n);
    }
  }

  // Node `n` changes one of its endpoints' counts by ±1 (never below 1).
  const Held& Change(int n, std::mt19937& random) {
    Held& h = held_[n][random() % held_[n].size()];
    h.connections = h.connections <= 1 || random() % 2 ? h.connections + 1 : h.connections - 1;
    return h;
  }

  // The sum over every node for one endpoint: what every subscriber must end up holding.
  std::uint64_t Truth(int service, int endpoint) const {
    std::uint64_t sum = 0;
    for (const auto& node : held_) {
      for (const Held& h : node) {
        if (h.service == service && h.endpoint == endpoint) sum += h.connections;
      }
    }
    return sum;
  }

  void Report(int n) {
    lrs_[n]->Send(BuildReport(n));
    if (interval_.count() > 0) next_heartbeat_[n] = Clock::now() + interval_;
  }

  LoadStatsRequest BuildReport(int n) const {
    LoadStatsRequest request;
    // Agents send the node on every report; the server reads it from the first.
    request.mutable_node()->set_id(NodeId(n));
    request.mutable_node()->set_user_agent_name("skewless-agent");
    request.mutable_node()->mutable_locality()->set_zone("zone-" + std::to_string(n % 3));
    std::map<int, std::map<int, std::vector<const Held*>>> grouped;  // service → zone → held
    for (const Held& h : held_[n]) grouped[h.service][h.endpoint % 3].push_back(&h);
    for (const auto& [service, zones] : grouped) {
      auto& cluster = *request.add_cluster_stats();
      cluster.set_cluster_name(ClusterOf(service));
      cluster.mutable_load_report_interval()->set_seconds(interval_.count() / 1000);
      for (const auto& [zone, held] : zones) {
        auto& locality = *cluster.add_upstream_locality_stats();
        locality.mutable_locality()->set_zone("zone-" + std::to_string(zone));
        std::uint64_t total = 0;
        for (const Held* h : held) {
          auto& stats = *locality.add_upstream_endpoint_stats();
          auto& socket = *stats.mutable_address()->mutable_socket_address();
          socket.set_address(PodIp(h->service, h->endpoint));
          socket.set_port_value(kPort);
          stats.set_total_requests_in_progress(h->connections);
          total += h->connections;
        }
        locality.set_total_requests_in_progress(total);
        locality.set_total_active_connections(total);
      }
    }
    return request;
  }

  // What a real agent sends instead: it reports every endpoint it steers (every cluster's,
  // zeros included), so its report grows with the cluster, not with what it holds.
  std::size_t FullReportBytes() const {
    LoadStatsRequest request;
    request.mutable_node()->set_id(NodeId(0));
    request.mutable_node()->set_user_agent_name("skewless-agent");
    for (int s = 0; s < options_.services; ++s) {
      auto& cluster = *request.add_cluster_stats();
      cluster.set_cluster_name(ClusterOf(s));
      cluster.mutable_load_report_interval()->set_seconds(5);
      for (int zone = 0; zone < std::min(3, options_.endpoints); ++zone) {
        auto& locality = *cluster.add_upstream_locality_stats();
        locality.mutable_locality()->set_zone("zone-" + std::to_string(zone));
        for (int e = zone; e < options_.endpoints; e += 3) {
          auto& socket =
              *locality.add_upstream_endpoint_stats()->mutable_address()->mutable_socket_address();
          socket.set_address(PodIp(s, e));
          socket.set_port_value(kPort);
        }
      }
    }
    return request.ByteSizeLong();
  }

  LrsNode& reporter(int n) { return *lrs_[n]; }
  const std::vector<int>& SubscribersOf(const std::string& cluster) {
    static const std::vector<int> none;
    auto it = subscribed_by_.find(cluster);
    return it == subscribed_by_.end() ? none : it->second;
  }
  Seen& seen() { return seen_; }
  std::uint64_t ResponsesToAll() const {
    std::uint64_t least = UINT64_MAX;
    for (const auto& s : subscribers_) least = std::min(least, s->responses());
    return subscribers_.empty() ? 0 : least;
  }
  // {LRS bytes out, LRS bytes in, ADS bytes out, ADS bytes in}, summed over every stream.
  std::array<std::uint64_t, 4> Bytes() const {
    std::array<std::uint64_t, 4> sum{};
    for (const Traffic& t : lrs_traffic_) sum[0] += t.out, sum[1] += t.in;
    for (const Traffic& t : ads_traffic_) sum[2] += t.out, sum[3] += t.in;
    return sum;
  }

 private:
  const Options options_;
  std::vector<std::vector<Held>> held_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<envoy::service::load_stats::v3::LoadReportingService::Stub>>
      lrs_stubs_;
  std::vector<std::unique_ptr<envoy::service::discovery::v3::AggregatedDiscoveryService::Stub>>
      ads_stubs_;
  std::vector<std::unique_ptr<LrsNode>> lrs_;
  std::vector<std::unique_ptr<LoadSubscriber>> subscribers_;
  std::vector<Traffic> lrs_traffic_;
  std::vector<Traffic> ads_traffic_;
  std::map<std::string, std::vector<int>> subscribed_by_;
  std::vector<Clock::time_point> next_heartbeat_;
  std::chrono::milliseconds interval_{0};
  Seen seen_;
};

// One counter or gauge from the control plane's /metrics (summed over its labels).
double Metric(int http_port, const std::string& name) {
  httplib::Client client("127.0.0.1", http_port);
  auto response = client.Get("/metrics");
  if (!response || response->status != 200) return -1;
  std::istringstream lines(response->body);
  double sum = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

constexpr auto kTick = std::chrono::milliseconds(250);  // the agents' change interval

// Runs the fleet for `seconds`, `churn` of the nodes changing one count per second, and
// measures the control plane and the traffic over that time.
nlohmann::json Phase(Fleet& fleet, skewless::bench::ControlPlane& cp, const Options& options,
                     double churn, double seconds, std::mt19937& random) {
  const auto bytes_before = fleet.Bytes();
  const double reports_before = Metric(cp.http_port(), "skewless_controlplane_lrs_reports_total");
  const double publishes_before =
      Metric(cp.http_port(), "skewless_controlplane_cluster_load_publishes_total");
  const double cpu_before = cp.daemon().CpuSeconds();
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  // Changes per tick, as a running fraction so that 2.5 a tick is 5 every other tick.
  const double per_tick = churn * options.nodes * std::chrono::duration<double>(kTick).count();
  double owed = 0;
  std::uint64_t changes = 0;
  for (auto tick = start; tick < end; tick += kTick) {
    std::this_thread::sleep_until(tick);
    std::set<int> changed;
    for (owed += per_tick; owed >= 1; owed -= 1) {
      const int n = static_cast<int>(random() % options.nodes);
      fleet.Change(n, random);
      changed.insert(n);
      ++changes;
    }
    fleet.Tick(changed);
  }
  std::this_thread::sleep_until(end);
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = cp.daemon().CpuSeconds() - cpu_before;
  const auto bytes = fleet.Bytes();
  const auto [rss, hwm] = cp.daemon().MemoryKiB();
  const double per_node = wall * options.nodes;
  const double per_subscriber = wall * std::max(1, options.subscribers);
  return {
      {"seconds", wall},
      {"changes", changes},
      {"cpu_share", cpu / wall},
      {"rss_kib", rss},
      {"hwm_kib", hwm},
      {"reports_per_s",
       (Metric(cp.http_port(), "skewless_controlplane_lrs_reports_total") - reports_before) / wall},
      {"publishes_per_s",
       (Metric(cp.http_port(), "skewless_controlplane_cluster_load_publishes_total") -
        publishes_before) /
           wall},
      {"lrs_out_bps", static_cast<double>(bytes[0] - bytes_before[0]) / per_node},
      {"lrs_in_bps", static_cast<double>(bytes[1] - bytes_before[1]) / per_node},
      {"ads_out_bps", static_cast<double>(bytes[2] - bytes_before[2]) / per_subscriber},
      {"ads_in_bps", static_cast<double>(bytes[3] - bytes_before[3]) / per_subscriber}};
}

// One node changes one count and reports at once; the time until every subscriber of that
// cluster holds the new sum. Heartbeats go on meanwhile; no other node changes.
nlohmann::json Latency(Fleet& fleet, const Options& options, std::mt19937& random) {
  std::vector<double> ms;
  std::vector<double> fanout;
  int skipped = 0;
  for (int k = 0; static_cast<int>(ms.size()) < options.changes; ++k) {
    if (skipped > options.changes * 20) throw std::runtime_error("no subscribed clusters");
    const int n = static_cast<int>(random() % options.nodes);
    // A random phase against the publisher's interval, and time for the heartbeats.
    const auto pause = std::chrono::milliseconds(100 + random() % 250);
    const auto resume = Clock::now() + pause;
    while (Clock::now() < resume) {
      fleet.Tick({});
      std::this_thread::sleep_for(std::min<Clock::duration>(kTick, resume - Clock::now()));
    }
    const Held& h = fleet.Change(n, random);
    const std::string cluster = ClusterOf(h.service);
    const std::vector<int>& who = fleet.SubscribersOf(cluster);
    if (who.empty()) {  // nobody sampled steers it: report it, time another
      fleet.Report(n);
      ++skipped;
      continue;
    }
    const std::uint64_t expected = fleet.Truth(h.service, h.endpoint);
    const auto t0 = Clock::now();
    fleet.Report(n);
    auto arrived = fleet.seen().AwaitAll(who, cluster, PodIp(h.service, h.endpoint), expected,
                                         std::chrono::seconds(10));
    if (!arrived) throw std::runtime_error("a change did not reach every subscriber in 10 s");
    ms.push_back(Ms(*arrived - t0));
    if (ms.back() > 1000) {  // a tail worth explaining: was it our write or the fan-out?
      const auto [writes, at] = fleet.reporter(n).writes_done();
      Say("slow change: " + std::to_string(static_cast<long>(ms.back())) + " ms to " +
          std::to_string(who.size()) + " subscribers; the report's write completed after " +
          std::to_string(static_cast<long>(Ms(at - t0))) + " ms (" + std::to_string(writes) +
          " writes)");
    }
    fanout.push_back(static_cast<double>(who.size()));
  }
  nlohmann::json out = skewless::bench::Summary(ms);
  out["subscribers_per_change_mean"] =
      fanout.empty() ? 0 : std::accumulate(fanout.begin(), fanout.end(), 0.0) / fanout.size();
  return out;
}

nlohmann::json Run(const std::string& controlplane, const Options& options) {
  const std::string work_dir = "/tmp/skewless-lrs-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(work_dir);
  auto api = skewless::testing::FakeApiServer::Start();
  if (!api.ok()) throw std::runtime_error(std::string(api.status().message()));
  Say("simulated API: " + std::to_string(options.services) + " services x " +
      std::to_string(options.endpoints) + " endpoints");
  skewless::bench::Populate(**api, options.services, options.endpoints);
  std::ostringstream publish;
  publish << options.publish_interval;
  skewless::bench::ControlPlane cp(controlplane, (*api)->url(), work_dir,
                                   {"--plaintext", "--load-publish-interval", publish.str()});
  if (!cp.AwaitReady(std::chrono::seconds(120))) {
    throw std::runtime_error("control plane not ready:\n" + cp.daemon().Log());
  }
  const auto [idle_rss, idle_hwm] = cp.daemon().MemoryKiB();
  nlohmann::json out = {
      {"nodes", options.nodes},
      {"services", options.services},
      {"endpoints", options.services * options.endpoints},
      {"subscribers", options.subscribers},
      {"endpoints_per_node", std::min(options.services_per_node, options.services) *
                                 std::min(options.endpoints_per_service, options.endpoints)},
      {"publish_interval_s", options.publish_interval},
      {"churn_per_s", options.churn},
      {"framing_bytes_per_message", kFramingBytes},
      {"rss_idle_kib", idle_rss}};
  std::mt19937 random(7);
  {
    Fleet fleet(options, cp.xds_port());
    out["full_agent_report_bytes"] = fleet.FullReportBytes();
    Say("opening " + std::to_string(options.nodes) + " LRS streams");
    fleet.OpenReporters();
    const auto interval = fleet.AwaitInterval(std::chrono::seconds(60));
    out["lrs_interval_s"] = interval.count() / 1000.0;
    fleet.StartHeartbeats(interval);
    Say("opening " + std::to_string(options.subscribers) + " ADS subscribers");
    fleet.OpenSubscribers();
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (fleet.ResponsesToAll() == 0) {
      if (Clock::now() > deadline) throw std::runtime_error("not every subscriber got its loads");
      fleet.Tick({});
      std::this_thread::sleep_for(kTick);
    }
    // A full heartbeat round before measuring, so every node is on its own schedule.
    Phase(fleet, cp, options, 0, std::chrono::duration<double>(interval).count() + 1, random);
    Say("steady state: heartbeats only, " + std::to_string(options.seconds) + " s");
    out["steady"] = Phase(fleet, cp, options, 0, options.seconds, random);
    Say("churn: " + std::to_string(options.churn * 100) + "% of nodes change a count per second");
    out["churn"] = Phase(fleet, cp, options, options.churn, options.seconds, random);
    Say("latency: " + std::to_string(options.changes) + " changes");
    out["latency"] = Latency(fleet, options, random);
    const auto [rss, hwm] = cp.daemon().MemoryKiB();
    out["hwm_kib"] = hwm;
    Say("closing the streams");
  }
  cp.daemon().Stop();
  std::filesystem::remove_all(work_dir);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "skewless-lrs-bench: many simulated nodes report their connections over LRS to a real "
      "skewless-controlplane and subscribe to the ClusterLoads of the clusters they steer. "
      "Measures the control plane's CPU and memory (heartbeats only, then churn), bytes per "
      "agent, and change-to-every-subscriber latency. Prints JSON."};
  std::string controlplane;
  Options options;
  app.add_option("--controlplane", controlplane, "Path to skewless-controlplane")->required();
  app.add_option("--nodes", options.nodes, "Simulated nodes, one LRS stream each")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--services", options.services, "Services in the cluster (one Cluster each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  app.add_option("--endpoints", options.endpoints, "Endpoints per Service")
      ->capture_default_str()
      ->check(CLI::Range(1, 254));
  app.add_option("--subscribers", options.subscribers,
                 "Nodes (an even sample) that also hold a delta ADS stream subscribed to the "
                 "ClusterLoads of their clusters; at most --nodes (the latency is timed "
                 "at them)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--services-per-node", options.services_per_node,
                 "Services each node holds connections to (and steers)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--endpoints-per-service", options.endpoints_per_service,
                 "Endpoints of each such Service a node holds connections to (1-4 each)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--seconds", options.seconds,
                 "Length of each measured phase (steady state, churn)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--changes", options.changes,
                 "Single load changes timed from report to every subscriber")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--churn", options.churn,
                 "Share of nodes changing one endpoint's count each second in the churn phase")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--load-publish-interval", options.publish_interval,
                 "Passed to the control plane: seconds between ClusterLoad publications")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  options.subscribers = std::min(options.subscribers, options.nodes);
  signal(SIGPIPE, SIG_IGN);
  try {
    std::cout << Run(controlplane, options).dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "skewless-lrs-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
