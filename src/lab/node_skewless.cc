// The skewless dataplanes as they ship: the lab writes its cluster as a file-source
// document, one skewless-controlplane serves it, and one skewless-agent per client
// node programs that node's cgroup; skewless-l7 adds a skewless-splicer per node.
#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "skewless/lab/node.h"
#include "skewless/lab/node_maps.h"
#include "skewless/lab/shipped_path.h"

namespace skewless::lab {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

}  // namespace

std::string Node::PinDir(const std::string& node_or_zone) const {
  return absl::StrCat(bpffs_, "/", ResolveNode(node_or_zone));
}

absl::Status Node::WriteClusterDocument() const {
  return WriteFileAtomically(
      document_path_,
      ClusterDocument(config_, plan_, pod_endpoints_, config_.dataplane == Dataplane::kSkewlessL7));
}

absl::Status Node::StartShippedPath() {
  // Our own bpffs: unmounting it drops every pin the agents made.
  absl::StatusOr<std::string> mounted = MountBpffs("bpffs");
  if (!mounted.ok()) return mounted.status();
  bpffs_ = *mounted;
  document_path_ = absl::StrCat(log_dir_, "/cluster.yaml");
  if (auto status = WriteClusterDocument(); !status.ok()) return status;

  const auto spawn = [&](std::vector<std::string> argv,
                         const std::string& log_name) -> absl::StatusOr<Child> {
    SpawnOptions options;
    options.argv = std::move(argv);
    options.netns = NodeNetns(plan_.id);  // the lab's host network: one loopback for all
    options.log_path = absl::StrCat(log_dir_, "/", log_name, ".log");
    auto child = Child::Spawn(options);
    if (!child.ok()) return child.status();
    if (auto status = Record(child->pid()); !status.ok()) return status;
    return child;
  };
  auto control_plane =
      spawn(ControlPlaneArgv(config_, options_.bin_dir, document_path_), "controlplane");
  if (!control_plane.ok()) return control_plane.status();
  control_plane_.push_back(*std::move(control_plane));
  // Agents dialled before it listens would back off for up to 2 s.
  const auto deadline = Clock::now() + milliseconds(10000);
  while (control_plane_[0].LogTail().find("control plane serving") == std::string::npos) {
    if (Clock::now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "skewless-controlplane did not start within 10 s: ", control_plane_[0].LogTail()));
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  // Every agent at once, so their starts overlap. A start is mostly kernel CPU (verifying
  // the programs, creating the maps): on 2 cores N agents still take about N/2 starts.
  for (size_t i = 0; i < plan_.clients.size(); ++i) {
    const ClientSpec& client = plan_.clients[i];
    auto agent = spawn(AgentArgv(config_, options_.bin_dir, client, i, NodeCgroup(client.node),
                                 PinDir(client.node)),
                       "agent-" + client.node);
    if (!agent.ok()) return agent.status();
    agents_.push_back(*std::move(agent));
  }
  Say(absl::StrCat("lab ", plan_.id, ": skewless-controlplane serving, ", agents_.size(),
                   " skewless-agent(s) starting"));
  return absl::OkStatus();
}

absl::Status Node::AwaitProgrammed(milliseconds timeout) {
  std::set<std::string> ready;
  for (size_t i = 0; i < plan_.pods.size(); ++i) {
    if (pod_endpoints_[i] == PodEndpoint::kReady) ready.insert(plan_.pods[i].ip);
  }
  // What each agent's maps showed last; empty once it holds exactly `ready`.
  std::vector<std::string> late(agents_.size(), "nothing read yet");
  const auto start = Clock::now();
  auto next_progress = start + milliseconds(5000);
  for (;;) {
    size_t done = 0;
    for (size_t i = 0; i < agents_.size(); ++i) {
      if (late[i].empty()) {
        ++done;
        continue;
      }
      auto service = ReadProgrammedService(PinDir(plan_.clients[i].node), config_.service_vip,
                                           config_.service_port);
      if (!service.ok()) {
        late[i] = std::string(service.status().message());
        continue;
      }
      std::set<std::string> programmed;
      for (uint32_t b = 0; b < service->n_ready && b < service->backends.size(); ++b) {
        programmed.insert(service->backends[b].address);
      }
      if (service->found && programmed == ready) {
        late[i].clear();
        ++done;
      } else {
        late[i] = service->found ? absl::StrCat("ready ", absl::StrJoin(programmed, ","))
                                 : "no such Service";
      }
    }
    if (done == agents_.size()) return absl::OkStatus();
    if (options_.stop != nullptr && options_.stop->requested()) {
      return absl::CancelledError(
          absl::StrCat("interrupted while ", agents_.size() - done, " agent(s) were starting"));
    }
    const auto now = Clock::now();
    if (now > start + timeout) {
      const size_t i =
          std::find_if(late.begin(), late.end(), [](const std::string& s) { return !s.empty(); }) -
          late.begin();
      return absl::DeadlineExceededError(
          absl::StrCat("agent of node ", plan_.clients[i].node, " (and ", agents_.size() - done - 1,
                       " more) has not programmed ", config_.service_vip, ":", config_.service_port,
                       " with ready pods ", absl::StrJoin(ready, ","), " within ", timeout.count(),
                       " ms (its maps: ", late[i], "); its log: ", agents_[i].LogTail()));
    }
    if (now > next_progress) {
      Say(absl::StrCat("lab ", plan_.id, ": ", done, "/", agents_.size(),
                       " agents have programmed the Service"));
      next_progress = now + milliseconds(5000);
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

absl::Status Node::StartSplicers() {
  for (const auto& client : plan_.clients) {
    auto splicer = SpawnClient(client.node, SplicerArgv(bin_dir(), PinDir(client.node)),
                               "splicer-" + client.node);
    if (!splicer.ok()) return splicer.status();
    splicers_.push_back(*std::move(splicer));
  }
  // It logs once it listens; clients connecting before would be refused.
  const auto deadline = Clock::now() + milliseconds(10000);
  for (auto& splicer : splicers_) {
    while (splicer.LogTail().find("splicer listening") == std::string::npos) {
      if (Clock::now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat(splicer.name(), " did not start: ", splicer.LogTail()));
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  Say(absl::StrCat("lab ", plan_.id, ": ", splicers_.size(), " HTTP/2 splicer(s) serving"));
  return absl::OkStatus();
}

}  // namespace skewless::lab
