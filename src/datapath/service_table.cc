// Diffing writer of the steering maps: ids, tiers, ordered writes, garbage collection.
#include "skewless/datapath/service_table.h"

#include <arpa/inet.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

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
  absl::StatusOr<skw_addr> addr = ParseAddress(vip);
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
  return id;
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
    backends_[address] = BackendEntry{.id = id, .written = backend, .referrers = {}};
  }
  std::set<std::uint32_t> service_ids;
  for (const auto& [key, value] : snapshot->services) {
    ServiceState& service = services_[key];
    service.name = FormatAddress(key.vip) + ":" + std::to_string(ntohs(key.port));
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
      service.listed[address->second] =
          BackendView{.zone_id = backend.zone_id, .weight = backend.weight, .state = backend.state};
      backends_[address->second].referrers.insert(key);
    }
  }
  for (const auto& [id, slots] : snapshot->sets) {
    if (!service_ids.contains(id)) orphan_sets_.insert(id);
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
  for (auto& [key, service] : services_) {
    if (!service.spec.has_value()) continue;
    const ServiceSpec spec = *service.spec;
    if (absl::Status status = Upsert(spec); !status.ok()) return status;
  }
  return absl::OkStatus();
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
  // Every listed endpoint keeps its backend id; only set members are usable.
  for (const Endpoint& endpoint : spec.endpoints) {
    absl::StatusOr<skw_addr> addr = ParseAddress(endpoint.address);  // checked by the build
    if (!addr.ok()) return addr.status();
    absl::StatusOr<std::uint16_t> zone_id = zones_.IdOf(endpoint.zone);
    if (!zone_id.ok()) return zone_id.status();
    planned.listed.try_emplace(
        BackendAddress{.addr = *addr, .port = endpoint.port},
        BackendView{.zone_id = *zone_id, .weight = endpoint.weight, .state = SKW_BACKEND_UNUSED});
  }
  for (const SetMember& member : planned.set.members) {
    BackendView& view = planned.listed[member.backend];
    absl::StatusOr<std::uint16_t> zone_id = zones_.IdOf(member.zone);
    if (!zone_id.ok()) return zone_id.status();
    view = BackendView{.zone_id = *zone_id,
                       .weight = member.weight,
                       .state = static_cast<std::uint8_t>(member.state)};
  }
  return planned;
}

