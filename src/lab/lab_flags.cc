// skewless-lab's flags (docs/lab.md): names, help, defaults and how the text given becomes
// a LabConfig.
#include "skewless/lab/lab_flags.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace skewless::lab {
namespace {

// "10s", "1500ms", "2m".
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

}  // namespace

void BindNodeFlags(CLI::App& app, LabFlags& f) {
  app.add_option("--id", f.config.id,
                 "Run id naming every resource (netns skl-<id>-*, cgroup skewless-lab-<id>); "
                 "1-8 of [a-z0-9]; random when omitted");
  app.add_option("--zones", f.zones, "Comma-separated zone names (topology.kubernetes.io/zone)")
      ->capture_default_str();
  app.add_option("--pods", f.pods,
                 "Total pods, spread over the zones in order (ignored with --pods-per-zone); "
                 "default 2 per zone");
  app.add_option("--pods-per-zone", f.pods_per_zone,
                 "Pods in each zone, comma-separated in --zones order, e.g. 3,2,1");
  app.add_option("--slow-pod", f.slow_pods,
                 "Make a pod slower: NAME=FACTOR multiplies its service time (repeatable), "
                 "e.g. pod-2=10");
  app.add_option("--nodes-per-zone", f.config.nodes_per_zone,
                 "Simulated nodes in each zone, each with its own client namespace and cgroup "
                 "(and, for the skewless dataplanes, its own skewless-agent); pods are spread "
                 "over their zone's nodes")
      ->capture_default_str();
  f.clients_options.push_back(
      app.add_option("--clients", f.config.clients,
                     "Persistent gRPC client connections (one channel each) in "
                     "total, spread over the client nodes")
          ->capture_default_str());
  f.clients_per_node_options.push_back(
      app.add_option("--clients-per-node", f.config.clients_per_node,
                     "Persistent gRPC client connections on every node of the client zones "
                     "(instead of a --clients total), e.g. 1 for many lightly loaded nodes"));
  app.add_option("--client-zones", f.client_zones,
                 "Zones that run clients, comma-separated; default: every zone");
  app.add_option("--dataplane", f.dataplane,
                 "How clients reach the Service VIP: iptables or nftables (kube-proxy's modes), "
                 "skewless (the shipped path: skewless-controlplane on the lab's cluster file, "
                 "a skewless-agent per node programming its BPF connect hooks), skewless-l7 "
                 "(the same, the hooks sending the gRPC port to a skewless-splicer per node, "
                 "which balances every call), or none")
      ->capture_default_str();
  app.add_option("--workload", f.workload,
                 "What the pods serve and the clients hold: grpc (persistent gRPC channels, "
                 "calls multiplexed over each) or websocket (long-lived WebSocket connections "
                 "on the Service port, messages echoed, python3-websockets on both sides; "
                 "HTTP/1.1, so not with --dataplane skewless-l7). With websocket, --rate is "
                 "messages/s and --concurrency the messages in flight per connection when "
                 "--rate is 0")
      ->check(CLI::IsMember({"grpc", "websocket"}))
      ->capture_default_str();
  app.add_option("--traffic-distribution", f.config.traffic_distribution,
                 "The Service's spec.trafficDistribution: PreferClose, PreferSameZone or "
                 "PreferSameNode (applied by the skewless dataplane); default none");
  app.add_option("--lb-policy", f.config.lb_policy,
                 "How the skewless dataplanes choose a pod inside a zone tier: least-loaded "
                 "(the product's default: the cheapest pod of a tier of up to 16, P2C above), "
                 "least-request (the cheaper of two random pods) or random (uniform, load "
                 "ignored, as kube-proxy), for A/B runs")
      ->capture_default_str();
  app.add_option("--cluster-load", f.config.cluster_load,
                 "true: the skewless dataplanes' agents report their connections over LRS and "
                 "weigh every node's (cluster-wide); false: each node weighs only its own "
                 "(node-local)")
      ->capture_default_str();
  app.add_option("--client-stagger", f.client_stagger,
                 "Time between the client nodes' starts, in a random order (a rollout); e.g. "
                 "1s. Default 0: every client at once, which no node's view of the others "
                 "can balance");
  app.add_option("--agent-flag", f.config.agent_flags,
                 "Extra flag for every skewless-agent of the skewless dataplanes, verbatim "
                 "(repeatable; e.g. a switch the lab does not model)");
  app.add_option("--controlplane-flag", f.config.controlplane_flags,
                 "Extra flag for the skewless-controlplane of the skewless dataplanes, verbatim "
                 "(repeatable)");
  app.add_option("--vip", f.config.service_vip, "The Service's ClusterIP")->capture_default_str();
  app.add_option("--port", f.config.service_port, "The Service (and pod) port")
      ->capture_default_str();
  app.add_option("--service-time-us", f.config.service_time_us,
                 "Time each pod takes per request, in microseconds (a sleep, not CPU)")
      ->capture_default_str();
  app.add_option("--state-dir", f.state_dir,
                 "Where run records and child logs live (cleanup reads it)")
      ->capture_default_str();
}

