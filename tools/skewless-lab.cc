// skewless-lab: a simulated Kubernetes node on this machine (see docs/lab.md).
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "skewless/common/cli.h"
#include "skewless/lab/cleanup.h"
#include "skewless/lab/node.h"
#include "skewless/lab/scenario.h"
#include "skewless/lab/shipped_path.h"
#include "skewless/lab/signals.h"

namespace {

using skewless::lab::LabConfig;

// Exit codes: 0 ok, 1 the run failed, 2 bad flags, 3 interrupted (Ctrl-C/SIGTERM).
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 3;

struct Flags {
  LabConfig config;
  int pods = 0;
  std::string zones = "zone-a,zone-b,zone-c";
  std::string pods_per_zone;
  std::vector<std::string> slow_pods;
  std::string client_zones;
  std::string dataplane = "iptables";
  std::string workload = "grpc";
  std::string duration = "10s";
  std::string client_stagger = "0s";
  std::string max_connection_age = "0s";
  std::string add_pod_at;
  std::string remove_pod_at;
  std::string slow_start_window = "0s";
  std::string state_dir = skewless::lab::kDefaultStateDir;
  std::string output = "table";
  std::string save;
  // One of each per subcommand: whether the user gave them, for the conflict check.
  std::vector<CLI::Option*> clients_options;
  std::vector<CLI::Option*> clients_per_node_options;
};

void AddNodeFlags(CLI::App* app, Flags& f) {
  app->add_option("--id", f.config.id,
                  "Run id naming every resource (netns skl-<id>-*, cgroup skewless-lab-<id>); "
                  "1-8 of [a-z0-9]; random when omitted");
  app->add_option("--zones", f.zones, "Comma-separated zone names (topology.kubernetes.io/zone)")
      ->capture_default_str();
  app->add_option("--pods", f.pods,
                  "Total pods, spread over the zones in order (ignored with --pods-per-zone); "
                  "default 2 per zone");
  app->add_option("--pods-per-zone", f.pods_per_zone,
                  "Pods in each zone, comma-separated in --zones order, e.g. 3,2,1");
  app->add_option("--slow-pod", f.slow_pods,
                  "Make a pod slower: NAME=FACTOR multiplies its service time (repeatable), "
                  "e.g. pod-2=10");
  app->add_option("--nodes-per-zone", f.config.nodes_per_zone,
                  "Simulated nodes in each zone, each with its own client namespace and cgroup "
                  "(and, for the skewless dataplanes, its own skewless-agent); pods are spread "
                  "over their zone's nodes")
      ->capture_default_str();
  f.clients_options.push_back(
      app->add_option("--clients", f.config.clients,
                      "Persistent gRPC client connections (one channel each) in "
                      "total, spread over the client nodes")
          ->capture_default_str());
  f.clients_per_node_options.push_back(
      app->add_option("--clients-per-node", f.config.clients_per_node,
                      "Persistent gRPC client connections on every node of the client zones "
                      "(instead of a --clients total), e.g. 1 for many lightly loaded nodes"));
  app->add_option("--client-zones", f.client_zones,
                  "Zones that run clients, comma-separated; default: every zone");
  app->add_option("--dataplane", f.dataplane,
                  "How clients reach the Service VIP: iptables or nftables (kube-proxy's modes), "
                  "skewless (the shipped path: skewless-controlplane on the lab's cluster file, "
                  "a skewless-agent per node programming its BPF connect hooks), skewless-l7 "
                  "(the same, the hooks sending the gRPC port to a skewless-splicer per node, "
                  "which balances every call), or none")
      ->capture_default_str();
  app->add_option("--workload", f.workload,
                  "What the pods serve and the clients hold: grpc (persistent gRPC channels, "
                  "calls multiplexed over each) or websocket (long-lived WebSocket connections "
                  "on the Service port, messages echoed, python3-websockets on both sides; "
                  "HTTP/1.1, so not with --dataplane skewless-l7). With websocket, --rate is "
                  "messages/s and --concurrency the messages in flight per connection when "
                  "--rate is 0")
      ->check(CLI::IsMember({"grpc", "websocket"}))
      ->capture_default_str();
  app->add_option("--traffic-distribution", f.config.traffic_distribution,
                  "The Service's spec.trafficDistribution: PreferClose, PreferSameZone or "
                  "PreferSameNode (applied by the skewless dataplane); default none");
  app->add_option("--lb-policy", f.config.lb_policy,
                  "How the skewless dataplanes choose a pod inside a zone tier: least-loaded "
                  "(the product's default: the cheapest pod of a tier of up to 16, P2C above), "
                  "least-request (the cheaper of two random pods) or random (uniform, load "
                  "ignored, as kube-proxy), for A/B runs")
      ->capture_default_str();
  app->add_option("--cluster-load", f.config.cluster_load,
                  "true: the skewless dataplanes' agents report their connections over LRS and "
                  "weigh every node's (cluster-wide); false: each node weighs only its own "
                  "(node-local)")
      ->capture_default_str();
  app->add_option("--client-stagger", f.client_stagger,
                  "Time between the client nodes' starts, in a random order (a rollout); e.g. "
                  "1s. Default 0: every client at once, which no node's view of the others "
                  "can balance");
  app->add_option("--agent-flag", f.config.agent_flags,
                  "Extra flag for every skewless-agent of the skewless dataplanes, verbatim "
                  "(repeatable; e.g. a switch the lab does not model)");
  app->add_option("--controlplane-flag", f.config.controlplane_flags,
                  "Extra flag for the skewless-controlplane of the skewless dataplanes, verbatim "
                  "(repeatable)");
  app->add_option("--vip", f.config.service_vip, "The Service's ClusterIP")->capture_default_str();
  app->add_option("--port", f.config.service_port, "The Service (and pod) port")
      ->capture_default_str();
  app->add_option("--service-time-us", f.config.service_time_us,
                  "Time each pod takes per request, in microseconds (a sleep, not CPU)")
      ->capture_default_str();
  app->add_option("--state-dir", f.state_dir,
                  "Where run records and child logs live (cleanup reads it)")
      ->capture_default_str();
}

void AddWorkloadFlags(CLI::App* app, Flags& f) {
  app->add_option("--concurrency", f.config.concurrency,
                  "Outstanding RPCs per client connection (closed loop)")
      ->capture_default_str();
  app->add_option("--rate", f.config.rate,
                  "Total RPCs per second across all clients; 0 runs closed-loop")
      ->capture_default_str();
  app->add_option("--duration", f.duration, "How long to drive load, e.g. 10s, 1500ms, 1m")
      ->capture_default_str();
  app->add_option("-o,--output", f.output, "Report format: table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app->add_option("--save", f.save,
                  "Also write the report(s) as JSON to this file (`make demo` draws its chart, "
                  "scripts/demo_chart.py, from the demo's)");
}

void AddChangeFlags(CLI::App* app, Flags& f) {
  app->add_option("--max-connection-age", f.max_connection_age,
                  "Churn: every client connection is closed and a new one dialled (through the "
                  "dataplane again) after this long, +-10%, as gRPC's MaxConnectionAge makes "
                  "clients do; e.g. 4s. Default 0: connections last the whole run")
      ->capture_default_str();
  app->add_option("--add-pod-at", f.add_pod_at,
                  "D[,ZONE]: a new pod joins D into the measured period, in ZONE (default the "
                  "first zone): its server starts, then it is listed as ready (the EndpointSlice "
                  "and kube-proxy's rules); e.g. 2s,zone-b");
  app->add_option("--remove-pod-at", f.remove_pod_at,
                  "D[,NAME]: pod NAME (default pod-0) is unlisted D into the measured period and "
                  "its server stopped (SIGTERM, GOAWAY); its clients reconnect; e.g. 3s,pod-2");
  app->add_option("--slow-start-window", f.slow_start_window,
                  "The skewless agents' slow start: a new pod's cost is raised at first and "
                  "eases over this window, e.g. 2s. Default 0: the agents' own default (none)")
      ->capture_default_str();
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text,
                                                        const std::string& flag = "--duration") {
  double value = 0;
  absl::string_view unit;
  size_t split = text.find_first_not_of("0123456789.");
  if (split == std::string::npos || split == 0 ||
      !absl::SimpleAtod(text.substr(0, split), &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", text, "' is not a duration like 10s, 1500ms or 2m"));
  }
  unit = absl::string_view(text).substr(split);
  double ms = unit == "ms" ? value : unit == "s" ? value * 1e3 : unit == "m" ? value * 60e3 : -1;
  if (ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": unknown unit '", unit, "' (use ms, s or m)"));
  }
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

// Turns the string flags into the config; errors name the flag.
absl::Status Finish(Flags& f) {
  LabConfig& c = f.config;
  const auto given = [](const std::vector<CLI::Option*>& options) {
    return std::any_of(options.begin(), options.end(),
                       [](const CLI::Option* o) { return o->count() > 0; });
  };
  if (given(f.clients_options) && given(f.clients_per_node_options)) {
    return absl::InvalidArgumentError(
        "--clients and --clients-per-node conflict: give a total (--clients) or a count per "
        "node (--clients-per-node), not both");
  }
  c.zones = absl::StrSplit(f.zones, ',', absl::SkipEmpty());
  if (!f.pods_per_zone.empty()) {
    c.pods_per_zone.clear();
    for (auto part : absl::StrSplit(f.pods_per_zone, ',')) {
      int n = 0;
      if (!absl::SimpleAtoi(part, &n)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--pods-per-zone: '", part, "' is not a number"));
      }
      c.pods_per_zone.push_back(n);
    }
  } else {
    int total = f.pods > 0 ? f.pods : 2 * static_cast<int>(c.zones.size());
    if (f.pods < 0) return absl::InvalidArgumentError("--pods: must be at least 1");
    c.pods_per_zone.assign(c.zones.size(), 0);
    for (int i = 0; i < total && !c.zones.empty(); ++i) ++c.pods_per_zone[i % c.zones.size()];
  }
  for (const auto& slow : f.slow_pods) {
    std::pair<std::string, std::string> kv = absl::StrSplit(slow, absl::MaxSplits('=', 1));
    double factor = 0;
    if (kv.first.empty() || !absl::SimpleAtod(kv.second, &factor)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--slow-pod: '", slow, "' is not NAME=FACTOR (e.g. pod-2=10)"));
    }
    c.slow_pods.emplace_back(kv.first, factor);
  }
  c.client_zones = absl::StrSplit(f.client_zones, ',', absl::SkipEmpty());
  auto dataplane = skewless::lab::ParseDataplane(f.dataplane);
  if (!dataplane.ok()) return dataplane.status();
  c.dataplane = *dataplane;
  auto workload = skewless::lab::ParseWorkload(f.workload);
  if (!workload.ok()) return workload.status();
  c.workload = *workload;
  auto duration = ParseDuration(f.duration);
  if (!duration.ok()) return duration.status();
  c.duration = *duration;
  auto stagger = ParseDuration(f.client_stagger, "--client-stagger");
  if (!stagger.ok()) return stagger.status();
  c.client_stagger = *stagger;
  auto age = ParseDuration(f.max_connection_age, "--max-connection-age");
  if (!age.ok()) return age.status();
  c.max_connection_age = *age;
  auto slow_start = ParseDuration(f.slow_start_window, "--slow-start-window");
  if (!slow_start.ok()) return slow_start.status();
  c.slow_start_window = *slow_start;
  // D[,WHAT]: the time, then the zone (added) or the pod (removed).
  const auto time_and_name = [](const std::string& text, const std::string& flag,
                                std::chrono::milliseconds& at, std::string& name) -> absl::Status {
    if (text.empty()) return absl::OkStatus();
    std::pair<std::string, std::string> parts = absl::StrSplit(text, absl::MaxSplits(',', 1));
    auto parsed = ParseDuration(parts.first, flag);
    if (!parsed.ok()) return parsed.status();
    if (parsed->count() <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": the time must be > 0"));
    }
    at = *parsed;
    name = parts.second;
    return absl::OkStatus();
  };
  if (auto s = time_and_name(f.add_pod_at, "--add-pod-at", c.add_pod_at, c.add_pod_zone); !s.ok()) {
    return s;
  }
  if (auto s = time_and_name(f.remove_pod_at, "--remove-pod-at", c.remove_pod_at, c.remove_pod);
      !s.ok()) {
    return s;
  }
  return skewless::lab::Plan(c).status();
}

