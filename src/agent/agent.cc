// The agent process: data path, service sync, ADS client and HTTP endpoints together.
#include "skewless/agent/agent.h"

#include <malloc.h>

#include <chrono>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "skewless/agent/ads_client.h"
#include "skewless/agent/load_exchange.h"
#include "skewless/agent/service_sync.h"
#include "skewless/common/http_server.h"
#include "skewless/common/log.h"
#include "skewless/common/probe_routes.h"
#include "skewless/common/prometheus.h"
#include "skewless/datapath/splice_maps.h"
#include "skewless/datapath/steering.h"
#include "skewless/loadreport/lrs_client.h"

namespace skewless::agent {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

class AgentImpl final : public Agent, public AdsHandler {
 public:
  AgentImpl(const AgentConfig& config, std::unique_ptr<datapath::Steering> steering)
      : config_(config),
        steering_(std::move(steering)),
        table_(steering_->maps()),
        sync_(table_, SyncOptions{.node_name = config.node_name,
                                  .zone = config.zone,
                                  .slow_start_window_ms =
                                      static_cast<std::uint32_t>(config.slow_start_window.count()),
                                  .splicer_address = config.splicer_address,
                                  .splicer_mark = config.splicer_mark}),
        ready_(registry_.AddGauge("skewless_agent_ready",
                                  "1 once programs are attached and a complete state from the "
                                  "control plane is written to the maps.")),
        info_(registry_.AddGauge("skewless_agent_info", "Always 1; labels describe this agent.",
                                 {"node", "adopted"})),
        services_(registry_.AddGauge("skewless_agent_services",
                                     "Service entries in the maps (one per VIP and port).")),
        backends_(registry_.AddGauge("skewless_agent_backends", "Backends in the maps.")),
        clusters_(registry_.AddGauge("skewless_agent_clusters",
                                     "Clusters served by the control plane, by whether the data "
                                     "path steers them.",
                                     {"steered"})),
        map_operations_(registry_.AddCounter(
            "skewless_agent_map_operations_total",
            "BPF map writes and deletes, by kind (re-applying an unchanged state writes none).",
            {"op"})),
        apply_latency_(registry_.AddHistogram(
            "skewless_agent_apply_latency_seconds",
            "Time to apply one xDS response to the maps (decode, plan, write).",
            prometheus::LatencyBucketsSeconds())),
        ads_(AdsClientOptions{.servers = config.xds_servers,
                              .protocol = config.xds_protocol,
                              .node_name = config.node_name,
                              .zone = config.zone.value_or(""),
                              .tls = ControlPlaneTls(config),
                              .bearer_token_file = config.token_file,
                              .cluster_load = config.cluster_load_max_age.count() > 0},
             *this, registry_) {}

  ~AgentImpl() override { Shutdown(); }

  absl::Status Start() {
    info_.With({config_.node_name, steering_->adopted() ? "true" : "false"}).Set(1);
    Family<Gauge>& features_off = registry_.AddGauge(
        "skewless_agent_kernel_features_missing",
        "1 for each optional BPF feature this node's kernel lacks: that part of the data path "
        "is off (docs/datapath.md, Kernels).",
        {"feature"});
    for (const datapath::KernelFeature& feature : steering_->features_off()) {
      features_off.With({feature.name}).Set(1);
      log::Warn("kernel lacks an optional BPF feature; running without it",
                {{"feature", feature.name},
                 {"since", "Linux " + feature.since},
                 {"effect", feature.why}});
    }
    ready_.With({}).Set(0);
    apply_latency_.With({});
    if (steering_->adopted()) {
      // Keep the ids the running data path uses; nothing is written until the control
      // plane's complete state says what is stale.
      if (absl::Status recovered = table_.Recover(); !recovered.ok()) {
        return absl::InternalError(absl::StrCat("adopting the pinned maps: ", recovered.message()));
      }
    }
    UpdateGauges();
    StartLoadExchange();
    absl::StatusOr<std::unique_ptr<HttpServer>> http =
        HttpServer::Start(config_.http_listen, Routes(), "http_listen");
    if (!http.ok()) return http.status();
    http_ = *std::move(http);
    ads_.Start();
    return absl::OkStatus();
  }

  void Shutdown() override {
    std::call_once(shutdown_, [this] {
      if (lrs_) lrs_->Stop();
      ads_.Stop();
      if (load_) load_->Stop();
      if (http_) http_->Stop();
      if (config_.uninstall_on_stop) {
        absl::Status removed = steering_->Uninstall();
        if (!removed.ok()) {
          log::Error("uninstall on stop failed", {{"error", std::string(removed.message())}});
          return;
        }
        log::Info("agent stopped; data path detached and unpinned",
                  {{"pin_dir", steering_->pin_dir()}});
        return;
      }
      log::Info("agent stopped; the data path stays attached", {{"pin_dir", steering_->pin_dir()}});
    });
  }

