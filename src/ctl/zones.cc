// Zone id ↔ name lookups and the parser of the agent's /debug/zones.
#include "skewless/ctl/zones.h"

#include <charconv>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace skewless::ctl {
namespace {

std::optional<std::uint16_t> ParseZoneId(const std::string& text) {
  std::uint32_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end ||
      value > std::numeric_limits<std::uint16_t>::max()) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::string ZoneNames::Label(std::uint16_t zone_id) const {
  if (zone_id == 0) return "-";
  auto it = by_id.find(zone_id);
  return it == by_id.end() ? absl::StrCat(zone_id) : it->second;
}

std::optional<std::string> ZoneNames::Name(std::uint16_t zone_id) const {
  auto it = by_id.find(zone_id);
  if (zone_id == 0 || it == by_id.end()) return std::nullopt;
  return it->second;
}

std::optional<std::uint16_t> ZoneNames::IdOf(const std::string& name) const {
  for (const auto& [id, zone] : by_id) {
    if (zone == name) return id;
  }
  return std::nullopt;
}

absl::StatusOr<ZoneNames> ParseZoneNames(const std::string& body) {
  const nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError("the agent's /debug/zones answer is not a JSON object");
  }
  ZoneNames names;
  if (auto zones = json.find("zones"); zones != json.end()) {
    if (!zones->is_object()) return absl::InvalidArgumentError("/debug/zones: zones is no object");
    for (const auto& [key, value] : zones->items()) {
      std::optional<std::uint16_t> id = ParseZoneId(key);
      if (!id || *id == 0 || !value.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat("/debug/zones: zones[\"", key,
                                                       "\"] must map a zone id 1-65535 to a name"));
      }
      names.by_id[*id] = value.get<std::string>();
    }
  }
  if (auto node = json.find("node"); node != json.end()) {
    if (!node->is_object()) return absl::InvalidArgumentError("/debug/zones: node is no object");
    if (auto name = node->find("name"); name != node->end() && name->is_string()) {
      names.node_name = name->get<std::string>();
    }
    if (auto zone = node->find("zone"); zone != node->end() && zone->is_string()) {
      names.node_zone = zone->get<std::string>();
    }
  }
  return names;
}

absl::StatusOr<std::uint16_t> ResolveZone(const std::string& zone, const ZoneNames& names) {
  if (std::optional<std::uint16_t> id = names.IdOf(zone)) return *id;
  if (std::optional<std::uint16_t> id = ParseZoneId(zone)) return *id;
  std::vector<std::string> known;
  for (const auto& [id, name] : names.by_id) known.push_back(absl::StrCat(name, " (", id, ")"));
  return absl::InvalidArgumentError(absl::StrCat(
      "--zone ", zone, ": not a zone ",
      names.source.empty()
          ? "id, and no zone names are known (the agent was not reachable); pass the numeric id"
          : absl::StrCat("name the agent knows (",
                         known.empty() ? "none" : absl::StrJoin(known, ", "), ") nor a zone id")));
}

}  // namespace skewless::ctl
