// Diffing writer of the steering maps: ids, tiers, ordered writes, garbage collection.
#include "skewless/datapath/service_table.h"

#include <arpa/inet.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "skewless/common/name_numbering.h"
#include "skewless/common/net.h"

namespace skewless::datapath {
namespace {

bool SameSlots(const std::vector<skw_slot>& a, const std::vector<skw_slot>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(skw_slot)) == 0);
}

template <typename T>
bool SameBytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// READY beats SERVING beats anything else when services disagree about a backend.
int Rank(std::uint8_t state) {
  switch (state) {
    case SKW_BACKEND_READY:
      return 2;
    case SKW_BACKEND_SERVING:
      return 1;
    default:
      return 0;
  }
}

absl::StatusOr<skw_service_key> KeyOf(const std::string& vip, std::uint16_t port,
                                      Protocol protocol) {
  absl::StatusOr<skw_addr> addr = net::ParseSkwAddr(vip);
  if (!addr.ok()) return addr.status();
  skw_service_key key{};
  key.vip = *addr;
  key.port = htons(port);
  key.proto = static_cast<std::uint8_t>(protocol);
  return key;
}

std::string Describe(const ServiceSpec& spec) {
  return absl::StrCat("service ", spec.name.empty() ? "(unnamed)" : spec.name, " (", spec.vip, ":",
                      spec.port, spec.protocol == Protocol::kUdp ? "/udp" : "/tcp", ")");
}

// Sorted vectors as sets and maps (`Less` orders elements, `KeyOf` gives an element's key).
template <typename Sorted, typename Key, typename KeyOf, typename Less = std::less<>>
auto FindSorted(Sorted& sorted, const Key& key, KeyOf key_of, Less less = {}) {
  auto it = std::lower_bound(
      sorted.begin(), sorted.end(), key,
      [&](const auto& element, const Key& wanted) { return less(key_of(element), wanted); });
  return it != sorted.end() && !less(key, key_of(*it)) ? it : sorted.end();
}

template <typename Sorted, typename Less>
void InsertSorted(Sorted& sorted, const typename Sorted::value_type& value, Less less) {
  auto it = std::lower_bound(sorted.begin(), sorted.end(), value, less);
  if (it == sorted.end() || less(value, *it)) sorted.insert(it, value);
}

template <typename Sorted, typename Less>
void EraseSorted(Sorted& sorted, const typename Sorted::value_type& value, Less less) {
  auto it = std::lower_bound(sorted.begin(), sorted.end(), value, less);
  if (it != sorted.end() && !less(value, *it)) sorted.erase(it);
}

constexpr auto kAddressOf = [](const auto& listed) -> const BackendAddress& {
  return listed.address;
};

// Sorts a listing by address; of an address listed twice the first listing stays.
template <typename Listing>
void SortListing(Listing& listing) {
  std::stable_sort(listing.begin(), listing.end(),
                   [](const auto& a, const auto& b) { return a.address < b.address; });
  auto duplicates = std::unique(listing.begin(), listing.end(), [](const auto& a, const auto& b) {
    return std::is_eq(a.address <=> b.address);
  });
  listing.erase(duplicates, listing.end());
}

}  // namespace

std::uint64_t MonotonicNowNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(now.tv_nsec);
}

absl::StatusOr<std::uint16_t> ZoneIds::IdOf(const std::string& zone) {
  if (zone.empty()) return 0;
  if (auto it = ids_.find(zone); it != ids_.end()) return it->second;
  if (ids_.size() >= 0xffff) {
    return absl::ResourceExhaustedError(
        absl::StrCat("zone \"", zone, "\": all 65535 zone ids are taken"));
  }
  const auto id = static_cast<std::uint16_t>(ids_.size() + 1);
  ids_.emplace(zone, id);
  names_.push_back(zone);
  return id;
}

const std::string& ZoneIds::NameOf(std::uint16_t id) const {
  static const std::string unknown;
  return id == 0 || id > names_.size() ? unknown : names_[id - 1];
}

bool ServiceTable::KeyLess::operator()(const skw_service_key& a, const skw_service_key& b) const {
  return std::memcmp(&a, &b, sizeof(a)) < 0;
}

std::optional<std::uint32_t> ServiceTable::IdPool::Allocate() {
  if (next_ < limit_) return next_++;
  if (released_.empty()) return std::nullopt;
  const std::uint32_t id = released_.front();
  released_.pop_front();
  return id;
}