void Progress(const std::string& line) { std::cerr << line << std::endl; }

int Fail(const absl::Status& status) {
  std::cerr << "skewless-lab: " << status.message() << std::endl;
  return absl::IsInvalidArgument(status) || absl::IsAlreadyExists(status) ? kExitUsage
                                                                          : kExitFailed;
}

int Up(Flags& f) {
  auto& stop = skewless::lab::StopSignal::Install();
  skewless::lab::NodeOptions options;
  options.state_dir = f.state_dir;
  options.progress = Progress;
  options.stop = &stop;
  auto node = skewless::lab::Node::Create(f.config, options);
  if (!node.ok() && stop.requested()) {
    std::cerr << "skewless-lab: interrupted; everything the run created was removed" << std::endl;
    return kExitInterrupted;
  }
  if (!node.ok()) return Fail(node.status());
  const auto& plan = (*node)->plan();
  std::cout << "READY " << plan.id << std::endl;
  std::cerr << "lab " << plan.id << " is up: Service " << f.config.service_vip << ":"
            << f.config.service_port << " (" << skewless::lab::DataplaneName(f.config.dataplane)
            << ") over " << plan.pods.size() << " pods\n";
  for (const auto& pod : plan.pods) {
    std::cerr << "  " << pod.name << "  " << pod.zone << "  " << pod.ip << "  netns "
              << skewless::lab::PodNetns(plan.id, pod.name) << "\n";
  }
  for (const auto& client : plan.clients) {
    std::cerr << "  node " << client.node << "  " << client.zone << "  " << client.connections
              << " client(s)  netns " << skewless::lab::ClientNetns(plan.id, client.node)
              << "  cgroup " << (*node)->NodeCgroup(client.node) << "\n";
    if (!(*node)->cluster_document_path().empty()) {
      std::cerr << "    skewless-agent pins " << (*node)->PinDir(client.node)
                << "  (skewlessctl --pin-dir)\n";
    }
  }
  if (!(*node)->cluster_document_path().empty()) {
    std::cerr << "  skewless-controlplane " << skewless::lab::kControlPlaneXdsAddress
              << " in netns " << skewless::lab::NodeNetns(plan.id) << ", serving "
              << (*node)->cluster_document_path() << "; logs in " << (*node)->log_dir() << "\n";
  }
  std::cerr << "Ctrl-C (or SIGTERM) tears it down." << std::endl;
  while (stop.SleepFor(std::chrono::hours(1))) {
  }
  Progress(absl::StrCat("lab ", plan.id, ": tearing down"));
  auto status = (*node)->Destroy();
  if (!status.ok()) return Fail(status);
  return 0;  // a requested stop is how `up` is meant to end
}

