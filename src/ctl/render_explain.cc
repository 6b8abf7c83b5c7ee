// explain as text and JSON: the service, the tier and why, each candidate's cost, and the
// simulated outcome (with --zone, the same again for that zone).
#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "format.h"
#include "skewless/common/lb_policy.h"
#include "skewless/common/net.h"
#include "skewless/ctl/render.h"
#include "skewless/ctl/table.h"
#include "skewless/datapath/backend_set.h"
#include "skewless/spill_rule.h"

namespace skewless::ctl {
namespace {

using Align = Table::Align;

std::string ZoneText(std::uint16_t zone_id, const ZoneNames& zones) {
  if (zone_id == 0) return "an unknown zone";
  if (std::optional<std::string> name = zones.Name(zone_id)) {
    return absl::StrCat(*name, " (id ", zone_id, ")");
  }
  return absl::StrCat("zone id ", zone_id);
}

std::string TierReasonName(TierReason reason) {
  switch (reason) {
    case TierReason::kNoSet:
      return "no-set";
    case TierReason::kNoBackend:
      return "no-backend";
    case TierReason::kNothingReady:
      return "nothing-ready";
    case TierReason::kNoPreference:
      return "no-preference";
    case TierReason::kPreferred:
      return "preferred";
    case TierReason::kPreferredAllSkipped:
      return "preferred-all-skipped";
    case TierReason::kPreferredNodeZoneUnknown:
      return "node-zone-unknown";
    case TierReason::kPreferredBackendWithoutZone:
      return "backend-without-zone";
    case TierReason::kPreferredNoneInZone:
      return "none-in-zone";
    case TierReason::kPreferredEmpty:
      return "preferred-empty";
  }
  return "?";
}

std::string ScopeName(PreferredScope scope) {
  switch (scope) {
    case PreferredScope::kNone:
      return "none";
    case PreferredScope::kSameZone:
      return "same-zone";
    case PreferredScope::kNarrowerThanZone:
      return "same-node";
    case PreferredScope::kUnknown:
      return "unknown";
  }
  return "?";
}

std::size_t CountInZone(const Scenario& scenario, std::uint16_t zone_id) {
  return static_cast<std::size_t>(std::count_if(
      scenario.candidates.begin(), scenario.candidates.end(), [&](const Candidate& c) {
        return c.tier != Tier::kTerminating && c.backend && c.backend->zone_id == zone_id;
      }));
}

// "1 ready backend", "3 ready backends".
std::string Count(std::uint32_t n, const std::string& noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

// Why connects go where they go: a headline, then one line per further fact.
std::vector<std::string> WhyTier(const Scenario& scenario, const ZoneNames& zones,
                                 std::uint8_t lb_policy) {
  const std::string zone = ZoneText(scenario.node_zone_id, zones);
  const std::uint32_t n_other = scenario.n_ready - scenario.n_preferred;
  const std::string prefers = "the service's trafficDistribution prefers local backends";
  const std::string all_ready =
      scenario.n_ready == 1 ? "the one ready backend takes every connect"
                            : absl::StrCat("P2C over all ", scenario.n_ready, " ready backends");
  switch (scenario.reason) {
    case TierReason::kNoSet:
      return {"no backend set is written for this service",
              "every connect is refused (ECONNREFUSED)"};
    case TierReason::kNoBackend:
      return {"no backend is ready or serving", "every connect is refused (ECONNREFUSED)"};
    case TierReason::kNothingReady:
      return {"no backend is ready",
              absl::StrCat("connects go to the ",
                           Count(scenario.n_serving, "serving-but-terminating backend"),
                           " (Kubernetes' fallback)")};
    case TierReason::kNoPreference:
      return {"the service has no trafficDistribution",
              scenario.n_ready == 1 ? all_ready : absl::StrCat(all_ready, ", whatever their zone")};
    case TierReason::kPreferred: {
      std::string scope;
      switch (scenario.scope) {
        case PreferredScope::kSameZone:
          scope = absl::StrCat("the ready backends in ", zone, ", this node's zone");
          break;
        case PreferredScope::kNarrowerThanZone:
          scope = absl::StrCat(scenario.n_preferred, " of the ",
                               CountInZone(scenario, scenario.node_zone_id), " ready backends in ",
                               zone, ": those on this node (PreferSameNode)");
          break;
        default:
          scope = absl::StrCat("as the agent wrote it, not simply the backends of ", zone,
                               ", this node's zone");
          break;
      }
      return {
          prefers,
          absl::StrCat("connects go to the preferred tier of ", scenario.n_preferred, ": ", scope),
          n_other == 0 ? "no other backend is ready, so there is nothing to spill to"
                       : absl::StrCat(n_other == 1 ? "the other ready backend gets"
                                                   : absl::StrCat("the other ", n_other,
                                                                  " ready backends get"),
                                      skw_policy_uses_load(lb_policy)
                                          ? " a connect only when the preferred tier is "
                                            "overloaded (the spill rule)"
                                          : " a connect only when no preferred backend can "
                                            "take it (random never spills by load)")};
    }
    case TierReason::kPreferredAllSkipped:
      return {prefers,
              absl::StrCat("but every preferred backend (", scenario.n_preferred,
                           ") is ejected or unusable"),
              absl::StrCat("connects go to the other ", Count(n_other, "ready backend"),
                           " (spill-no-preferred)")};
    case TierReason::kPreferredNodeZoneUnknown:
      return {prefers, "but this node's zone is unknown (skw_node zone 0): no preferred tier",
              all_ready};
    case TierReason::kPreferredBackendWithoutZone:
      return {prefers,
              "but a ready backend has no zone, and zones count only when every ready backend "
              "has one (kube-proxy's rule): no preferred tier",
              all_ready};
    case TierReason::kPreferredNoneInZone:
      return {prefers, absl::StrCat("but no ready backend is in ", zone, ": no preferred tier"),
              all_ready};
    case TierReason::kPreferredEmpty: {
      const auto in_zone = static_cast<std::uint32_t>(CountInZone(scenario, scenario.node_zone_id));
      return {
          prefers,
          absl::StrCat(Count(in_zone, "ready backend"), in_zone == 1 ? " is" : " are", " in ", zone,
                       ", but the agent wrote no preferred tier (a set it has yet to "
                       "rewrite?)"),
          all_ready};
    }
  }
  return {};
}

std::string CandidateNote(const Candidate& candidate, const ServiceView& service) {
  if (!candidate.skipped.empty()) return absl::StrCat("never drawn: ", candidate.skipped);
  if (candidate.ramp_permille < 1000 && candidate.backend) {
    return absl::StrCat(
        "slow start: ready ", FormatDuration(candidate.ready_for_ns), " of ",
        FormatDuration(std::uint64_t{service.value.slow_start_window_ms} * 1'000'000));
  }
  return "";
}

std::string CandidateBackend(const Candidate& candidate) {
  return candidate.backend ? BackendLabel(*candidate.backend) : "(not in skw_backends)";
}

std::uint64_t Refused(const Simulation& simulation) { return simulation.reasons[SKW_REASON_NONE]; }

std::string RenderScenario(const Scenario& scenario, const ServiceView& service,
                           const ZoneNames& zones) {
  const std::vector<std::string> why = WhyTier(scenario, zones, service.value.lb_policy);
  std::string out = absl::StrCat("tier: ", absl::StrJoin(why, "\n  "), "\n");
  if (scenario.candidates.empty()) return out;

  absl::StrAppend(
      &out, "\ncandidates (cost = (active + cluster + 1) x 1000000 / (weight x ramp permille); ",
      service.value.lb_policy == SKW_LB_RANDOM ? "random: one uniform draw, the cost is not weighed"
                                               : "P2C draws two and the cheaper wins",
      "):\n");
  Table candidates({{"SLOT", Align::kRight},
                    {"TIER"},
                    {"ID", Align::kRight},
                    {"BACKEND"},
                    {"ZONE"},
                    {"STATE"},
                    {"ACTIVE", Align::kRight},
                    {"CLUSTER", Align::kRight},
                    {"WEIGHT", Align::kRight},
                    {"RAMP", Align::kRight},
                    {"COST", Align::kRight},
                    {"NOTE"}});
  for (const Candidate& candidate : scenario.candidates) {
    if (!candidate.backend) {
      candidates.AddRow({absl::StrCat(candidate.slot), TierName(candidate.tier),
                         absl::StrCat(candidate.backend_id), CandidateBackend(candidate), "", "",
                         "", "", "", "", "", CandidateNote(candidate, service)});
      continue;
    }
    candidates.AddRow({absl::StrCat(candidate.slot), TierName(candidate.tier),
                       absl::StrCat(candidate.backend_id), CandidateBackend(candidate),
                       zones.Label(candidate.backend->zone_id),
                       BackendStateName(candidate.backend->state),
                       absl::StrCat(candidate.active_conns), absl::StrCat(candidate.cluster_conns),
                       absl::StrCat(candidate.weight), FormatPermille(candidate.ramp_permille),
                       absl::StrCat(candidate.cost), CandidateNote(candidate, service)});
  }
  absl::StrAppend(&out, candidates.Render());

  const Simulation& simulation = scenario.simulation;
  absl::StrAppend(&out, "\noutcome of ", simulation.draws,
                  " simulated connects (select.h with the current loads held still, seed ",
                  simulation.seed, "):\n");
  if (Refused(simulation) == simulation.draws) {
    return absl::StrCat(out, "every one is refused (ECONNREFUSED)\n");
  }
  Table picks(
      {{"BACKEND"}, {"ZONE"}, {"TIER"}, {"PICKS", Align::kRight}, {"SHARE", Align::kRight}});
  std::uint32_t best_id = 0;
  std::uint64_t best = 0;
  for (const Candidate& candidate : scenario.candidates) {
    if (!candidate.skipped.empty()) continue;
    auto it = simulation.picks.find(candidate.backend_id);
    const std::uint64_t count = it == simulation.picks.end() ? 0 : it->second;
    if (count > best) {
      best = count;
      best_id = candidate.backend_id;
    }
    picks.AddRow({CandidateBackend(candidate), zones.Label(candidate.backend->zone_id),
                  TierName(candidate.tier), absl::StrCat(count),
                  FormatShare(count, simulation.draws)});
  }
  absl::StrAppend(&out, picks.Render());
  std::vector<std::string> reasons;
  for (std::uint32_t reason = 0; reason < SKW_REASON_COUNT; ++reason) {
    if (simulation.reasons[reason] != 0) {
      reasons.push_back(absl::StrCat(ReasonName(reason), " ", simulation.reasons[reason]));
    }
  }
  absl::StrAppend(&out, "by reason: ", absl::StrJoin(reasons, ", "), "\n");
  for (const Candidate& candidate : scenario.candidates) {
    if (candidate.backend_id == best_id && candidate.skipped.empty()) {
      absl::StrAppend(&out, "a connect now most likely goes to ", CandidateBackend(candidate), " (",
                      FormatShare(best, simulation.draws), " of the draws)\n");
      break;
    }
  }
  return out;
}

Json CandidateJson(const Candidate& candidate, const ZoneNames& zones) {
  Json entry = {
      {"slot", candidate.slot}, {"tier", TierName(candidate.tier)}, {"id", candidate.backend_id}};
  if (candidate.backend) {
    entry["address"] = net::FormatSkwAddr(candidate.backend->addr);
    entry["port"] = ntohs(candidate.backend->port);
    entry["zone_id"] = candidate.backend->zone_id;
    entry["zone"] = OptionalJson(zones.Name(candidate.backend->zone_id));
    entry["state"] = BackendStateName(candidate.backend->state);
  }
  entry["skipped"] = candidate.skipped.empty() ? Json(nullptr) : Json(candidate.skipped);
  entry["active_conns"] = candidate.active_conns;
  entry["cluster_conns"] = candidate.cluster_conns;
  entry["weight"] = candidate.weight;
  entry["ramp_permille"] = candidate.ramp_permille;
  entry["cost"] = candidate.cost;
  entry["ready_for_ms"] = candidate.ready_for_ns / 1'000'000;
  return entry;
}

Json ScenarioJson(const Scenario& scenario, const ZoneNames& zones, std::uint8_t lb_policy) {
  Json candidates = Json::array();
  for (const Candidate& candidate : scenario.candidates) {
    candidates.push_back(CandidateJson(candidate, zones));
  }
  const Simulation& simulation = scenario.simulation;
  Json picks = Json::array();
  for (const auto& [id, count] : simulation.picks) {
    Json pick = {{"id", id}};
    for (const Candidate& candidate : scenario.candidates) {
      if (candidate.backend_id == id && candidate.backend) {
        pick["address"] = net::FormatSkwAddr(candidate.backend->addr);
        pick["port"] = ntohs(candidate.backend->port);
        break;
      }
    }
    pick["count"] = count;
    pick["share"] = ShareJson(count, simulation.draws);
    picks.push_back(std::move(pick));
  }
  Json reasons = Json::object();
  for (std::uint32_t reason = 0; reason < SKW_REASON_COUNT; ++reason) {
    if (simulation.reasons[reason] != 0) reasons[ReasonName(reason)] = simulation.reasons[reason];
  }
  return Json{{"node_zone_id", scenario.node_zone_id},
              {"node_zone", OptionalJson(zones.Name(scenario.node_zone_id))},
              {"tier_reason", TierReasonName(scenario.reason)},
              {"preferred_scope", ScopeName(scenario.scope)},
              {"preferred", scenario.n_preferred},
              {"ready", scenario.n_ready},
              {"terminating", scenario.n_serving},
              {"why", WhyTier(scenario, zones, lb_policy)},
              {"candidates", std::move(candidates)},
              {"simulation",
               {{"draws", simulation.draws},
                {"seed", simulation.seed},
                {"refused", Refused(simulation)},
                {"picks", std::move(picks)},
                {"reasons", std::move(reasons)}}}};
}

std::string ServiceLine(const Explanation& explanation) {
  const ServiceView& service = explanation.service;
  std::string line =
      absl::StrCat("service ", ServiceLabel(service.key), " (id ", service.value.service_id, "), ",
                   service.prefer_local() ? "prefers local backends" : "no zone preference", ", ",
                   std::string(LbPolicyName(service.value.lb_policy)));
  if (service.value.slow_start_window_ms != 0) {
    absl::StrAppend(&line, ", slow start ",
                    FormatDuration(std::uint64_t{service.value.slow_start_window_ms} * 1'000'000));
  }
  return line + "\n";
}

}  // namespace

std::string RenderExplainText(const Explanation& explanation, const ZoneNames& zones) {
  std::string out = ServiceLine(explanation);
  absl::StrAppend(&out, "node: ", ZoneText(explanation.node.zone_id, zones), "\n");
  if (explanation.service.value.lb_policy == SKW_LB_RANDOM) {
    absl::StrAppend(&out,
                    "spill: never by load (random); only when no preferred backend can "
                    "take the connect\n\n");
  } else {
    absl::StrAppend(&out, "spill: out of the preferred tier when its P2C winner costs more than ",
                    FormatRatio(explanation.spill_ratio_permille),
                    " a sampled other backend and has at least ", explanation.spill_min_delta,
                    " more active connections\n\n");
  }
  absl::StrAppend(&out, RenderScenario(explanation.current, explanation.service, zones));
  if (explanation.with_zone) {
    const Scenario& with_zone = *explanation.with_zone;
    absl::StrAppend(&out, "\nas if this node were in ", ZoneText(with_zone.node_zone_id, zones),
                    " (--zone):\n");
    if (!explanation.service.prefer_local()) {
      absl::StrAppend(&out,
                      "the service does not prefer local backends: the node's zone changes "
                      "nothing\n");
    } else {
      absl::StrAppend(&out, RenderScenario(with_zone, explanation.service, zones));
    }
  }
  if (zones.source.empty()) {
    absl::StrAppend(&out, "\nzones are ids: the agent was not reachable for their names\n");
  }
  return out;
}

Json ExplainJson(const Explanation& explanation, const ZoneNames& zones) {
  const ServiceView& service = explanation.service;
  Json service_json = {{"service", ServiceLabel(service.key)},
                       {"vip", net::FormatSkwAddr(service.key.vip)},
                       {"port", ntohs(service.key.port)},
                       {"protocol", ProtocolName(service.key.proto)},
                       {"service_id", service.value.service_id},
                       {"prefer_local", service.prefer_local()},
                       {"slow_start_window_ms", service.value.slow_start_window_ms},
                       {"lb_policy", LbPolicyName(service.value.lb_policy)}};
  Json node = {{"zone_id", explanation.node.zone_id},
               {"zone", OptionalJson(zones.Name(explanation.node.zone_id))},
               {"spill_ratio_permille", explanation.spill_ratio_permille},
               {"spill_min_delta", explanation.spill_min_delta}};
  return Json{{"service", std::move(service_json)},
              {"node", std::move(node)},
              {"current", ScenarioJson(explanation.current, zones, service.value.lb_policy)},
              {"with_zone", explanation.with_zone ? ScenarioJson(*explanation.with_zone, zones,
                                                                 service.value.lb_policy)
                                                  : Json(nullptr)}};
}

}  // namespace skewless::ctl
