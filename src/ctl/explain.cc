// explain: the service's set and loads from the maps fed to select.h's skw_select through a
// userspace env that mirrors bpf/lib/steer_env.h, plus the facts that say why.
#include "skewless/ctl/explain.h"

#include <linux/types.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "skewless/backend_load.h"

namespace skewless::ctl {
namespace {

// What skw_select reads, from one DatapathState. Like the kernel's env, it hides a
// backend of the other address family than the VIP (as if ejected).
struct SelectEnv {
  const std::vector<std::uint32_t>* slots;  // [0] is the header, never read
  const DatapathState* state;
  bool vip_is_v4;
  std::mt19937* prng;
};

}  // namespace
}  // namespace skewless::ctl

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

static __always_inline const struct skw_backend* skw_env_backend(void* env, __u32 backend_id) {
  const auto* e = static_cast<const skewless::ctl::SelectEnv*>(env);
  auto it = e->state->maps.backends.find(backend_id);
  if (it == e->state->maps.backends.end()) return nullptr;
  if (skewless::ctl::IsV4(it->second.addr) != e->vip_is_v4) return nullptr;
  auto load = e->state->loads.find(backend_id);
  if (load != e->state->loads.end() && skw_load_ejected(&load->second, e->state->now_ns)) {
    return nullptr;
  }
  return &it->second;
}

static __always_inline __u64 skw_env_active(void* env, __u32 backend_id) {
  const auto* e = static_cast<const skewless::ctl::SelectEnv*>(env);
  auto it = e->state->loads.find(backend_id);
  return it == e->state->loads.end() ? 0 : skw_load_active(&it->second);
}

static __always_inline __u32 skw_env_slot(void* env, __u32 index) {
  const auto* e = static_cast<const skewless::ctl::SelectEnv*>(env);
  return index < e->slots->size() ? (*e->slots)[index] : 0;
}

static __always_inline __u32 skw_env_random(void* env) {
  return static_cast<__u32>((*static_cast<skewless::ctl::SelectEnv*>(env)->prng)());
}

static __always_inline __u64 skw_env_now_ns(void* env) {
  return static_cast<const skewless::ctl::SelectEnv*>(env)->state->now_ns;
}

#include "skewless/select.h"

