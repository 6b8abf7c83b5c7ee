// A lab run: node, load generators in the client namespaces, merged report.
#include "skewless/lab/scenario.h"

#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "skewless/datapath/connect_observer.h"
#include "skewless/lab/node.h"
#include "skewless/lab/pod_changes.h"
#include "skewless/lab/websocket_report.h"
#include "skewless/loadgen/result_json.h"

namespace skewless::lab {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr char kLoadgenBinary[] = "skewless-loadgen";

void Say(const ScenarioOptions& options, const std::string& line) {
  if (options.progress) options.progress(line);
}

// The total rate is split like the connections, so every connection is offered the same
// load.
double ClientRate(const Node& node, const ClientSpec& client) {
  int total = 0;
  for (const auto& c : node.plan().clients) total += c.connections;
  return node.config().rate * client.connections / std::max(total, 1);
}

// `warmup`: load sent before the measured period, so clients started at different times
// (a stagger) all hold their connection through one common measured period.
std::vector<std::string> LoadgenArgv(const Node& node, const ClientSpec& client,
                                     milliseconds warmup) {
  const LabConfig& config = node.config();
  if (config.workload == Workload::kWebSocket) {
    return WebSocketLoadArgv(node.bin_dir(), config, client, ClientRate(node, client), warmup);
  }
  const double rate = ClientRate(node, client);
  return {node.bin_dir() + "/" + kLoadgenBinary,
          "--target",
          absl::StrCat(config.service_vip, ":", config.service_port),
          "--clients",
          std::to_string(client.connections),
          "--concurrency",
          std::to_string(config.concurrency),
          "--duration",
          absl::StrCat(config.duration.count(), "ms"),
          "--rate",
          absl::StrCat(rate),
          "--zone",
          client.zone,
          "--warmup",
          absl::StrCat(warmup.count(), "ms"),
          "--max-connection-age",
          absl::StrCat(config.max_connection_age.count(), "ms"),
          "--quiet"};
}

// One line per phase against kube-proxy's iptables mode (the first): how far from even the
// pods were, and how many clients were stuck on one pod.
void PrintVerdict(const std::vector<LabReport>& reports, std::ostream& out) {
  if (reports.empty()) return;
  const LabReport& base = reports.front();
  out << "\n== verdict ==\n";
  for (const LabReport& r : reports) {
    out << absl::StrFormat(
        "%-28s busiest pod %.2fx the mean%s, %d of %d clients on one pod, "
        "p99 %.2f ms%s\n",
        r.label, r.max_over_mean,
        &r == &base ? "" : absl::StrFormat(" (was %.2fx)", base.max_over_mean),
        r.clients_on_one_pod, r.clients, r.p99_ms,
        &r == &base ? "" : absl::StrFormat(" (was %.2f)", base.p99_ms));
  }
}

}  // namespace

