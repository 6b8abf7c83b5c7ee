// Gathers pins, links, map counts and agent probes, and judges them into one verdict.
#include "skewless/ctl/status.h"

#include <bpf/libbpf.h>
#include <sys/stat.h>

#include <cerrno>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "cgroup_path.h"
#include "skewless/ctl/agent_client.h"
#include "skewless/datapath/steering.h"

namespace skewless::ctl {

std::string VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kDegraded:
      return "degraded";
    case Verdict::kBroken:
      return "broken";
    case Verdict::kNotInstalled:
      return "not-installed";
  }
  return "?";
}

void Judge(StatusReport& report) {
  report.problems.clear();
  report.notes.clear();
  bool broken = false;
  bool degraded = false;
  auto problem = [&](bool& level, std::string text) {
    level = true;
    report.problems.push_back(std::move(text));
  };

  std::vector<std::string> missing_maps;
  for (const auto& [name, pinned] : report.maps) {
    if (!pinned) missing_maps.push_back(name);
  }
  if (!report.maps.empty() && missing_maps.size() == report.maps.size()) {
    report.verdict = Verdict::kNotInstalled;
    report.summary = "no data path is installed";
    report.problems.push_back(NoDatapathMessage(report.pin_dir));
    return;
  }
  if (!missing_maps.empty()) {
    problem(broken, absl::StrCat("maps not pinned in ", report.pin_dir.pin_dir, ": ",
                                 absl::StrJoin(missing_maps, ", "),
                                 " (an install or uninstall was interrupted; restart the agent)"));
  }
  if (!report.read_error.empty() && missing_maps.empty()) {
    problem(broken, absl::StrCat("the maps cannot be read: ", report.read_error));
  }

  std::set<std::string> cgroups;
  std::vector<std::string> unattached;
  for (const LinkStatus& status : report.links) {
    const datapath::PinnedLink& link = status.link;
    if (!link.pinned) {
      unattached.push_back(link.program);
    } else if (!link.error.empty()) {
      problem(broken, absl::StrCat(link.program, "'s link cannot be read: ", link.error));
    } else if (link.cgroup_id == 0) {
      problem(broken, absl::StrCat(link.program, "'s link is pinned but detached (", link.pin_path,
                                   "; was its cgroup removed?)"));
    } else {
      cgroups.insert(status.cgroup_path.empty() ? absl::StrCat("cgroup id ", link.cgroup_id)
                                                : status.cgroup_path);
    }
  }
  if (!unattached.empty()) {
    problem(broken, absl::StrCat("not attached (no link pinned in ", report.pin_dir.pin_dir,
                                 "/links): ", absl::StrJoin(unattached, ", ")));
  }
  if (cgroups.size() > 1) {
    problem(broken, absl::StrCat("programs are attached to different cgroups: ",
                                 absl::StrJoin(cgroups, ", ")));
  }

  const AgentStatus& agent = report.agent;
  if (agent.url.empty()) {
    report.notes.push_back("the agent was not asked (--agent \"\")");
  } else if (!agent.healthz) {
    problem(degraded, absl::StrCat(agent.error,
                                   ": the data path keeps steering with the maps as last "
                                   "written, but follows no change"));
  } else if (*agent.healthz != 200) {
    problem(degraded,
            absl::StrCat("the agent at ", agent.url, " is unhealthy: /healthz ", *agent.healthz));
  } else if (!agent.readyz || *agent.readyz != 200) {
    const std::string why(absl::StripAsciiWhitespace(agent.readyz_body));
    problem(degraded,
            absl::StrCat("the agent at ", agent.url, " is not ready",
                         agent.readyz ? absl::StrCat(" (/readyz ", *agent.readyz, ")") : "",
                         why.empty() ? "" : ": ", why));
  }
  if (report.counts && report.counts->services == 0) {
    report.notes.push_back(
        "no services in the maps yet (the agent has not synced, or the cluster has none)");
  }

  report.verdict = broken ? Verdict::kBroken : degraded ? Verdict::kDegraded : Verdict::kOk;
  if (broken) {
    report.summary = "the data path is not steering as installed";
    return;
  }
  const std::string where = cgroups.empty() ? std::string("?") : *cgroups.begin();
  const std::string steering =
      report.counts ? absl::StrCat("steering ", report.counts->services, " services (",
                                   report.counts->backends, " backends) on ", where)
                    : absl::StrCat("attached on ", where);
  report.summary = absl::StrCat(steering, degraded ? "; the agent needs attention" : "",
                                !degraded && !agent.url.empty() ? "; the agent is ready" : "");
}

absl::StatusOr<StatusReport> GatherStatus(const std::string& pin_dir,
                                          const std::string& agent_url) {
  StatusReport report;
  report.pin_dir = ProbePinDir(pin_dir);
  for (const std::string& map : datapath::Steering::MapNames()) {
    const std::string path = absl::StrCat(pin_dir, "/", map);
    struct stat st {};
    const bool pinned = stat(path.c_str(), &st) == 0;
    // bpffs is root-only by default: "cannot look" must not read as "not installed".
    if (!pinned && errno == EACCES) return absl::ErrnoToStatus(errno, "looking for " + path);
    report.maps.emplace_back(map, pinned);
  }
  for (datapath::PinnedLink& link : datapath::PinnedSteering::Links(pin_dir)) {
    LinkStatus& status = report.links.emplace_back();
    if (link.cgroup_id != 0) {
      if (const char* hook =
              libbpf_bpf_attach_type_str(static_cast<bpf_attach_type>(link.attach_type))) {
        status.hook = hook;
      }
      absl::StatusOr<std::string> path = CgroupPathOf(link.cgroup_id);
      if (path.ok()) status.cgroup_path = *path;
    }
    status.link = std::move(link);
  }
  absl::StatusOr<DatapathState> state = ReadDatapathState(pin_dir);
  if (state.ok()) {
    MapCounts counts{.services = state->maps.services.size(),
                     .backend_sets = state->maps.sets.size(),
                     .backends = state->maps.backends.size(),
                     .node_zone_id = state->maps.node.zone_id};
    for (const auto& [id, load] : state->loads) counts.active_conns += load.active_conns;
    report.counts = counts;
  } else if (!absl::IsNotFound(state.status())) {
    report.read_error = std::string(state.status().message());
  }
  report.agent.url = agent_url;
  if (!agent_url.empty()) {
    absl::StatusOr<HttpAnswer> healthz = AgentGet(agent_url, "/healthz");
    if (healthz.ok()) {
      report.agent.healthz = healthz->status;
      absl::StatusOr<HttpAnswer> readyz = AgentGet(agent_url, "/readyz");
      if (readyz.ok()) {
        report.agent.readyz = readyz->status;
        report.agent.readyz_body = readyz->body;
      }
      absl::StatusOr<ZoneNames> zones = FetchZoneNames(agent_url);
      if (zones.ok()) report.zones = *std::move(zones);
    } else {
      report.agent.error = std::string(healthz.status().message());
    }
  }
  Judge(report);
  return report;
}

}  // namespace skewless::ctl