void ServiceTable::IdPool::MarkUsed(const std::set<std::uint32_t>& used) {
  released_.clear();
  next_ = used.empty() ? 1 : *used.rbegin() + 1;
  for (std::uint32_t id = 1; id < next_; ++id) {
    if (!used.contains(id)) released_.push_back(id);
  }
}

ServiceTable::ServiceTable(SteeringMaps& maps, std::function<std::uint64_t()> now_ns)
    : maps_(maps), now_ns_(std::move(now_ns)) {}

absl::Status ServiceTable::Recover() {
  absl::StatusOr<SteeringMapsSnapshot> snapshot = maps_.Read();
  if (!snapshot.ok()) return snapshot.status();
  services_.clear();
  backends_.clear();
  orphan_sets_.clear();
  node_written_ = snapshot->node;

  std::map<std::uint32_t, BackendAddress> address_of;
  std::set<std::uint32_t> backend_ids;
  for (const auto& [id, backend] : snapshot->backends) {
    const BackendAddress address{.addr = backend.addr, .port = ntohs(backend.port)};
    address_of[id] = address;
    backend_ids.insert(id);
    BackendEntry& entry = backends_[address];
    entry.id = id;
    entry.written = backend;
  }
  std::set<std::uint32_t> service_ids;
  for (const auto& [key, value] : snapshot->services) {
    ServiceState& service = services_[key];
    service.value = value;
    service.value_written = true;
    service_ids.insert(value.service_id);
    auto set = snapshot->sets.find(value.service_id);
    if (set == snapshot->sets.end()) continue;  // crashed before the swap: rewritten on Apply
    service.slots = set->second;
    for (std::size_t i = 1; i < service.slots.size(); ++i) {
      auto address = address_of.find(service.slots[i].backend_id);
      if (address == address_of.end()) {
        service.slots.clear();  // points at a deleted backend: rewrite it
        break;
      }
      const skw_backend& backend = snapshot->backends.at(service.slots[i].backend_id);
      service.listed.push_back(ListedBackend{
          .address = address->second,
          .view = {.zone_id = backend.zone_id, .weight = backend.weight, .state = backend.state}});
      InsertSorted(backends_[address->second].referrers, key, KeyLess{});
    }
    SortListing(service.listed);
  }
  for (const auto& [id, slots] : snapshot->sets) {
    if (!service_ids.contains(id)) orphan_sets_.insert(id);
  }
  // Unreferenced before we started: deleted on the next call unless listed again.
  pending_deletes_.clear();
  for (auto it = backends_.begin(); it != backends_.end();) {
    if (!it->second.referrers.empty()) {
      ++it;
      continue;
    }
    pending_deletes_[it->first] =
        PendingDelete{.id = it->second.id, .written = it->second.written, .dropped_at_ns = {}};
    it = backends_.erase(it);
  }
  service_ids.insert(orphan_sets_.begin(), orphan_sets_.end());
  service_ids_.MarkUsed(service_ids);
  backend_ids_.MarkUsed(backend_ids);
  return absl::OkStatus();
}

absl::Status ServiceTable::SetNode(const NodeConfig& node) {
  absl::StatusOr<std::uint16_t> zone_id = zones_.IdOf(node.locality.zone);
  if (!zone_id.ok()) return zone_id.status();
  skw_node_config value{};
  value.zone_id = *zone_id;
  value.spill_ratio_permille = node.spill_ratio_permille;
  value.spill_min_delta = node.spill_min_delta;
  if (!node.splicer_address.empty()) {
    absl::StatusOr<net::IpPort> splicer = net::ParseIpPort(node.splicer_address);
    if (splicer.ok() && splicer->port == 0) splicer = absl::InvalidArgumentError("port 0");
    if (!splicer.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("splicer address \"", node.splicer_address,
                                                     "\": ", splicer.status().message()));
    }
    value.splicer_addr = net::ToSkwAddr(splicer->ip);
    value.splicer_port = htons(splicer->port);
    value.splicer_mark = node.splicer_mark;
  }
  const bool locality_changed = node.locality.zone != node_.locality.zone ||
                                node.locality.node_name != node_.locality.node_name;
  node_ = node;
  if (!node_written_.has_value() || !SameBytes(*node_written_, value)) {
    ++counts_.node_writes;
    if (absl::Status status = maps_.WriteNode(value); !status.ok()) return status;
    node_written_ = value;
  }
  if (!locality_changed) return absl::OkStatus();
  // Preferred tiers depend on where we are: rebuild every set we have a spec for.
  std::vector<ServiceSpec> specs;
  for (const auto& [key, service] : services_) {
    if (service.spec.has_value()) specs.push_back(SpecOf(key, *service.spec));
  }
  std::vector<PlannedService> planned;
  for (const ServiceSpec& spec : specs) {
    absl::StatusOr<PlannedService> plan = Plan(spec);
    if (!plan.ok()) return plan.status();
    planned.push_back(*std::move(plan));
  }
  return Commit(planned, {});
}

