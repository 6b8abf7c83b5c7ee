// Building and tearing down the lab node: namespaces, veths, cgroup, pods.
#include "skewless/lab/node.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "skewless/common/cgroup.h"
#include "skewless/datapath/steering.h"
#include "skewless/lab/websocket_workload.h"

namespace skewless::lab {
namespace {

using std::chrono::milliseconds;

constexpr char kPodServerBinary[] = "skewless-pod-server";

std::string SelfDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : exe.parent_path().string();
}

bool NetnsExists(const std::string& name) {
  struct stat st;
  return stat(("/run/netns/" + name).c_str(), &st) == 0;
}

// `ip -batch` runs many link/addr commands in one exec; -n makes every line
// apply inside that namespace.
absl::Status IpBatch(const std::string& netns, const std::vector<std::string>& lines) {
  std::vector<std::string> argv = {"ip"};
  if (!netns.empty()) argv.insert(argv.end(), {"-n", netns});
  argv.insert(argv.end(), {"-batch", "-"});
  auto result = RunCommand(argv, absl::StrJoin(lines, "\n") + "\n");
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat("configuring ", netns.empty() ? "namespaces" : netns, ": ",
                                     result.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckLabPrerequisites() {
  if (geteuid() != 0) {
    return absl::PermissionDeniedError(
        "the lab creates network namespaces, veths and cgroups: run it as root");
  }
  auto cgroup = FindCgroup2Mount();
  if (!cgroup.ok()) return cgroup.status();
  for (const char* tool : {"ip", "iptables-restore", "nft"}) {
    if (!RunCommand({"sh", "-c", absl::StrCat("command -v ", tool)}).ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("'", tool, "' not found: run `make deps` (scripts/install-deps.sh)"));
    }
  }
  return absl::OkStatus();
}

Node::Node(LabConfig config, LabPlan plan, NodeOptions options)
    : config_(std::move(config)), plan_(std::move(plan)), options_(std::move(options)) {
  if (options_.bin_dir.empty()) options_.bin_dir = SelfDir();
  service_.name = config_.service_name;
  service_.port_name = config_.workload == Workload::kWebSocket ? "http" : "grpc";
  service_.vip = config_.service_vip;
  service_.port = config_.service_port;
  // A pod that joins late is in no EndpointSlice and no rule until it does.
  for (const auto& pod : plan_.pods) {
    pod_endpoints_.push_back(pod.joins_late ? PodEndpoint::kRemoved : PodEndpoint::kReady);
    if (!pod.joins_late) service_.endpoints.push_back({pod.ip, config_.service_port});
  }
}

void Node::Say(const std::string& line) const {
  if (options_.progress) options_.progress(line);
}

absl::StatusOr<std::unique_ptr<Node>> Node::Create(const LabConfig& config,
                                                   const NodeOptions& options) {
  auto plan = Plan(config);
  if (!plan.ok()) return plan.status();
  if (auto status = CheckLabPrerequisites(); !status.ok()) return status;
  std::unique_ptr<Node> node(new Node(config, *std::move(plan), options));
  std::string pod_server =
      node->options_.bin_dir + "/" +
      (config.workload == Workload::kWebSocket ? kWebSocketPodServer : kPodServerBinary);
  if (access(pod_server.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(pod_server, " not found: build it (`make`)"));
  }
  if (auto status = node->Build(); !status.ok()) {
    absl::Status teardown = node->Destroy();
    if (!teardown.ok()) {
      return absl::Status(
          status.code(),
          absl::StrCat(status.message(), "; and teardown failed: ", teardown.message()));
    }
    return status;
  }
  return node;
}

absl::Status Node::Build() {
  const std::string& id = plan_.id;
  state_.id = id;
  state_.owner = RecordSelf();
  // A name clash means another run (or someone else) owns that name: refuse
  // before creating anything, and do not record the names we do not own.
  if (std::filesystem::exists(StatePath(options_.state_dir, id))) {
    destroyed_ = true;
    return absl::AlreadyExistsError(
        absl::StrCat("--id: a lab run '", id, "' is recorded in ", options_.state_dir,
                     "; pick another id or run `skewless-lab cleanup`"));
  }
  auto cgroup_mount = FindCgroup2Mount();
  if (!cgroup_mount.ok()) return cgroup_mount.status();
  cgroup_root_ = absl::StrCat(*cgroup_mount, "/skewless-lab-", id);
  client_cgroup_ = cgroup_root_ + "/clients";
  PlannedResources resources = PlanResources(plan_, cgroup_root_);
  for (const auto& name : resources.netns) {
    if (NetnsExists(name)) {
      destroyed_ = true;
      return absl::AlreadyExistsError(
          absl::StrCat("--id: network namespace '", name, "' already exists; pick another id"));
    }
  }
  if (std::filesystem::exists(cgroup_root_)) {
    destroyed_ = true;
    return absl::AlreadyExistsError(
        absl::StrCat("--id: cgroup ", cgroup_root_, " already exists; pick another id"));
  }

  // Record intent before creating: cleanup after a crash must see every name.
  state_.netns = resources.netns;
  state_.cgroups = resources.cgroups;
  if (auto status = SaveState(options_.state_dir, state_); !status.ok()) return status;
  log_dir_ = LogDir(options_.state_dir, id);
  std::filesystem::create_directories(log_dir_);

  Say(absl::StrCat("lab ", id, ": creating ", plan_.clients.size(), " client node(s) and ",
                   plan_.pods.size(), " pods in ", config_.zones.size(), " zones"));
  if (auto status = BuildNetwork(); !status.ok()) return status;
  // Parents first: the record lists children first, for removal.
  for (auto it = state_.cgroups.rbegin(); it != state_.cgroups.rend(); ++it) {
    if (mkdir(it->c_str(), 0755) != 0) {
      return absl::InternalError(absl::StrCat("mkdir cgroup ", *it, ": ", std::strerror(errno)));
    }
  }
  const bool skewless =
      config_.dataplane == Dataplane::kSkewless || config_.dataplane == Dataplane::kSkewlessL7;
  if (skewless) {
    // Agents start while the pods do; both are awaited below.
    if (auto status = StartShippedPath(); !status.ok()) return status;
  } else if (auto status = ApplyDataplane(config_.dataplane, NodeNetns(id),
                                          std::vector<ClusterIpService>{service_});
             !status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("programming the ", DataplaneName(config_.dataplane),
                                     " baseline: ", status.message()));
  }
  if (auto status = StartPods(); !status.ok()) return status;
  if (!skewless) return absl::OkStatus();
  const auto started = std::chrono::steady_clock::now();
  // Each agent loads and verifies its own programs (the bulk of a node's setup, all in
  // the kernel): on 2 shared cores, a dozen take tens of seconds.
  const milliseconds timeout(20000 + 4000 * static_cast<int64_t>(plan_.clients.size()));
  if (auto status = AwaitProgrammed(timeout); !status.ok()) return status;
  Say(absl::StrCat(
      "lab ", id, ": ", agents_.size(), " agent(s) programmed the Service (",
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started).count(),
      " ms after the pods were up)"));
  if (config_.dataplane == Dataplane::kSkewlessL7) return StartSplicers();
  return absl::OkStatus();
}

