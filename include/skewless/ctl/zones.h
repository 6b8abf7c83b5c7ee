// Zone names for the zone ids in the maps: the maps hold only ids, the agent knows names.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace skewless::ctl {

struct ZoneNames {
  std::map<std::uint16_t, std::string> by_id;
  std::string node_name;  // the agent's node ("" = not known)
  std::string node_zone;  // its zone as the agent wrote it ("" = unknown)
  // Where the names came from ("" = nowhere: ids are shown instead).
  std::string source;

  // "zone-a"; "-" for id 0 (unknown zone); the id itself when its name is not known.
  std::string Label(std::uint16_t zone_id) const;
  // The name, or nothing for id 0 or an unnamed id (JSON writes null then).
  std::optional<std::string> Name(std::uint16_t zone_id) const;
  std::optional<std::uint16_t> IdOf(const std::string& name) const;
};

// Parses the agent's GET /debug/zones answer:
//   {"zones":{"1":"zone-a","2":"zone-b"},"node":{"name":"n1","zone":"zone-a"}}
// Errors name the field that is missing or malformed.
absl::StatusOr<ZoneNames> ParseZoneNames(const std::string& body);

// Resolves --zone: a known zone name, or a zone id (digits) as the maps hold it.
// InvalidArgument naming the zone and the known names otherwise.
absl::StatusOr<std::uint16_t> ResolveZone(const std::string& zone, const ZoneNames& names);

}  // namespace skewless::ctl