absl::StatusOr<ServiceTable::PlannedService> ServiceTable::Plan(const ServiceSpec& spec) {
  PlannedService planned;
  planned.spec = &spec;
  absl::StatusOr<skw_service_key> key = KeyOf(spec.vip, spec.port, spec.protocol);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(spec), ": VIP: ", key.status().message()));
  }
  if (spec.port == 0) return absl::InvalidArgumentError(absl::StrCat(Describe(spec), ": port 0"));
  planned.key = *key;
  absl::StatusOr<BackendSet> set =
      BuildBackendSet(spec.endpoints, spec.traffic_distribution, node_.locality);
  if (!set.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(spec), ": ", set.status().message()));
  }
  planned.set = *std::move(set);
  planned.stored = StoredSpec{.name = spec.name,
                              .traffic_distribution = spec.traffic_distribution,
                              .slow_start_window_ms = spec.slow_start_window_ms,
                              .lb_policy = spec.lb_policy,
                              .splice = spec.splice};
  planned.stored.endpoints.reserve(spec.endpoints.size());
  NameNumbering node_names(planned.stored.node_names);
  planned.listed.reserve(spec.endpoints.size());
  // Every listed endpoint keeps its backend id; only set members are usable.
  for (const Endpoint& endpoint : spec.endpoints) {
    absl::StatusOr<skw_addr> addr = net::ParseSkwAddr(endpoint.address);  // checked by the build
    if (!addr.ok()) return addr.status();
    absl::StatusOr<std::uint16_t> zone_id = zones_.IdOf(endpoint.zone);
    if (!zone_id.ok()) return zone_id.status();
    const BackendAddress backend{.addr = *addr, .port = endpoint.port};
    planned.listed.push_back(ListedBackend{
        .address = backend,
        .view = {.zone_id = *zone_id, .weight = endpoint.weight, .state = SKW_BACKEND_UNUSED}});
    planned.stored.endpoints.push_back(
        StoredEndpoint{.backend = backend,
                       .node_name = node_names.IndexOf(endpoint.node_name),
                       .zone_id = *zone_id,
                       .weight = endpoint.weight,
                       .ready = endpoint.ready,
                       .serving = endpoint.serving,
                       .terminating = endpoint.terminating});
  }
  SortListing(planned.listed);
  for (const SetMember& member : planned.set.members) {
    auto listed = FindSorted(planned.listed, member.backend, kAddressOf);  // members are listed
    absl::StatusOr<std::uint16_t> zone_id = zones_.IdOf(member.zone);
    if (!zone_id.ok()) return zone_id.status();
    listed->view = BackendView{.zone_id = *zone_id,
                               .weight = member.weight,
                               .state = static_cast<std::uint8_t>(member.state)};
  }
  return planned;
}

ServiceSpec ServiceTable::SpecOf(const skw_service_key& key, const StoredSpec& stored) const {
  ServiceSpec spec{.name = stored.name,
                   .vip = net::FormatSkwAddr(key.vip),
                   .port = ntohs(key.port),
                   .protocol = static_cast<Protocol>(key.proto),
                   .traffic_distribution = stored.traffic_distribution,
                   .slow_start_window_ms = stored.slow_start_window_ms,
                   .lb_policy = stored.lb_policy,
                   .splice = stored.splice};
  spec.endpoints.reserve(stored.endpoints.size());
  for (const StoredEndpoint& endpoint : stored.endpoints) {
    spec.endpoints.push_back(Endpoint{.address = net::FormatSkwAddr(endpoint.backend.addr),
                                      .port = endpoint.backend.port,
                                      .zone = zones_.NameOf(endpoint.zone_id),
                                      .node_name = stored.node_names[endpoint.node_name],
                                      .weight = endpoint.weight,
                                      .ready = endpoint.ready,
                                      .serving = endpoint.serving,
                                      .terminating = endpoint.terminating});
  }
  return spec;
}