absl::StatusOr<LabReport> RunOnce(const LabConfig& config, const ScenarioOptions& options,
                                  const StopSignal* stop) {
  NodeOptions node_options;
  node_options.state_dir = options.state_dir;
  node_options.bin_dir = options.bin_dir;
  node_options.progress = options.progress;
  node_options.stop = stop;
  auto node_or = Node::Create(config, node_options);
  if (!node_or.ok()) return node_or.status();
  Node& node = **node_or;
  const char* mode = DataplaneName(config.dataplane);

  // Count, in BPF, every connect() the clients make to the Service: the proof
  // that a gRPC client holds one connection, whatever its request count.
  auto observer = datapath::ConnectObserver::Attach(node.client_cgroup());
  if (!observer.ok()) {
    Say(options,
        absl::StrCat("warning: connect observer not attached (", observer.status().message(),
                     "); the report will not count connections"));
  }

  // With a stagger, the nodes start in a random order, one every client_stagger (a
  // rollout); each warms up until the last has started, so every connection is held
  // through the same measured period.
  std::vector<ClientSpec> starts = node.plan().clients;
  if (config.client_stagger.count() > 0) {
    std::shuffle(starts.begin(), starts.end(), std::mt19937(std::random_device{}()));
    Say(options, absl::StrFormat("[%s] starting %d client nodes %.1f s apart", mode, starts.size(),
                                 config.client_stagger.count() / 1e3));
  }
  std::vector<Child> loadgens;
  // The last node to start warms up for no time: its start is the measured period's.
  int64_t measure_start_unix_ms = UnixMillisNow();
  PodChanges changes(config, node.plan());
  for (std::size_t i = 0; i < starts.size(); ++i) {
    if (i > 0 && config.client_stagger.count() > 0) {
      if (stop != nullptr && stop->requested()) break;
      std::this_thread::sleep_for(config.client_stagger);
    }
    const ClientSpec& client = starts[i];
    const milliseconds warmup = config.client_stagger * static_cast<int>(starts.size() - 1 - i);
    auto child = node.SpawnClient(client.node, LoadgenArgv(node, client, warmup),
                                  absl::StrCat("loadgen-", client.node));
    if (!child.ok()) return child.status();
    loadgens.push_back(*std::move(child));
    measure_start_unix_ms = UnixMillisNow();
  }
  int connections = 0;
  for (const auto& client : node.plan().clients) connections += client.connections;
  Say(options, absl::StrFormat("[%s] %d persistent %s connections from %d client nodes -> "
                               "%s:%d, %d pods, %.0f s",
                               mode, connections,
                               config.workload == Workload::kWebSocket ? "WebSocket" : "gRPC",
                               loadgens.size(), config.service_vip, config.service_port,
                               node.plan().pods.size(), config.duration.count() / 1e3));

  // Progress until the generators finish; a stop request asks
  // them to end early (they still print what they measured).
  const auto start = Clock::now();
  const auto limit = config.duration + milliseconds(30000);  // from the last start
  bool stopping = false;
  for (;;) {
    bool all_done = true;
    for (auto& lg : loadgens) {
      pollfd fd{lg.stdout_fd(), POLLIN, 0};
      // Readable with nothing buffered = closed; results are one JSON blob at exit.
      if (poll(&fd, 1, 0) == 0) all_done = false;
    }
    if (all_done) break;
    if (!stopping) {
      const milliseconds into_measured(UnixMillisNow() - measure_start_unix_ms);
      const auto say = [&](const std::string& line) { Say(options, line); };
      if (auto status = changes.ApplyDue(node, into_measured, say); !status.ok()) {
        for (auto& lg : loadgens) lg.Signal(SIGTERM);
        return status;
      }
    }
    if (stop && stop->requested() && !stopping) {
      stopping = true;
      Say(options, absl::StrCat("[", mode, "] stopping early"));
      for (auto& lg : loadgens) lg.Signal(SIGTERM);
    }
    auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    if (elapsed > limit) {
      return absl::DeadlineExceededError(
          absl::StrCat("load generators still running ", limit.count() / 1000,
                       " s after start; log: ", loadgens[0].LogTail()));
    }
    // Every 5 s: visible progress on a long run without flooding a CI log.
    if (elapsed.count() % 5000 < 100 && !stopping) {
      Say(options, absl::StrFormat("[%s] %4.0f/%.0f s", mode,
                                   std::min<double>(elapsed.count(), config.duration.count()) / 1e3,
                                   config.duration.count() / 1e3));
    }
    std::this_thread::sleep_for(milliseconds(100));
  }

  loadgen::Result merged;
  WebSocketRun websocket;
  bool first = true;
  for (auto& lg : loadgens) {
    auto text = lg.ReadAll(milliseconds(10000));
    auto exit_code = lg.Wait(milliseconds(5000));
    if (!text.ok()) return text.status();
    auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) {
      return absl::DataLossError(absl::StrCat(lg.name(), " (exit ",
                                              exit_code.ok() ? *exit_code : -1,
                                              ") printed no result; log: ", lg.LogTail()));
    }
    if (config.workload == Workload::kWebSocket) {
      auto run = WebSocketRunFromJson(json);
      if (!run.ok()) return run.status();
      MergeWebSocketRuns(websocket, *run);
      continue;
    }
    auto result = loadgen::ResultFromJson(json);
    if (!result.ok()) return result.status();
    if (first) {
      merged = *std::move(result);
      first = false;
    } else {
      loadgen::MergeResults(merged, *result);
    }
  }
  auto counters = node.StopPods();
  if (!counters.ok()) return counters.status();
  if (config.workload == Workload::kWebSocket) merged = websocket.result;
  LabReport report = BuildReport(node.plan(), config, merged, *counters);
  AddChangeReport(node.plan(), config, merged, measure_start_unix_ms, changes.applied(), report);
  if (config.workload == Workload::kWebSocket) AddWebSocketFigures(websocket, report);
  if (observer.ok()) {
    auto counts = (*observer)->Counts();
    if (!counts.ok()) return counts.status();
    report.service_connects = 0;
    for (const auto& count : *counts) {
      if (count.dport != config.service_port) continue;
      // Under kube-proxy the clients dial the VIP; where a connect hook
      // rewrote the VIP first, the observer sees the chosen pod.
      bool to_service = count.daddr == config.service_vip;
      for (const auto& pod : node.plan().pods) to_service |= count.daddr == pod.ip;
      if (to_service) report.service_connects += static_cast<int64_t>(count.connects);
    }
  }
  Say(options, absl::StrCat("lab ", node.id(), ": tearing down"));
  if (auto status = node.Destroy(); !status.ok()) return status;
  return report;
}