absl::Status Node::BuildNetwork() {
  const std::string& id = plan_.id;
  const std::string node_ns = NodeNetns(id);
  std::vector<std::string> create;
  for (const auto& name : state_.netns) create.push_back("netns add " + name);
  if (auto status = IpBatch("", create); !status.ok()) return status;

  // The node: a bridge for pods (one L2 segment, like most CNIs), routed
  // point-to-point veths for clients, forwarding on.
  std::vector<std::string> node = {
      "link set lo up",
      "link add br0 type bridge",
      absl::StrCat("addr add ", kPodGateway, "/", kPodPrefix, " dev br0"),
      "link set br0 up",
  };
  for (size_t i = 0; i < plan_.pods.size(); ++i) {
    std::string veth = absl::StrCat("vpod", i);
    node.push_back(absl::StrCat("link add ", veth, " type veth peer name eth0 netns ",
                                PodNetns(id, plan_.pods[i].name)));
    node.push_back(absl::StrCat("link set ", veth, " master br0"));
    node.push_back(absl::StrCat("link set ", veth, " up"));
  }
  for (size_t c = 0; c < plan_.clients.size(); ++c) {
    const auto& client = plan_.clients[c];
    std::string veth = absl::StrCat("vcli", c);
    node.push_back(absl::StrCat("link add ", veth, " type veth peer name eth0 netns ",
                                ClientNetns(id, client.node)));
    node.push_back(absl::StrCat("addr add ", client.gateway, "/30 dev ", veth));
    node.push_back(absl::StrCat("link set ", veth, " up"));
  }
  if (auto status = IpBatch(node_ns, node); !status.ok()) return status;
  // Per-namespace sysctl: this touches only the node namespace.
  if (auto result =
          RunCommand({"ip", "netns", "exec", node_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"});
      !result.ok()) {
    return result.status();
  }
  for (const auto& pod : plan_.pods) {
    if (auto status = IpBatch(
            PodNetns(id, pod.name),
            {"link set lo up", absl::StrCat("addr add ", pod.ip, "/", kPodPrefix, " dev eth0"),
             "link set eth0 up", absl::StrCat("route add default via ", kPodGateway)});
        !status.ok()) {
      return status;
    }
  }
  for (const auto& client : plan_.clients) {
    if (auto status =
            IpBatch(ClientNetns(id, client.node),
                    {"link set lo up", absl::StrCat("addr add ", client.ip, "/30 dev eth0"),
                     "link set eth0 up", absl::StrCat("route add default via ", client.gateway)});
        !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Node::MountBpffs(const std::string& name) {
  const std::string bpffs = absl::StrCat(options_.state_dir, "/", plan_.id, ".", name);
  // Recorded before mounting: a crash right after still gets it unmounted.
  state_.bpffs_mounts.push_back(bpffs);
  if (auto status = SaveState(options_.state_dir, state_); !status.ok()) return status;
  std::filesystem::create_directories(bpffs);
  if (auto r = RunCommand({"mount", "-t", "bpf", "skewless-lab", bpffs}); !r.ok()) {
    return r.status();
  }
  return bpffs;
}

absl::Status Node::Record(pid_t pid) {
  state_.processes.push_back(lab::Record(pid));
  return SaveState(options_.state_dir, state_);
}

absl::StatusOr<Child> Node::SpawnPod(const PodSpec& pod) {
  SpawnOptions spawn;
  if (config_.workload == Workload::kWebSocket) {
    spawn.argv = WebSocketPodArgv(options_.bin_dir, config_, pod);
  } else {
    spawn.argv = {options_.bin_dir + "/" + kPodServerBinary,
                  "--name",
                  pod.name,
                  "--zone",
                  pod.zone,
                  "--listen",
                  absl::StrCat(pod.ip, ":", config_.service_port),
                  "--service-time-us",
                  std::to_string(config_.service_time_us),
                  "--slow-factor",
                  absl::StrCat(pod.slow_factor)};
  }
  spawn.netns = PodNetns(plan_.id, pod.name);
  spawn.log_path = absl::StrCat(log_dir_, "/", pod.name, ".log");
  auto child = Child::Spawn(spawn);
  if (!child.ok()) return child.status();
  if (auto status = Record(child->pid()); !status.ok()) return status;
  return child;
}

absl::Status Node::AwaitPodReady(std::size_t index) {
  auto line = pods_[index].ReadLine(milliseconds(15000));
  if (!line.ok()) {
    return absl::UnavailableError(
        absl::StrCat(plan_.pods[index].name, " did not start: ", line.status().message()));
  }
  if (line->rfind("READY", 0) != 0) {
    return absl::UnavailableError(
        absl::StrCat(plan_.pods[index].name, " said '", *line, "' instead of READY"));
  }
  return absl::OkStatus();
}

absl::Status Node::StartPods() {
  const bool websocket = config_.workload == Workload::kWebSocket;
  Say(absl::StrCat("lab ", plan_.id, ": starting ", plan_.pods.size(),
                   websocket ? " WebSocket" : " gRPC", " pod servers"));
  // A late pod is the plan's last (Plan() appends it): pods_ stays indexed like plan_.pods.
  for (const auto& pod : plan_.pods) {
    if (pod.joins_late) continue;
    auto child = SpawnPod(pod);
    if (!child.ok()) return child.status();
    pods_.push_back(*std::move(child));
  }
  // Start all, then wait for all: the servers come up in parallel.
  for (size_t i = 0; i < pods_.size(); ++i) {
    if (auto status = AwaitPodReady(i); !status.ok()) return status;
  }
  return absl::OkStatus();
}

std::string Node::ResolveNode(const std::string& node_or_zone) const {
  for (const auto& client : plan_.clients) {
    if (client.node == node_or_zone) return client.node;
  }
  for (const auto& client : plan_.clients) {
    if (client.zone == node_or_zone) return client.node;
  }
  return node_or_zone;  // no such client node: the spawn fails naming it
}

std::string Node::NodeCgroup(const std::string& node_or_zone) const {
  return absl::StrCat(client_cgroup_, "/", ResolveNode(node_or_zone));
}

absl::StatusOr<Child> Node::SpawnClient(const std::string& node_or_zone,
                                        std::vector<std::string> argv,
                                        const std::string& log_name) {
  SpawnOptions spawn;
  spawn.argv = std::move(argv);
  spawn.netns = ClientNetns(plan_.id, ResolveNode(node_or_zone));
  spawn.cgroup = NodeCgroup(node_or_zone);
  spawn.log_path = absl::StrCat(log_dir_, "/", log_name, ".log");
  auto child = Child::Spawn(spawn);
  if (!child.ok()) return child.status();
  if (auto status = Record(child->pid()); !status.ok()) return status;
  return child;
}

absl::Status Node::SignalPod(std::size_t index, int signo) {
  if (index >= pods_.size()) {
    return absl::NotFoundError(absl::StrCat("no pod #", index, " (", pods_.size(), " running)"));
  }
  pods_[index].Signal(signo);
  return absl::OkStatus();
}

absl::StatusOr<PodCounters> Node::ReadPodCounters(std::size_t index) {
  auto out = pods_[index].ReadAll(milliseconds(5000));
  (void)pods_[index].Wait(milliseconds(2000));
  if (!out.ok()) return out.status();
  // The server prints READY first, then one JSON line at exit.
  std::string last = *out;
  while (!last.empty() && last.back() == '\n') last.pop_back();
  last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
  auto json = nlohmann::json::parse(last, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::DataLossError(absl::StrCat(plan_.pods[index].name,
                                            " printed no counters at exit: '", last,
                                            "'; log: ", pods_[index].LogTail()));
  }
  return PodCounters{json.value("pod", ""), json.value("zone", ""),
                     json.value("work_served", uint64_t{0}),
                     json.value("connections_seen", uint64_t{0})};
}

absl::StatusOr<std::vector<PodCounters>> Node::StopPods() {
  for (size_t i = 0; i < pods_.size(); ++i) {
    if (!stopped_pods_.count(i)) pods_[i].Signal(SIGTERM);
  }
  std::vector<PodCounters> counters;
  absl::Status first_error;
  for (size_t i = 0; i < pods_.size(); ++i) {
    if (auto it = stopped_pods_.find(i); it != stopped_pods_.end()) {
      counters.push_back(it->second);
      continue;
    }
    auto pod = ReadPodCounters(i);
    if (!pod.ok()) {
      first_error.Update(pod.status());
      continue;
    }
    counters.push_back(*std::move(pod));
  }
  pods_.clear();
  stopped_pods_.clear();
  if (!first_error.ok()) return first_error;
  return counters;
}

absl::Status Node::Destroy() {
  if (destroyed_) return absl::OkStatus();
  // SIGKILL + reap. Agents leave their data paths pinned, as a killed agent does by
  // design; RemoveRecordedRun uninstalls every pin directory of our bpffs.
  splicers_.clear();
  agents_.clear();
  control_plane_.clear();
  pods_.clear();
  absl::Status status;
  status.Update(RemoveRecordedRun(options_.state_dir, state_));
  if (status.ok()) destroyed_ = true;
  return status;
}

Node::~Node() {
  absl::Status status = Destroy();
  if (!status.ok()) {
    std::cerr << "skewless-lab: teardown of " << plan_.id << " incomplete: " << status
              << "\n  run `skewless-lab cleanup` to finish it\n";
  }
}

absl::Status RemoveRecordedRun(const std::string& state_dir, const RunState& state) {
  absl::Status status;
  for (const auto& process : state.processes) {
    if (IsAlive(process)) kill(process.pid, SIGKILL);
  }
  // SIGKILL lands when the process next leaves the kernel: an agent inside a BPF syscall
  // (an RCU wait) or a pod in a namespace's teardown outlives the kill() for a moment.
  // Teardown is done when they are gone, not when they were told to go.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::vector<pid_t> survivors;
  do {
    survivors.clear();
    for (const auto& process : state.processes) {
      if (IsAlive(process)) survivors.push_back(process.pid);
    }
    if (!survivors.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (!survivors.empty() && std::chrono::steady_clock::now() < deadline);
  if (!survivors.empty()) {
    status.Update(absl::UnavailableError(
        absl::StrCat("still running 5 s after SIGKILL: pid ", absl::StrJoin(survivors, ", pid "))));
  }
  for (const auto& cgroup : state.cgroups) status.Update(KillAndRemoveCgroup(cgroup));
  std::vector<std::string> remove;
  for (const auto& name : state.netns) {
    if (NetnsExists(name)) remove.push_back("netns delete " + name);
  }
  // Deleting a namespace destroys its veths, bridge and nat rules with it.
  if (!remove.empty()) status.Update(IpBatch("", remove));
  for (const auto& bpffs : state.bpffs_mounts) {
    if (!std::filesystem::exists(bpffs)) continue;
    // Data paths stay attached after their agent is gone: detach them by their
    // pins (each client node's agent has a directory), then drop the mount.
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(bpffs, ec)) {
      if (entry.is_directory()) {
        status.Update(datapath::Steering::UninstallPinned(entry.path().string()));
      }
    }
    if (RunCommand({"mountpoint", "-q", bpffs}).ok()) {
      status.Update(RunCommand({"umount", bpffs}).status());
    }
    std::filesystem::remove(bpffs, ec);
  }
  if (status.ok()) status.Update(RemoveState(state_dir, state.id));
  return status;
}

}  // namespace skewless::lab