absl::Status ServiceTable::WriteBackendIfChanged(const BackendAddress& address,
                                                 BackendEntry& entry) {
  if (entry.referrers.empty()) return absl::OkStatus();  // about to be deleted
  skw_backend value{};
  value.addr = address.addr;
  value.port = htons(address.port);
  bool first = true;
  for (const skw_service_key& key : entry.referrers) {
    const BackendView& view = services_.at(key).listed.at(address);
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

absl::Status ServiceTable::ReleaseIfUnreferenced(const BackendAddress& address) {
  auto it = backends_.find(address);
  if (it == backends_.end() || !it->second.referrers.empty()) return absl::OkStatus();
  ++counts_.backend_deletes;
  if (absl::Status status = maps_.DeleteBackend(it->second.id);
      !status.ok() && !absl::IsNotFound(status)) {
    return status;
  }
  backend_ids_.Release(it->second.id);
  backends_.erase(it);
  return absl::OkStatus();
}

absl::Status ServiceTable::Write(PlannedService planned) {
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
  service.name = Describe(*planned.spec);
  service.spec = *planned.spec;

  // 1. Backends the new set references exist (and are current) before the swap.
  std::map<BackendAddress, BackendView> previous = std::exchange(service.listed, planned.listed);
  for (const auto& [address, view] : service.listed) {
    auto [entry, added] = backends_.try_emplace(address);
    if (added) {
      std::optional<std::uint32_t> id = backend_ids_.Allocate();
      if (!id.has_value()) {
        backends_.erase(entry);
        service.listed = previous;
        return absl::ResourceExhaustedError(
            absl::StrCat(service.name, ": backend ", FormatAddress(address.addr), ":", address.port,
                         ": all ", SKW_MAX_BACKENDS - 1, " backend ids in use"));
      }
      entry->second.id = *id;
    }
    entry->second.referrers.insert(planned.key);
  }
  for (const auto& [address, view] : previous) {
    if (!service.listed.contains(address)) backends_.at(address).referrers.erase(planned.key);
  }
  for (auto* listing : {&service.listed, &previous}) {
    for (const auto& [address, view] : *listing) {
      auto entry = backends_.find(address);
      if (entry == backends_.end()) continue;
      if (absl::Status status = WriteBackendIfChanged(address, entry->second); !status.ok()) {
        return status;
      }
    }
  }

  // 2. The set, swapped whole.
  std::vector<skw_slot> slots(planned.set.members.size() + 1);
  slots[0].n_preferred = planned.set.n_preferred;
  slots[0].n_ready = planned.set.n_ready;
  slots[0].n_serving = planned.set.n_serving;
  for (std::size_t i = 0; i < planned.set.members.size(); ++i) {
    slots[i + 1].backend_id = backends_.at(planned.set.members[i].backend).id;
  }
  if (!SameSlots(slots, service.slots)) {
    ++counts_.set_swaps;
    if (absl::Status status = maps_.SwapBackendSet(service.value.service_id, slots); !status.ok()) {
      service.slots.clear();
      return absl::Status(status.code(), absl::StrCat(service.name, ": ", status.message()));
    }
    service.slots = std::move(slots);
  }

  // 3. The service entry, which makes the VIP steer (to the set now in place).
  skw_service value{};
  value.service_id = service.value.service_id;
  value.flags =
      planned.spec->traffic_distribution == TrafficDistribution::kNone ? 0 : SKW_SVC_F_PREFER_LOCAL;
  value.slow_start_window_ms = planned.spec->slow_start_window_ms;
  if (!service.value_written || !SameBytes(service.value, value)) {
    ++counts_.service_writes;
    service.value = value;
    if (absl::Status status = maps_.WriteService(planned.key, value); !status.ok()) {
      service.value_written = false;
      return absl::Status(status.code(), absl::StrCat(service.name, ": ", status.message()));
    }
    service.value_written = true;
  }

  // 4. Backends no set references any more.
  for (const auto& [address, view] : previous) {
    if (absl::Status status = ReleaseIfUnreferenced(address); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ServiceTable::RemoveKey(const skw_service_key& key) {
  auto it = services_.find(key);
  if (it == services_.end()) return absl::OkStatus();
  ServiceState& service = it->second;
  ++counts_.service_deletes;
  if (absl::Status status = maps_.DeleteService(key); !status.ok() && !absl::IsNotFound(status)) {
    return status;
  }
  ++counts_.set_deletes;
  if (absl::Status status = maps_.DeleteBackendSet(service.value.service_id);
      !status.ok() && !absl::IsNotFound(status)) {
    return status;
  }
  service_ids_.Release(service.value.service_id);
  const std::map<BackendAddress, BackendView> listed = std::move(service.listed);
  services_.erase(it);
  for (const auto& [address, view] : listed) {
    auto entry = backends_.find(address);
    if (entry == backends_.end()) continue;
    entry->second.referrers.erase(key);
    if (absl::Status status = WriteBackendIfChanged(address, entry->second); !status.ok()) {
      return status;
    }
    if (absl::Status status = ReleaseIfUnreferenced(address); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ServiceTable::DeleteOrphans() {
  for (std::uint32_t id : orphan_sets_) {
    ++counts_.set_deletes;
    if (absl::Status status = maps_.DeleteBackendSet(id);
        !status.ok() && !absl::IsNotFound(status)) {
      return status;
    }
    service_ids_.Release(id);
  }
  orphan_sets_.clear();
  std::vector<BackendAddress> unreferenced;
  for (const auto& [address, entry] : backends_) {
    if (entry.referrers.empty()) unreferenced.push_back(address);
  }
  for (const BackendAddress& address : unreferenced) {
    if (absl::Status status = ReleaseIfUnreferenced(address); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ServiceTable::Apply(const std::vector<ServiceSpec>& desired) {
  std::vector<PlannedService> planned;
  std::map<skw_service_key, const ServiceSpec*, KeyLess> seen;
  for (const ServiceSpec& spec : desired) {
    absl::StatusOr<PlannedService> plan = Plan(spec);
    if (!plan.ok()) return plan.status();
    if (auto [it, inserted] = seen.emplace(plan->key, &spec); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat(Describe(spec), " and ", Describe(*it->second),
                                                     " are the same VIP, port and protocol"));
    }
    planned.push_back(*std::move(plan));
  }
  for (PlannedService& plan : planned) {
    if (absl::Status status = Write(std::move(plan)); !status.ok()) return status;
  }
  std::vector<skw_service_key> gone;
  for (const auto& [key, service] : services_) {
    if (!seen.contains(key)) gone.push_back(key);
  }
  for (const skw_service_key& key : gone) {
    if (absl::Status status = RemoveKey(key); !status.ok()) return status;
  }
  return DeleteOrphans();
}

absl::Status ServiceTable::Upsert(const ServiceSpec& spec) {
  absl::StatusOr<PlannedService> plan = Plan(spec);
  if (!plan.ok()) return plan.status();
  return Write(*std::move(plan));
}

absl::Status ServiceTable::Remove(const std::string& vip, std::uint16_t port, Protocol protocol) {
  absl::StatusOr<skw_service_key> key = KeyOf(vip, port, protocol);
  if (!key.ok()) return key.status();
  return RemoveKey(*key);
}

std::optional<std::uint32_t> ServiceTable::BackendId(const std::string& address,
                                                     std::uint16_t port) const {
  absl::StatusOr<skw_addr> addr = ParseAddress(address);
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