absl::Status ServiceTable::WriteBackendIfChanged(const BackendAddress& address,
                                                 BackendEntry& entry) {
  if (entry.referrers.empty()) return absl::OkStatus();  // about to be deleted
  skw_backend value{};
  value.addr = address.addr;
  value.port = htons(address.port);
  bool first = true;
  for (const skw_service_key& key : entry.referrers) {
    const BackendView& view = FindSorted(services_.at(key).listed, address, kAddressOf)->view;
    if (first || Rank(view.state) > Rank(value.state)) value.state = view.state;
    if (value.zone_id == 0) value.zone_id = view.zone_id;
    value.weight = first ? view.weight : std::max(value.weight, view.weight);
    first = false;
  }
  const bool was_ready = entry.written.has_value() && entry.written->state == SKW_BACKEND_READY;
  if (value.state == SKW_BACKEND_READY) {
    value.ready_since_ns = was_ready ? entry.written->ready_since_ns : now_ns_();
  }
  if (entry.written.has_value() && SameBytes(*entry.written, value)) return absl::OkStatus();
  ++counts_.backend_writes;
  if (absl::Status status = maps_.WriteBackend(entry.id, value); !status.ok()) {
    entry.written.reset();
    return status;
  }
  entry.written = value;
  return absl::OkStatus();
}

absl::Status ServiceTable::List(const PlannedService& planned, std::set<BackendAddress>& touched) {
  auto [it, created] = services_.try_emplace(planned.key);
  ServiceState& service = it->second;
  if (created) {
    std::optional<std::uint32_t> id = service_ids_.Allocate();
    if (!id.has_value()) {
      services_.erase(it);
      return absl::ResourceExhaustedError(
          absl::StrCat(Describe(*planned.spec), ": all ", SKW_MAX_SERVICES, " service ids in use"));
    }
    service.value.service_id = *id;
  }
  service.spec = planned.stored;
  Listing previous = std::exchange(service.listed, planned.listed);
  for (const auto& [address, view] : service.listed) {
    auto [entry, added] = backends_.try_emplace(address);
    if (added) {
      if (auto pending = pending_deletes_.find(address); pending != pending_deletes_.end()) {
        // Listed again before its delete: same id, and what the map holds.
        entry->second.id = pending->second.id;
        entry->second.written = pending->second.written;
        pending_deletes_.erase(pending);
      } else if (std::optional<std::uint32_t> id = backend_ids_.Allocate(); id.has_value()) {
        entry->second.id = *id;
      } else {
        backends_.erase(entry);
        for (const auto& [listed, unused] : service.listed) {
          if (auto other = backends_.find(listed); other != backends_.end()) {
            EraseSorted(other->second.referrers, planned.key, KeyLess{});
            touched.insert(listed);
          }
        }
        service.listed = previous;
        for (const auto& [listed, unused] : previous)
          InsertSorted(backends_[listed].referrers, planned.key, KeyLess{});
        service.slots.clear();
        return absl::ResourceExhaustedError(
            absl::StrCat(Describe(*planned.spec), ": backend ", net::FormatSkwAddr(address.addr),
                         ":", address.port, ": all ", SKW_MAX_BACKENDS - 1, " backend ids in use"));
      }
    }
    InsertSorted(entry->second.referrers, planned.key, KeyLess{});
    touched.insert(address);
  }
  for (const auto& [address, view] : previous) {
    if (FindSorted(service.listed, address, kAddressOf) == service.listed.end()) {
      EraseSorted(backends_.at(address).referrers, planned.key, KeyLess{});
      touched.insert(address);
    }
  }
  return absl::OkStatus();
}

std::vector<skw_slot> ServiceTable::SlotsOf(const PlannedService& planned) const {
  std::vector<skw_slot> slots(planned.set.members.size() + 1);
  slots[0].n_preferred = planned.set.n_preferred;
  slots[0].n_ready = planned.set.n_ready;
  slots[0].n_serving = planned.set.n_serving;
  for (std::size_t i = 0; i < planned.set.members.size(); ++i) {
    slots[i + 1].backend_id = backends_.at(planned.set.members[i].backend).id;
  }
  return slots;
}