void BindWorkloadFlags(CLI::App& app, LabFlags& f) {
  app.add_option("--concurrency", f.config.concurrency,
                 "Outstanding RPCs per client connection (closed loop)")
      ->capture_default_str();
  app.add_option("--rate", f.config.rate,
                 "Total RPCs per second across all clients; 0 runs closed-loop")
      ->capture_default_str();
  app.add_option("--duration", f.duration, "How long to drive load, e.g. 10s, 1500ms, 1m")
      ->capture_default_str();
  app.add_option("-o,--output", f.output, "Report format: table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_option("--save", f.save,
                 "Also write the report(s) as JSON to this file (`make demo` draws its chart, "
                 "scripts/demo_chart.py, from the demo's)");
}

void BindChangeFlags(CLI::App& app, LabFlags& f) {
  app.add_option("--max-connection-age", f.max_connection_age,
                 "Churn: every client connection is closed and a new one dialled (through the "
                 "dataplane again) after this long, +-10%, as gRPC's MaxConnectionAge makes "
                 "clients do; e.g. 4s. Default 0: connections last the whole run")
      ->capture_default_str();
  app.add_option("--add-pod-at", f.add_pod_at,
                 "D[,ZONE]: a new pod joins D into the measured period, in ZONE (default the "
                 "first zone): its server starts, then it is listed as ready (the EndpointSlice "
                 "and kube-proxy's rules); e.g. 2s,zone-b");
  app.add_option("--remove-pod-at", f.remove_pod_at,
                 "D[,NAME]: pod NAME (default pod-0) is unlisted D into the measured period and "
                 "its server stopped (SIGTERM, GOAWAY); its clients reconnect; e.g. 3s,pod-2");
  app.add_option("--slow-start-window", f.slow_start_window,
                 "The skewless agents' slow start: a new pod's cost is raised at first and "
                 "eases over this window, e.g. 2s. Default 0: the agents' own default (none)")
      ->capture_default_str();
}

absl::Status ApplyFlags(LabFlags& f) {
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
  auto dataplane = ParseDataplane(f.dataplane);
  if (!dataplane.ok()) return dataplane.status();
  c.dataplane = *dataplane;
  auto workload = ParseWorkload(f.workload);
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
  return Plan(c).status();
}

void ApplyDemoDefaults(const CLI::App& demo, LabConfig& config) {
  // The demo's defaults: the hard case of a real cluster (many nodes per zone, one
  // client each, arriving as a rollout), long enough to see the skew, a few minutes in
  // all. A fixed rate well under the generator's ceiling: each pod's share is then
  // exactly its share of connections, not blurred by two saturated cores.
  if (demo.get_option("--duration")->count() == 0) config.duration = std::chrono::seconds(10);
  if (demo.get_option("--rate")->count() == 0) config.rate = 1200;
  if (demo.get_option("--nodes-per-zone")->count() == 0) config.nodes_per_zone = 4;
  const bool clients_given = demo.get_option("--clients")->count() > 0 ||
                             demo.get_option("--clients-per-node")->count() > 0;
  if (!clients_given) config.clients_per_node = 1;
  if (demo.get_option("--client-stagger")->count() == 0) {
    config.client_stagger = std::chrono::seconds(1);
  }
}

}  // namespace skewless::lab
