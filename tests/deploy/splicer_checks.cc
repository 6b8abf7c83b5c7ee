// The splicer's DaemonSet: where the agent sends HTTP/2 connections must be where the
// splicer listens, it must read the agent's pins and carry the agent's mark, and it needs
// the host network (pods dial the node's IP) and the capabilities for maps and SO_MARK.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "checks.h"
#include "skewless/splicer/splicer.h"

namespace skewless::deploy {
namespace {

bool Adds(const YAML::Node& container, const std::string& capability) {
  const std::vector<std::string> added =
      Strings(At(container, {"securityContext", "capabilities", "add"}));
  return IsTrue(At(container, {"securityContext", "privileged"})) ||
         std::find(added.begin(), added.end(), capability) != added.end();
}

}  // namespace

Problems CheckSplicerDaemonSet(const ManifestSet& set) {
  const std::optional<Workload> daemonset = set.FindWorkload("DaemonSet", kSplicer);
  if (!daemonset) return {absl::StrCat("no DaemonSet ", kSplicer)};
  const std::string where = Describe(*daemonset->document);
  const std::optional<YAML::Node> found = ContainerRunning(*daemonset, kSplicer);
  if (!found) return {absl::StrCat(where, ": no container runs ", kSplicer)};
  const YAML::Node& container = *found;
  absl::StatusOr<agent::AgentConfig> agent = AgentConfig(set);
  if (!agent.ok()) return {absl::StrCat(where, ": the agent's config: ", agent.status().message())};
  const std::optional<Workload> agent_daemonset = set.FindWorkload("DaemonSet", kAgent);
  const std::optional<YAML::Node> agent_container =
      agent_daemonset ? ContainerRunning(*agent_daemonset, kAgent) : std::nullopt;

  Problems problems;
  auto require = [&](bool ok, const std::string& what) {
    if (!ok) problems.push_back(absl::StrCat(where, ": ", what));
  };
  const YAML::Node& pod = daemonset->pod;
  const std::vector<std::string> args = Strings(At(container, {"args"}));
  require(IsTrue(At(pod, {"hostNetwork"})),
          "not hostNetwork (pods dial the splicer at the node's address)");
  require(ToleratesEverything(pod), "no toleration with operator Exists for every taint");
  require(Text(At(pod, {"priorityClassName"})) == "system-node-critical",
          "priorityClassName is not system-node-critical");

  // The agent redirects to --splicer-address: the splicer must listen exactly there, and
  // a per-node $(HOST_IP) must mean the node's IP in both pods.
  const std::string listen = FlagValue(args, "--listen").value_or(splicer::SplicerOptions{}.listen);
  require(listen == agent->splicer_address,
          absl::StrCat("--listen ", listen, " is not the agent's --splicer-address \"",
                       agent->splicer_address, "\""));
  if (listen.find("$(HOST_IP)") != std::string::npos) {
    require(EnvFromField(container, "HOST_IP", "status.hostIP"),
            "HOST_IP does not come from fieldRef status.hostIP");
    require(agent_container && EnvFromField(*agent_container, "HOST_IP", "status.hostIP"),
            "the agent's HOST_IP does not come from fieldRef status.hostIP");
  }
  const std::string pin_dir = FlagValue(args, "--pin-dir").value_or("");
  require(pin_dir == agent->pin_dir,
          absl::StrCat("--pin-dir \"", pin_dir, "\" is not the agent's pin_dir ", agent->pin_dir));
  const std::string mark =
      FlagValue(args, "--mark").value_or(std::to_string(splicer::kDefaultMark));
  require(std::stoul(mark, nullptr, 0) == agent->splicer_mark,
          absl::StrCat("--mark ", mark, " is not the agent's splicer_mark ", agent->splicer_mark,
                       " (the splicer's connections to pods would come back to it)"));

  const YAML::Node bpffs = HostPathMount(*daemonset, container, "/sys/fs/bpf");
  const std::string propagation = Text(At(bpffs, {"mountPropagation"}));
  require(Text(At(bpffs, {"mountPath"})) == "/sys/fs/bpf" &&
              (propagation == "HostToContainer" || propagation == "Bidirectional"),
          "the host's /sys/fs/bpf is not mounted at /sys/fs/bpf with HostToContainer "
          "propagation (a bpffs the agent mounts later would stay hidden)");
  require(Adds(container, "BPF") || Adds(container, "SYS_ADMIN"),
          "neither CAP_BPF nor CAP_SYS_ADMIN: the agent's pinned maps cannot be opened");
  require(Adds(container, "NET_ADMIN"), "no CAP_NET_ADMIN: --mark (SO_MARK) would fail");

  const std::string http_listen =
      FlagValue(args, "--http-listen").value_or(splicer::kDefaultHttpListen);
  for (const auto& [probe, path] :
       {std::pair{"livenessProbe", "/healthz"}, std::pair{"readinessProbe", "/readyz"}}) {
    const YAML::Node http = At(container, {probe, "httpGet"});
    require(Text(At(http, {"path"})) == path &&
                ResolvePort(At(http, {"port"}), NamedPorts(container)) == PortOf(http_listen),
            absl::StrCat(probe, " is not GET ", path, " on --http-listen ", http_listen));
  }
  const double drain = std::stod(
      FlagValue(args, "--drain-seconds").value_or(std::to_string(splicer::kDefaultDrainSeconds)));
  require(Integer(At(pod, {"terminationGracePeriodSeconds"})).value_or(30) > drain,
          absl::StrCat("terminationGracePeriodSeconds is not above --drain-seconds ", drain,
                       ": calls in flight would be killed mid-drain"));
  return problems;
}

}  // namespace skewless::deploy
