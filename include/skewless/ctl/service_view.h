// The maps' services, sets and backends joined into what an operator asks about: a
// service with its backends in slot order, or a backend with the services that list it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "skewless/abi.h"
#include "skewless/ctl/datapath_state.h"

namespace skewless::ctl {

// The tiers of a set (abi.h's slot order). A slot is preferred only while the service
// prefers local backends: select.h ignores n_preferred otherwise.
enum class Tier { kPreferred, kReady, kTerminating };

struct SlotView {
  std::uint32_t slot = 0;  // >= 1
  std::uint32_t backend_id = 0;
  Tier tier = Tier::kReady;
  std::optional<skw_backend> backend;  // absent when skw_backends has no such id
  skw_backend_load load{};
};

struct ServiceView {
  skw_service_key key{};
  skw_service value{};
  bool has_set = false;  // skw_backend_sets holds the service id (else connects are refused)
  skw_slot header{};     // slot 0 of the set
  std::vector<SlotView> slots;

  bool prefer_local() const { return (value.flags & SKW_SVC_F_PREFER_LOCAL) != 0; }
};

// A backend with the services whose sets list it.
struct BackendView {
  std::uint32_t id = 0;
  skw_backend backend{};
  skw_backend_load load{};
  std::vector<skw_service_key> services;
};

// Every service, ordered by VIP, port and protocol.
std::vector<ServiceView> BuildServiceViews(const DatapathState& state);

// Every backend by id.
std::vector<BackendView> BuildBackendViews(const DatapathState& state);

// The service at `key`, or NotFound naming it and listing the ports its VIP has.
absl::StatusOr<ServiceView> FindService(const DatapathState& state, const skw_service_key& key);

// "10.96.0.10:80" or "[fd00::10]:80" (and --proto) → a service key. InvalidArgument
// naming the text otherwise.
absl::StatusOr<skw_service_key> ParseServiceKey(const std::string& vip_port,
                                                const std::string& protocol);

// "10.96.0.10:80/tcp", "[fd00::10]:80/udp".
std::string ServiceLabel(const skw_service_key& key);
// "10.0.0.7:8080", "[fd00::7]:8080".
std::string BackendLabel(const skw_backend& backend);
// "tcp", "udp", or the protocol number.
std::string ProtocolName(std::uint8_t proto);
// "ready", "serving" (terminating), "ejected", "unused".
std::string BackendStateName(std::uint8_t state);
std::string TierName(Tier tier);
// "p2c-preferred", ... (enum skw_reason); "reason-N" past the known ones.
std::string ReasonName(std::uint32_t reason);
bool IsV4(const skw_addr& addr);

}  // namespace skewless::ctl
