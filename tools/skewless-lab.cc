// skewless-lab: a simulated Kubernetes node on this machine (see docs/lab.md).
#include <unistd.h>

#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "skewless/common/cli.h"
#include "skewless/lab/cleanup.h"
#include "skewless/lab/lab_flags.h"
#include "skewless/lab/node.h"
#include "skewless/lab/scenario.h"
#include "skewless/lab/shipped_path.h"
#include "skewless/lab/signals.h"

namespace {

using skewless::lab::LabFlags;

// Exit codes: 0 ok, 1 the run failed, 2 bad flags, 3 interrupted (Ctrl-C/SIGTERM).
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 3;

void Progress(const std::string& line) { std::cerr << line << std::endl; }

int Fail(const absl::Status& status) {
  std::cerr << "skewless-lab: " << status.message() << std::endl;
  return absl::IsInvalidArgument(status) || absl::IsAlreadyExists(status) ? kExitUsage
                                                                          : kExitFailed;
}

int Up(LabFlags& f) {
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

int Run(LabFlags& f, bool demo) {
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

int Cleanup(const LabFlags& f, bool force, const std::string& id) {
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
  LabFlags flags;
  bool force = false;
  std::string cleanup_id;

  auto* demo = app.add_subcommand(
      "demo",
      "Show the skew and its fix: one workload through kube-proxy's iptables and nftables "
      "modes, skewless's connect hooks node-local (least-request) and cluster-wide "
      "(least-loaded), then skewless's HTTP/2 splicer (L7). Demo defaults: a realistic "
      "cluster of 4 nodes per zone with one client each, started 1 s apart, --duration 10s "
      "--rate 1200; no zone preference unless given");
  skewless::lab::BindNodeFlags(*demo, flags);
  skewless::lab::BindWorkloadFlags(*demo, flags);
  skewless::lab::BindChangeFlags(*demo, flags);
  auto* run = app.add_subcommand("run", "Build a node, drive the workload once, print the report");
  skewless::lab::BindNodeFlags(*run, flags);
  skewless::lab::BindWorkloadFlags(*run, flags);
  skewless::lab::BindChangeFlags(*run, flags);
  auto* up = app.add_subcommand("up", "Build a node and keep it until Ctrl-C (for poking at it)");
  skewless::lab::BindNodeFlags(*up, flags);
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
  if (absl::Status status = skewless::lab::ApplyFlags(flags); !status.ok()) return Fail(status);
  if (up->parsed()) return Up(flags);
  if (run->parsed()) return Run(flags, false);
  if (demo->parsed()) {
    skewless::lab::ApplyDemoDefaults(*demo, flags.config);
    if (absl::Status status = skewless::lab::Plan(flags.config).status(); !status.ok()) {
      return Fail(status);
    }
    return Run(flags, true);
  }
  return kExitUsage;
}
