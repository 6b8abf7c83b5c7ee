// status as text and JSON: the verdict first, then what it rests on.
#include "absl/strings/str_cat.h"
#include "format.h"
#include "skewless/ctl/render.h"
#include "skewless/ctl/table.h"

namespace skewless::ctl {
namespace {

using Align = Table::Align;

std::string CgroupText(const LinkStatus& status) {
  if (!status.cgroup_path.empty()) return status.cgroup_path;
  if (status.link.cgroup_id != 0) return absl::StrCat("cgroup id ", status.link.cgroup_id);
  return "-";
}

std::string NodeZone(const StatusReport& report) {
  const std::uint16_t id = report.counts->node_zone_id;
  if (id == 0) return "unknown";
  if (std::optional<std::string> name = report.zones.Name(id)) {
    return absl::StrCat(*name, " (id ", id, ")");
  }
  return absl::StrCat("id ", id);
}

std::string AgentLine(const AgentStatus& agent) {
  if (agent.url.empty()) return "not asked";
  if (!agent.healthz) return absl::StrCat(agent.url, ": no answer");
  return absl::StrCat(agent.url, ": /healthz ", *agent.healthz, ", /readyz ",
                      agent.readyz ? absl::StrCat(*agent.readyz) : "no answer");
}

}  // namespace

std::string RenderStatusText(const StatusReport& report) {
  std::string out =
      absl::StrCat("verdict: ", VerdictName(report.verdict), ": ", report.summary, "\n");
  if (report.verdict == Verdict::kNotInstalled) {
    for (const std::string& problem : report.problems) absl::StrAppend(&out, problem, "\n");
    return out;
  }
  std::size_t pinned = 0;
  for (const auto& [name, present] : report.maps) pinned += present ? 1 : 0;
  absl::StrAppend(&out, "\npin dir: ", report.pin_dir.pin_dir,
                  report.pin_dir.fs_is_bpffs ? " (bpffs)" : " (not on bpffs)",
                  "\nmaps:    ", pinned, " of ", report.maps.size(), " pinned");
  if (report.counts) {
    absl::StrAppend(&out, "; ", report.counts->services, " services, ", report.counts->backend_sets,
                    " backend sets, ", report.counts->backends, " backends, ",
                    report.counts->active_conns, " active connections; node zone ",
                    NodeZone(report));
  }
  absl::StrAppend(&out, "\nagent:   ", AgentLine(report.agent), "\n\n");
  Table links(
      {{"PROGRAM"}, {"LINK", Align::kRight}, {"PROG", Align::kRight}, {"HOOK"}, {"CGROUP"}});
  for (const LinkStatus& status : report.links) {
    const datapath::PinnedLink& link = status.link;
    if (!link.pinned) {
      links.AddRow({link.program, "-", "-", "-", "not attached (no pin)"});
    } else if (!link.error.empty()) {
      links.AddRow({link.program, "?", "?", "?", "unreadable"});
    } else {
      links.AddRow({link.program, absl::StrCat(link.link_id), absl::StrCat(link.program_id),
                    status.hook.empty() ? "-" : status.hook,
                    link.cgroup_id == 0 ? "detached" : CgroupText(status)});
    }
  }
  absl::StrAppend(&out, links.Render());
  if (!report.problems.empty()) {
    absl::StrAppend(&out, "\nproblems:\n");
    for (const std::string& problem : report.problems) absl::StrAppend(&out, "  - ", problem, "\n");
  }
  if (!report.notes.empty()) {
    absl::StrAppend(&out, "\nnotes:\n");
    for (const std::string& note : report.notes) absl::StrAppend(&out, "  - ", note, "\n");
  }
  return out;
}

Json StatusJson(const StatusReport& report) {
  Json maps = Json::object();
  for (const auto& [name, present] : report.maps) maps[name] = present;
  Json links = Json::array();
  for (const LinkStatus& status : report.links) {
    const datapath::PinnedLink& link = status.link;
    Json entry = {{"program", link.program},
                  {"pin_path", link.pin_path},
                  {"pinned", link.pinned},
                  {"attached", link.pinned && link.error.empty() && link.cgroup_id != 0}};
    if (link.pinned && link.error.empty()) {
      entry["link_id"] = link.link_id;
      entry["program_id"] = link.program_id;
      entry["hook"] = status.hook.empty() ? Json(nullptr) : Json(status.hook);
      entry["cgroup_id"] = link.cgroup_id;
      entry["cgroup"] = status.cgroup_path.empty() ? Json(nullptr) : Json(status.cgroup_path);
    }
    if (!link.error.empty()) entry["error"] = link.error;
    links.push_back(std::move(entry));
  }
  Json counts = nullptr;
  if (report.counts) {
    counts = {{"services", report.counts->services},
              {"backend_sets", report.counts->backend_sets},
              {"backends", report.counts->backends},
              {"active_conns", report.counts->active_conns},
              {"node_zone_id", report.counts->node_zone_id},
              {"node_zone", OptionalJson(report.zones.Name(report.counts->node_zone_id))}};
  }
  const AgentStatus& agent = report.agent;
  Json agent_json = {{"url", agent.url.empty() ? Json(nullptr) : Json(agent.url)},
                     {"reachable", agent.healthz.has_value()},
                     {"healthz", agent.healthz ? Json(*agent.healthz) : Json(nullptr)},
                     {"readyz", agent.readyz ? Json(*agent.readyz) : Json(nullptr)},
                     {"readyz_body", agent.readyz_body},
                     {"error", agent.error.empty() ? Json(nullptr) : Json(agent.error)}};
  return Json{{"verdict", VerdictName(report.verdict)},
              {"summary", report.summary},
              {"problems", report.problems},
              {"notes", report.notes},
              {"pin_dir",
               {{"path", report.pin_dir.pin_dir},
                {"exists", report.pin_dir.exists},
                {"bpffs", report.pin_dir.fs_is_bpffs}}},
              {"maps", std::move(maps)},
              {"links", std::move(links)},
              {"counts", std::move(counts)},
              {"agent", std::move(agent_json)}};
}

}  // namespace skewless::ctl