  int http_port() const override { return http_ ? http_->port() : 0; }

  bool Ready() const override {
    std::lock_guard lock(mutex_);
    return sync_.State().synced;
  }

  // AdsHandler, on the ADS client's thread.
  void OnStreamStart(const std::string& /*server*/) override {
    {
      std::lock_guard lock(mutex_);
      sync_.BeginStream();
    }
    if (load_) load_->OnStreamStart();
  }
  void OnStreamEnd() override {
    if (load_) load_->OnStreamEnd();
  }
  absl::Status OnClusterLoads(const std::vector<skewless::load::v1::ClusterLoad>& updated,
                              const std::vector<std::string>& removed, bool full_state) override {
    if (!load_) return absl::OkStatus();
    return load_->OnClusterLoads(updated, removed, full_state);
  }
  absl::Status OnNodeInfo(const std::optional<skewless::agent::v1::NodeInfo>& info) override {
    absl::Status applied = Timed([&] { return sync_.OnNodeInfo(info); });
    RefreshLoadIfWritten();  // it may have completed the stream's state
    return applied;
  }
  absl::Status OnClusters(const std::vector<envoy::config::cluster::v3::Cluster>& updated,
                          const std::vector<std::string>& removed, bool full_state) override {
    absl::Status applied = Timed([&] { return sync_.OnClusters(updated, removed, full_state); });
    RefreshLoadIfWritten();
    return applied;
  }
  absl::Status OnAssignments(
      const std::vector<envoy::config::endpoint::v3::ClusterLoadAssignment>& updated,
      const std::vector<std::string>& removed) override {
    absl::Status applied = Timed([&] { return sync_.OnAssignments(updated, removed); });
    RefreshLoadIfWritten();
    return applied;
  }
  std::vector<std::string> EndpointSubscriptions() override {
    std::lock_guard lock(mutex_);
    return sync_.EndpointSubscriptions();
  }

 private:
  template <typename Apply>
  absl::Status Timed(Apply apply) {
    const auto start = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    absl::Status status = apply();
    apply_latency_.With({}).Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    UpdateGaugesLocked();
    // Decoding a large update leaves freed blocks that glibc keeps; the agent lives on
    // every node, so it hands them back (a few ms, only after an update).
    malloc_trim(0);
    return status;
  }

  // After an xDS update that wrote the maps, the programmed endpoints may have changed:
  // a backend that left gets its cluster_conns cleared now, a new one is reported. An
  // update that wrote nothing changed none of them, and skips the walk over every
  // endpoint.
  void RefreshLoadIfWritten() {
    if (!load_) return;
    {
      std::lock_guard lock(mutex_);
      const std::uint64_t writes = sync_.write_counts().total();
      if (writes == writes_at_load_refresh_) return;
      writes_at_load_refresh_ = writes;
    }
    load_->Refresh();
  }

  // Cluster-wide load needs the mmapped load map; without it (a kernel that cannot mmap
  // it) the agent steers on this node's counts alone, as before the feature.
  void StartLoadExchange() {
    if (!config_.load_reporting && config_.cluster_load_max_age.count() == 0) return;
    absl::StatusOr<std::unique_ptr<datapath::LoadCounters>> counters =
        datapath::LoadCounters::Open(steering_->pin_dir());
    if (!counters.ok()) {
      log::Warn("load reporting and cluster-wide load are off: the load map cannot be mapped",
                {{"error", std::string(counters.status().message())}});
      return;
    }
    counters_ = *std::move(counters);
    load_ = std::make_unique<LoadExchange>(
        *counters_,
        [this] {
          std::lock_guard lock(mutex_);
          return sync_.SteeredEndpoints();
        },
        config_.cluster_load_max_age, registry_);
    std::vector<std::uint32_t> adopted;
    {
      std::lock_guard lock(mutex_);
      adopted = table_.BackendIds();
    }
    load_->Start(adopted);
    if (!config_.load_reporting) return;
    lrs_ = std::make_unique<loadreport::LrsClient>(
        loadreport::LrsClientOptions{.servers = config_.xds_servers,
                                     .node_name = config_.node_name,
                                     .zone = config_.zone.value_or(""),
                                     .tls = ControlPlaneTls(config_),
                                     .bearer_token_file = config_.token_file,
                                     .change_interval = config_.load_report_change_interval},
        *load_, registry_);
    lrs_->Start();
  }

  void UpdateGauges() {
    std::lock_guard lock(mutex_);
    UpdateGaugesLocked();
  }