absl::Status ServiceTable::Commit(const std::vector<PlannedService>& planned,
                                  const std::vector<skw_service_key>& gone) {
  // Bookkeeping first: who lists which backend once this call is done.
  std::set<BackendAddress> touched;
  absl::Status listed = absl::OkStatus();
  std::vector<const PlannedService*> written;
  for (const PlannedService& plan : planned) {
    listed = List(plan, touched);
    if (!listed.ok()) break;  // the ones listed so far are still written, in order
    written.push_back(&plan);
  }
  if (listed.ok()) {
    for (const skw_service_key& key : gone) {
      for (const auto& [address, view] : services_.at(key).listed) {
        EraseSorted(backends_.at(address).referrers, key, KeyLess{});
        touched.insert(address);
      }
    }
  }

  // 1. Backends the new sets reference exist (and are current) before any swap.
  for (const BackendAddress& address : touched) {
    auto entry = backends_.find(address);
    if (entry == backends_.end()) continue;
    if (absl::Status status = WriteBackendIfChanged(address, entry->second); !status.ok()) {
      return status;
    }
  }

  // 2. Every changed set, in one batch.
  BackendSetSwaps swaps;
  std::vector<ServiceState*> swapped;
  for (const PlannedService* plan : written) {
    ServiceState& service = services_.at(plan->key);
    std::vector<skw_slot> slots = SlotsOf(*plan);
    if (SameSlots(slots, service.slots)) continue;
    swaps.emplace_back(service.value.service_id, std::move(slots));
    swapped.push_back(&service);
  }
  if (!swaps.empty()) {
    counts_.set_swaps += swaps.size();
    ++counts_.set_swap_batches;
    if (absl::Status status = maps_.SwapBackendSets(swaps); !status.ok()) {
      for (ServiceState* service : swapped) service->slots.clear();  // rewritten next time
      return status;
    }
    for (std::size_t i = 0; i < swaps.size(); ++i) swapped[i]->slots = std::move(swaps[i].second);
  }

  // 3. The service entries, which make the VIPs steer (to the sets now in place).
  for (const PlannedService* plan : written) {
    ServiceState& service = services_.at(plan->key);
    skw_service value{};
    value.service_id = service.value.service_id;
    value.flags = 0;
    if (plan->spec->traffic_distribution != TrafficDistribution::kNone) {
      value.flags |= SKW_SVC_F_PREFER_LOCAL;
    }
    if (plan->spec->splice) value.flags |= SKW_SVC_F_SPLICE;
    value.slow_start_window_ms = plan->spec->slow_start_window_ms;
    value.lb_policy = plan->spec->lb_policy;
    if (service.value_written && SameBytes(service.value, value)) continue;
    ++counts_.service_writes;
    service.value = value;
    if (absl::Status status = maps_.WriteService(plan->key, value); !status.ok()) {
      service.value_written = false;
      return absl::Status(status.code(),
                          absl::StrCat(Describe(*plan->spec), ": ", status.message()));
    }
    service.value_written = true;
  }
  if (!listed.ok()) {
    PendUnreferenced(touched);
    return listed;
  }

  // 4. Removed services: entries first (new connects stop finding them), then their sets.
  std::vector<std::uint32_t> dead_sets(orphan_sets_.begin(), orphan_sets_.end());
  for (const skw_service_key& key : gone) {
    ++counts_.service_deletes;
    if (absl::Status status = maps_.DeleteService(key); !status.ok() && !absl::IsNotFound(status)) {
      return status;
    }
    dead_sets.push_back(services_.at(key).value.service_id);
  }
  if (!dead_sets.empty()) {
    counts_.set_deletes += dead_sets.size();
    if (absl::Status status = maps_.DeleteBackendSets(dead_sets);
        !status.ok() && !absl::IsNotFound(status)) {
      return status;
    }
  }
  for (std::uint32_t id : dead_sets) service_ids_.Release(id);
  orphan_sets_.clear();
  for (const skw_service_key& key : gone) services_.erase(key);

  // 5. Backends no set references any more: pending until their grace ends.
  PendUnreferenced(touched);
  return DeleteExpiredBackends();
}

void ServiceTable::PendUnreferenced(const std::set<BackendAddress>& touched) {
  const std::uint64_t now_ns = now_ns_();
  for (const BackendAddress& address : touched) {
    auto entry = backends_.find(address);
    if (entry == backends_.end() || !entry->second.referrers.empty()) continue;
    pending_deletes_[address] = PendingDelete{
        .id = entry->second.id, .written = entry->second.written, .dropped_at_ns = now_ns};
    backends_.erase(entry);
  }
}