int Run(Flags& f, bool demo) {
  auto& stop = skewless::lab::StopSignal::Install();
  skewless::lab::ScenarioOptions options;
  options.state_dir = f.state_dir;
  options.progress = Progress;
  options.json = f.output == "json";
  options.save_path = f.save;
  absl::Status status = demo ? skewless::lab::RunDemo(f.config, options, stop, std::cout)
                             : skewless::lab::RunScenario(f.config, options, stop, std::cout);
  if (stop.requested()) {
    std::cerr << "skewless-lab: interrupted; everything the run created was removed" << std::endl;
    return kExitInterrupted;
  }
  return status.ok() ? 0 : Fail(status);
}

int Cleanup(const Flags& f, bool force, const std::string& id) {
  if (geteuid() != 0) return Fail(absl::PermissionDeniedError("cleanup needs root"));
  auto report = skewless::lab::CleanupRuns(f.state_dir, force, id);
  for (const auto& removed : report.removed) std::cout << "removed lab run " << removed << "\n";
  for (const auto& skipped : report.skipped) {
    std::cout << "skipped lab run " << skipped
              << ": its skewless-lab process is still running (stop it, or use --force)\n";
  }
  for (const auto& failure : report.failures) std::cerr << "cleanup failed: " << failure << "\n";
  if (report.removed.empty() && report.skipped.empty() && report.failures.empty()) {
    std::cout << "nothing to clean up in " << f.state_dir << "\n";
  }
  return report.failures.empty() ? 0 : kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "skewless-lab: a Kubernetes cluster simulated on this machine. Pods are network\n"
      "namespaces on a bridge, each running a real gRPC server, labelled with zones; each\n"
      "simulated node has its own client namespace and cgroup, whose clients hold persistent\n"
      "gRPC channels to a ClusterIP programmed the way kube-proxy does it, or by skewless's\n"
      "shipped control plane and one agent per node. --workload websocket holds long-lived\n"
      "WebSocket connections instead (python3-websockets on both sides).\n"
      "Exit codes: 0 ok, 1 the run failed, 2 bad flags, 3 interrupted."};
  app.require_subcommand(1);
  Flags flags;
  bool force = false;
  std::string cleanup_id;

  auto* demo = app.add_subcommand(
      "demo",
      "Show the skew and its fix: one workload through kube-proxy's iptables and nftables "
      "modes, skewless's connect hooks node-local (least-request) and cluster-wide "
      "(least-loaded), then skewless's HTTP/2 splicer (L7). Demo defaults: a realistic "
      "cluster of 4 nodes per zone with one client each, started 1 s apart, --duration 10s "
      "--rate 1200; no zone preference unless given");
  AddNodeFlags(demo, flags);
  AddWorkloadFlags(demo, flags);
  AddChangeFlags(demo, flags);
  auto* run = app.add_subcommand("run", "Build a node, drive the workload once, print the report");
  AddNodeFlags(run, flags);
  AddWorkloadFlags(run, flags);
  AddChangeFlags(run, flags);
  auto* up = app.add_subcommand("up", "Build a node and keep it until Ctrl-C (for poking at it)");
  AddNodeFlags(up, flags);
  auto* cleanup = app.add_subcommand(
      "cleanup", "Remove what crashed runs left (namespaces, cgroups, processes, records)");
  cleanup->add_option("--state-dir", flags.state_dir, "Where run records live")
      ->capture_default_str();
  cleanup->add_option("--id", cleanup_id, "Only this run");
  cleanup->add_flag("--force", force, "Also runs whose skewless-lab process is still alive");

  if (std::optional<int> exit_code = skewless::ParseFlags(app, argc, argv, kExitUsage)) {
    return *exit_code;
  }
  if (cleanup->parsed()) return Cleanup(flags, force, cleanup_id);
  if (absl::Status status = Finish(flags); !status.ok()) return Fail(status);
  if (up->parsed()) return Up(flags);
  if (run->parsed()) return Run(flags, false);
  if (demo->parsed()) {
    // The demo's defaults: the hard case of a real cluster (many nodes per zone, one
    // client each, arriving as a rollout), long enough to see the skew, a few minutes in
    // all. A fixed rate well under the generator's ceiling: each pod's share is then
    // exactly its share of connections, not blurred by two saturated cores.
    if (demo->get_option("--duration")->count() == 0)
      flags.config.duration = std::chrono::seconds(10);
    if (demo->get_option("--rate")->count() == 0) flags.config.rate = 1200;
    if (demo->get_option("--nodes-per-zone")->count() == 0) flags.config.nodes_per_zone = 4;
    const bool clients_given = demo->get_option("--clients")->count() > 0 ||
                               demo->get_option("--clients-per-node")->count() > 0;
    if (!clients_given) flags.config.clients_per_node = 1;
    if (demo->get_option("--client-stagger")->count() == 0) {
      flags.config.client_stagger = std::chrono::seconds(1);
    }
    if (absl::Status status = skewless::lab::Plan(flags.config).status(); !status.ok()) {
      return Fail(status);
    }
    return Run(flags, true);
  }
  return kExitUsage;
}