absl::Status RunScenario(const LabConfig& config, const ScenarioOptions& options,
                         const StopSignal& stop, std::ostream& out) {
  auto report = RunOnce(config, options, &stop);
  if (!report.ok()) return report.status();
  if (!options.save_path.empty()) {
    std::ofstream saved(options.save_path);
    saved << ToJson(*report).dump(2) << std::endl;
    if (!saved) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot write the report to ", options.save_path));
    }
  }
  if (options.json) {
    out << ToJson(*report).dump(2) << std::endl;
  } else {
    PrintReport(*report, out);
  }
  return absl::OkStatus();
}

absl::Status RunDemo(const LabConfig& config, const ScenarioOptions& options,
                     const StopSignal& stop, std::ostream& out) {
  // The same workload five ways: kube-proxy's two modes; skewless's connect hooks with
  // each node counting only its own connections (P2C), then weighing every node's
  // (least-loaded); then skewless's splicer. No zone preference unless asked for: the
  // verdict must not need one.
  struct Phase {
    Dataplane dataplane;
    const char* id_suffix;
    bool cluster_load;
    const char* lb_policy;
  };
  std::vector<LabReport> reports;
  for (Phase p :
       {Phase{Dataplane::kIptables, "i", true, ""}, Phase{Dataplane::kNftables, "n", true, ""},
        Phase{Dataplane::kSkewless, "s", false, "least-request"},
        Phase{Dataplane::kSkewless, "c", true, "least-loaded"},
        Phase{Dataplane::kSkewlessL7, "l", true, ""}}) {
    // WebSocket is HTTP/1.1: the splicer has nothing to offer it (Plan() refuses the pair).
    if (config.workload == Workload::kWebSocket && p.dataplane == Dataplane::kSkewlessL7) {
      continue;
    }
    LabConfig phase = config;
    phase.dataplane = p.dataplane;
    phase.cluster_load = p.cluster_load;
    if (*p.lb_policy != '\0') phase.lb_policy = p.lb_policy;
    // Each phase builds its own node; a fixed --id would clash with itself.
    if (!phase.id.empty()) phase.id = (phase.id + p.id_suffix).substr(0, 8);
    auto report = RunOnce(phase, options, &stop);
    if (!report.ok()) return report.status();
    if (stop.requested()) return absl::CancelledError("interrupted");
    if (!options.json) PrintReport(*report, out);
    reports.push_back(*std::move(report));
  }
  nlohmann::json all = nlohmann::json::array();
  for (const auto& r : reports) all.push_back(ToJson(r));
  if (!options.save_path.empty()) {
    std::ofstream saved(options.save_path);
    saved << all.dump(2) << std::endl;
    if (!saved) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot write the reports to ", options.save_path));
    }
  }
  if (options.json) {
    out << all.dump(2) << std::endl;
    return absl::OkStatus();
  }
  out << "\n== side by side: the same clients, pods and load ==\n";
  PrintComparison(reports, out);
  out << "\nkube-proxy picks a pod at random once per TCP connection; gRPC keeps that\n"
         "connection, so a pod's load is however many clients happened to land on it.\n"
         "skewless's connect hook (L4) weighs the pods' connections: counting only its own\n"
         "node's (node-local), a node with one or two clients sees every pod idle and picks\n"
         "as randomly as kube-proxy; weighing every node's (cluster-wide: the agents report\n"
         "over LRS, the control plane sums and publishes), it fills the least-loaded pod.\n"
         "skewless L7 sends the gRPC port to the node's splicer, which picks a pod for every\n"
         "call: no client is tied to one pod however few connections there are.\n";
  PrintVerdict(reports, out);
  return absl::OkStatus();
}

}  // namespace skewless::lab