  void UpdateGaugesLocked() {
    const SyncState state = sync_.State();
    ready_.With({}).Set(state.synced ? 1 : 0);
    services_.With({}).Set(static_cast<double>(state.services));
    backends_.With({}).Set(static_cast<double>(state.backends));
    clusters_.With({"true"}).Set(static_cast<double>(state.steered_clusters));
    clusters_.With({"false"}).Set(static_cast<double>(state.clusters - state.steered_clusters));
    const datapath::MapWriteCounts& counts = sync_.write_counts();
    const std::pair<const char*, std::uint64_t> kinds[] = {
        {"backend_write", counts.backend_writes}, {"backend_delete", counts.backend_deletes},
        {"set_swap", counts.set_swaps},           {"set_delete", counts.set_deletes},
        {"service_write", counts.service_writes}, {"service_delete", counts.service_deletes},
        {"node_write", counts.node_writes}};
    for (const auto& [op, total] : kinds) {
      Counter& counter = map_operations_.With({op});
      if (total > counter.value()) counter.Increment(total - counter.value());
    }
  }

  std::vector<HttpRoute> Routes() {
    std::string degraded;
    for (const datapath::KernelFeature& feature : steering_->features_off()) {
      absl::StrAppend(&degraded, degraded.empty() ? "" : "; ", "no ", feature.name, " (Linux ",
                      feature.since, "+): ", feature.why);
    }
    std::vector<HttpRoute> routes = ProbeRoutes(
        registry_,
        [this] {
          if (Ready()) return std::string();
          return std::string(ads_.connected() ? "waiting for the control plane's complete state"
                                              : "no control plane reached yet");
        },
        degraded);
    routes.push_back(
        // Zone names are not in the maps (only their ids): skewlessctl reads them here.
        {"/debug/zones", [this] {
           std::lock_guard lock(mutex_);
           const SyncState state = sync_.State();
           nlohmann::json zones = nlohmann::json::object();
           for (const auto& [name, id] : state.zone_ids) zones[absl::StrCat(id)] = name;
           nlohmann::json body = {{"zones", zones},
                                  {"node", {{"name", config_.node_name}, {"zone", state.zone}}}};
           return HttpReply{.content_type = "application/json", .body = body.dump() + "\n"};
         }});
    routes.push_back(
        // Cluster names are not in the maps either: the splicer names the Services it
        // reports load for from here (VIP and port → cluster).
        {"/debug/clusters", [this] {
           nlohmann::json clusters = nlohmann::json::array();
           std::lock_guard lock(mutex_);
           for (const ClusterTarget& target : sync_.SteeredTargets()) {
             clusters.push_back(
                 {{"name", target.name}, {"vips", target.vips}, {"port", target.port}});
           }
           nlohmann::json body = {{"clusters", clusters}};
           return HttpReply{.content_type = "application/json", .body = body.dump() + "\n"};
         }});
    return routes;
  }

  const AgentConfig config_;
  std::unique_ptr<datapath::Steering> steering_;
  mutable std::mutex mutex_;  // guards table_ and sync_
  datapath::ServiceTable table_;
  ServiceSync sync_;
  prometheus::Registry registry_;
  Family<Gauge>& ready_;
  Family<Gauge>& info_;
  Family<Gauge>& services_;
  Family<Gauge>& backends_;
  Family<Gauge>& clusters_;
  Family<Counter>& map_operations_;
  Family<Histogram>& apply_latency_;
  std::uint64_t writes_at_load_refresh_ = 0;  // guarded by mutex_
  // Before ads_: the ADS thread calls into load_ until ads_ is stopped.
  std::unique_ptr<datapath::LoadCounters> counters_;
  std::unique_ptr<LoadExchange> load_;
  std::unique_ptr<loadreport::LrsClient> lrs_;
  AdsClient ads_;
  std::unique_ptr<HttpServer> http_;
  std::once_flag shutdown_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Agent>> Agent::Start(const AgentConfig& config) {
  if (absl::Status valid = ValidateAgentConfig(config); !valid.ok()) return valid;
  absl::StatusOr<std::unique_ptr<datapath::Steering>> steering =
      datapath::Steering::Start({.cgroup_path = config.cgroup, .pin_dir = config.pin_dir});
  if (!steering.ok()) {
    return absl::Status(steering.status().code(),
                        absl::StrCat("data path: ", steering.status().message()));
  }
  log::Info((*steering)->adopted() ? "adopted the running data path" : "data path attached",
            {{"cgroup", (*steering)->cgroup_path()}, {"pin_dir", (*steering)->pin_dir()}});
  auto agent = std::make_unique<AgentImpl>(config, *std::move(steering));
  if (absl::Status started = agent->Start(); !started.ok()) return started;
  return agent;
}

}  // namespace skewless::agent