namespace skewless::ctl {
namespace {

// A set layout: slot ids with slot 0 the header, and the header's counts.
struct Layout {
  std::vector<std::uint32_t> slots{0};
  skw_slot header{};
};

std::string SkipReason(const std::optional<skw_backend>& backend, bool vip_is_v4) {
  if (!backend) return "not in skw_backends";
  if (IsV4(backend->addr) != vip_is_v4) {
    return vip_is_v4 ? "IPv6 backend, IPv4 VIP" : "IPv4 backend, IPv6 VIP";
  }
  if (!skw_backend_usable(&*backend)) return BackendStateName(backend->state);
  return "";
}

Simulation Simulate(const DatapathState& state, const ServiceView& service, const Layout& layout,
                    const ExplainOptions& options) {
  Simulation simulation{.draws = options.draws, .seed = options.seed};
  std::mt19937 prng(options.seed);
  SelectEnv env{
      .slots = &layout.slots, .state = &state, .vip_is_v4 = IsV4(service.key.vip), .prng = &prng};
  for (std::uint32_t draw = 0; draw < options.draws; ++draw) {
    skw_choice choice{};
    const int result = skw_select(&env, &service.value, &layout.header, &state.maps.node, &choice);
    if (result != 0) {
      ++simulation.reasons[SKW_REASON_NONE];
      continue;
    }
    ++simulation.picks[choice.backend_id];
    if (choice.reason < SKW_REASON_COUNT) ++simulation.reasons[choice.reason];
  }
  return simulation;
}

Candidate CandidateOf(const DatapathState& state, const ServiceView& service, std::uint32_t slot,
                      std::uint32_t backend_id, Tier tier) {
  Candidate candidate{.slot = slot, .backend_id = backend_id, .tier = tier};
  if (auto it = state.maps.backends.find(backend_id); it != state.maps.backends.end()) {
    candidate.backend = it->second;
  }
  candidate.skipped = SkipReason(candidate.backend, IsV4(service.key.vip));
  skw_backend_load load{};
  if (auto it = state.loads.find(backend_id); it != state.loads.end()) load = it->second;
  candidate.active_conns = load.active_conns;
  candidate.cluster_conns = load.cluster_conns;
  if (candidate.backend) {
    const skw_backend& backend = *candidate.backend;
    candidate.weight = backend.weight ? backend.weight : 1;
    candidate.ramp_permille = skw_ramp_permille(&service.value, &backend, state.now_ns);
    // The kernel's cost: this node's connections, the splicer's streams, other nodes'.
    candidate.cost = skw_cost(skw_load_active(&load), backend.weight, candidate.ramp_permille);
    if (backend.ready_since_ns != 0 && state.now_ns > backend.ready_since_ns) {
      candidate.ready_for_ns = state.now_ns - backend.ready_since_ns;
    }
  }
  return candidate;
}

std::uint16_t ZoneOf(const Candidate& candidate) {
  return candidate.backend ? candidate.backend->zone_id : 0;
}

// The facts behind the layout: which tier comes first and why.
void Judge(const ServiceView& service, Scenario& scenario) {
  const auto ready_end = scenario.candidates.begin() + scenario.n_ready;
  auto in_tier = [&](Tier tier) {
    std::vector<const Candidate*> out;
    for (const Candidate& candidate : scenario.candidates) {
      if (candidate.tier == tier) out.push_back(&candidate);
    }
    return out;
  };
  if (!service.has_set) {
    scenario.reason = TierReason::kNoSet;
  } else if (scenario.n_ready == 0) {
    scenario.reason = scenario.n_serving > 0 ? TierReason::kNothingReady : TierReason::kNoBackend;
  } else if (!service.prefer_local()) {
    scenario.reason = TierReason::kNoPreference;
  } else if (scenario.n_preferred > 0) {
    const std::vector<const Candidate*> preferred = in_tier(Tier::kPreferred);
    const bool all_skipped = std::all_of(preferred.begin(), preferred.end(),
                                         [](const Candidate* c) { return !c->skipped.empty(); });
    scenario.reason = all_skipped ? TierReason::kPreferredAllSkipped : TierReason::kPreferred;
    const bool all_in_zone =
        scenario.node_zone_id != 0 &&
        std::all_of(preferred.begin(), preferred.end(),
                    [&](const Candidate* c) { return ZoneOf(*c) == scenario.node_zone_id; });
    const std::vector<const Candidate*> others = in_tier(Tier::kReady);
    const bool others_in_zone = std::any_of(others.begin(), others.end(), [&](const Candidate* c) {
      return ZoneOf(*c) == scenario.node_zone_id;
    });
    scenario.scope = !all_in_zone     ? PreferredScope::kUnknown
                     : others_in_zone ? PreferredScope::kNarrowerThanZone
                                      : PreferredScope::kSameZone;
  } else if (scenario.node_zone_id == 0) {
    scenario.reason = TierReason::kPreferredNodeZoneUnknown;
  } else if (std::any_of(scenario.candidates.begin(), ready_end,
                         [](const Candidate& c) { return ZoneOf(c) == 0; })) {
    // kube-proxy's rule, which the agent follows: zone hints count only when every ready
    // endpoint has one.
    scenario.reason = TierReason::kPreferredBackendWithoutZone;
  } else if (std::none_of(scenario.candidates.begin(), ready_end,
                          [&](const Candidate& c) { return ZoneOf(c) == scenario.node_zone_id; })) {
    scenario.reason = TierReason::kPreferredNoneInZone;
  } else {
    scenario.reason = TierReason::kPreferredEmpty;
  }
}

Scenario Run(const DatapathState& state, const ServiceView& service, const Layout& layout,
             std::uint16_t node_zone_id, const ExplainOptions& options) {
  Scenario scenario{.node_zone_id = node_zone_id};
  // Only slots the set really has: a header counting past its end makes select.h read
  // backend id 0 there, which it skips. The simulation still gets the header as written.
  scenario.n_ready = std::min<std::uint32_t>(layout.header.n_ready, layout.slots.size() - 1);
  scenario.n_serving =
      std::min<std::uint32_t>(layout.header.n_serving, layout.slots.size() - 1 - scenario.n_ready);
  scenario.n_preferred =
      service.prefer_local() ? std::min(layout.header.n_preferred, scenario.n_ready) : 0;
  for (std::uint32_t slot = 1; slot <= scenario.n_ready + scenario.n_serving; ++slot) {
    const Tier tier = slot > scenario.n_ready        ? Tier::kTerminating
                      : slot <= scenario.n_preferred ? Tier::kPreferred
                                                     : Tier::kReady;
    scenario.candidates.push_back(CandidateOf(state, service, slot, layout.slots[slot], tier));
  }
  Judge(service, scenario);
  scenario.simulation = Simulate(state, service, layout, options);
  return scenario;
}

Layout CurrentLayout(const DatapathState& state, const ServiceView& service) {
  Layout layout;
  if (!service.has_set) return layout;
  const std::vector<skw_slot>& set = state.maps.sets.at(service.value.service_id);
  layout.header = set.front();
  for (std::size_t slot = 1; slot < set.size(); ++slot) {
    layout.slots.push_back(set[slot].backend_id);
  }
  return layout;
}

// The set as the agent would write it on a node in `zone_id`: the ready backends of that
// zone first, unless a ready backend has no zone (kube-proxy then ignores zones).
Layout LayoutForZone(const DatapathState& state, const Layout& current, std::uint16_t zone_id) {
  if (current.slots.size() <= 1) return current;
  const std::uint32_t n_ready =
      std::min<std::uint32_t>(current.header.n_ready, current.slots.size() - 1);
  std::vector<std::uint32_t> in_zone;
  std::vector<std::uint32_t> others;
  bool every_ready_has_zone = true;
  for (std::uint32_t slot = 1; slot <= n_ready; ++slot) {
    const std::uint32_t id = current.slots[slot];
    auto backend = state.maps.backends.find(id);
    const std::uint16_t zone = backend == state.maps.backends.end() ? 0 : backend->second.zone_id;
    if (zone == 0) every_ready_has_zone = false;
    (zone_id != 0 && zone == zone_id ? in_zone : others).push_back(id);
  }
  if (!every_ready_has_zone) {
    Layout layout = current;
    layout.header.n_preferred = 0;
    return layout;
  }
  Layout layout;
  layout.header = current.header;
  layout.header.n_preferred = static_cast<std::uint16_t>(in_zone.size());
  layout.slots.insert(layout.slots.end(), in_zone.begin(), in_zone.end());
  layout.slots.insert(layout.slots.end(), others.begin(), others.end());
  layout.slots.insert(layout.slots.end(), current.slots.begin() + 1 + n_ready, current.slots.end());
  return layout;
}

}  // namespace

absl::StatusOr<Explanation> Explain(const DatapathState& state, const skw_service_key& key,
                                    const ExplainOptions& options) {
  absl::StatusOr<ServiceView> service = FindService(state, key);
  if (!service.ok()) return service.status();
  Explanation explanation{.service = *service, .node = state.maps.node};
  explanation.spill_ratio_permille = state.maps.node.spill_ratio_permille
                                         ? state.maps.node.spill_ratio_permille
                                         : SKW_DEFAULT_SPILL_RATIO_PERMILLE;
  explanation.spill_min_delta = state.maps.node.spill_min_delta ? state.maps.node.spill_min_delta
                                                                : SKW_DEFAULT_SPILL_MIN_DELTA;
  const Layout current = CurrentLayout(state, *service);
  explanation.current = Run(state, *service, current, state.maps.node.zone_id, options);
  if (options.zone_id) {
    const Layout layout =
        service->prefer_local() ? LayoutForZone(state, current, *options.zone_id) : current;
    explanation.with_zone = Run(state, *service, layout, *options.zone_id, options);
  }
  return explanation;
}

}  // namespace skewless::ctl
