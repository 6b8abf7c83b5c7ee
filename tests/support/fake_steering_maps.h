// The steering maps as plain containers, plus a log of every operation in order, for
// tests of what writes them (the service table, the agent). Each operation checks the
// ordering contract of steering_maps.h: no set references an unwritten backend, no
// service is written before its set, no backend is deleted while a set uses it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "skewless/datapath/steering_maps.h"

namespace skewless::datapath::testing {

class FakeMaps : public SteeringMaps {
 public:
  absl::Status WriteBackend(std::uint32_t id, const skw_backend& backend) override {
    log.push_back(absl::StrCat("backend+", id));
    backends[id] = backend;
    return absl::OkStatus();
  }
  absl::Status DeleteBackend(std::uint32_t id) override {
    log.push_back(absl::StrCat("backend-", id));
    for (const auto& [service_id, slots] : sets) {
      for (const skw_slot& slot : slots) {
        EXPECT_NE(slot.backend_id, id) << "backend deleted while set " << service_id << " uses it";
      }
    }
    return backends.erase(id) == 1 ? absl::OkStatus() : absl::NotFoundError("no backend");
  }
  absl::Status SwapBackendSets(const BackendSetSwaps& swaps) override {
    std::vector<std::string> ids;
    for (const auto& [service_id, slots] : swaps) {
      ids.push_back(absl::StrCat(service_id));
      for (std::size_t i = 1; i < slots.size(); ++i) {
        EXPECT_TRUE(backends.contains(slots[i].backend_id))
            << "set " << service_id << " references unwritten backend " << slots[i].backend_id;
      }
      sets[service_id] = slots;
    }
    log.push_back("set=" + absl::StrJoin(ids, ","));  // one entry per batch
    return absl::OkStatus();
  }
  absl::Status DeleteBackendSets(const std::vector<std::uint32_t>& service_ids) override {
    log.push_back("set-" + absl::StrJoin(service_ids, ","));
    bool all_found = true;
    for (std::uint32_t id : service_ids) all_found = sets.erase(id) == 1 && all_found;
    return all_found ? absl::OkStatus() : absl::NotFoundError("no set");
  }
  absl::Status WriteService(const skw_service_key& key, const skw_service& service) override {
    log.push_back(absl::StrCat("service+", service.service_id));
    EXPECT_TRUE(sets.contains(service.service_id)) << "service written before its set";
    services[Key(key)] = {key, service};
    return absl::OkStatus();
  }
  absl::Status DeleteService(const skw_service_key& key) override {
    log.push_back("service-");
    return services.erase(Key(key)) == 1 ? absl::OkStatus() : absl::NotFoundError("no service");
  }
  absl::Status WriteNode(const skw_node_config& value) override {
    log.push_back("node");
    node = value;
    return absl::OkStatus();
  }
  absl::StatusOr<SteeringMapsSnapshot> Read() const override {
    SteeringMapsSnapshot snapshot{.services = {}, .sets = sets, .backends = backends, .node = node};
    for (const auto& [bytes, entry] : services) snapshot.services.push_back(entry);
    return snapshot;
  }

  static std::string Key(const skw_service_key& key) {
    return std::string(reinterpret_cast<const char*>(&key), sizeof(key));
  }

  std::vector<std::string> log;
  std::map<std::string, std::pair<skw_service_key, skw_service>> services;
  std::map<std::uint32_t, std::vector<skw_slot>> sets;
  std::map<std::uint32_t, skw_backend> backends;
  skw_node_config node{};
};

}  // namespace skewless::datapath::testing