absl::Status ServiceTable::DeleteExpiredBackends() {
  const std::uint64_t now_ns = now_ns_();
  for (auto it = pending_deletes_.begin(); it != pending_deletes_.end();) {
    const std::optional<std::uint64_t>& dropped_at_ns = it->second.dropped_at_ns;
    if (dropped_at_ns.has_value() && now_ns - *dropped_at_ns < kBackendDeleteGraceNs) {
      ++it;
      continue;
    }
    ++counts_.backend_deletes;
    if (absl::Status status = maps_.DeleteBackend(it->second.id);
        !status.ok() && !absl::IsNotFound(status)) {
      return status;
    }
    backend_ids_.Release(it->second.id);
    it = pending_deletes_.erase(it);
  }
  return absl::OkStatus();
}

absl::Status ServiceTable::PlanAll(const std::vector<ServiceSpec>& specs,
                                   std::vector<PlannedService>* planned,
                                   std::set<skw_service_key, KeyLess>* keys) {
  std::map<skw_service_key, const ServiceSpec*, KeyLess> seen;
  for (const ServiceSpec& spec : specs) {
    absl::StatusOr<PlannedService> plan = Plan(spec);
    if (!plan.ok()) return plan.status();
    if (auto [it, inserted] = seen.emplace(plan->key, &spec); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat(Describe(spec), " and ", Describe(*it->second),
                                                     " are the same VIP, port and protocol"));
    }
    keys->insert(plan->key);
    planned->push_back(*std::move(plan));
  }
  return absl::OkStatus();
}

absl::Status ServiceTable::Apply(const std::vector<ServiceSpec>& desired) {
  std::vector<PlannedService> planned;
  std::set<skw_service_key, KeyLess> keys;
  if (absl::Status status = PlanAll(desired, &planned, &keys); !status.ok()) return status;
  std::vector<skw_service_key> gone;
  for (const auto& [key, service] : services_) {
    if (!keys.contains(key)) gone.push_back(key);
  }
  return Commit(planned, gone);
}

absl::Status ServiceTable::Upsert(const ServiceSpec& spec) {
  absl::StatusOr<PlannedService> plan = Plan(spec);
  if (!plan.ok()) return plan.status();
  return Commit({*std::move(plan)}, {});
}

absl::Status ServiceTable::Change(const std::vector<ServiceSpec>& upserts,
                                  const std::vector<ServiceRef>& removals) {
  std::vector<PlannedService> planned;
  std::set<skw_service_key, KeyLess> keys;
  if (absl::Status status = PlanAll(upserts, &planned, &keys); !status.ok()) return status;
  std::vector<skw_service_key> gone;
  for (const ServiceRef& removal : removals) {
    absl::StatusOr<skw_service_key> key = KeyOf(removal.vip, removal.port, removal.protocol);
    if (!key.ok()) return key.status();
    if (services_.contains(*key) && !keys.contains(*key)) gone.push_back(*key);
  }
  if (planned.empty() && gone.empty()) return DeleteExpiredBackends();
  return Commit(planned, gone);
}

absl::Status ServiceTable::Remove(const std::string& vip, std::uint16_t port, Protocol protocol) {
  absl::StatusOr<skw_service_key> key = KeyOf(vip, port, protocol);
  if (!key.ok()) return key.status();
  if (!services_.contains(*key)) return DeleteExpiredBackends();
  return Commit({}, {*key});
}

std::vector<std::uint32_t> ServiceTable::BackendIds() const {
  std::vector<std::uint32_t> ids;
  ids.reserve(backends_.size() + pending_deletes_.size());
  for (const auto& [address, entry] : backends_) ids.push_back(entry.id);
  for (const auto& [address, pending] : pending_deletes_) ids.push_back(pending.id);
  return ids;
}

std::optional<std::uint32_t> ServiceTable::BackendId(const std::string& address,
                                                     std::uint16_t port) const {
  absl::StatusOr<skw_addr> addr = net::ParseSkwAddr(address);
  if (!addr.ok()) return std::nullopt;
  auto it = backends_.find(BackendAddress{.addr = *addr, .port = port});
  if (it == backends_.end()) return std::nullopt;
  return it->second.id;
}

std::optional<std::uint32_t> ServiceTable::ServiceId(const std::string& vip, std::uint16_t port,
                                                     Protocol protocol) const {
  absl::StatusOr<skw_service_key> key = KeyOf(vip, port, protocol);
  if (!key.ok()) return std::nullopt;
  auto it = services_.find(*key);
  if (it == services_.end()) return std::nullopt;
  return it->second.value.service_id;
}

}  // namespace skewless::datapath
