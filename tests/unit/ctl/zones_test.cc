// Zone names from the agent's /debug/zones, and resolving --zone.
#include "skewless/ctl/zones.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::ctl {
namespace {

using ::testing::HasSubstr;

TEST(CtlZoneNames, ReadsTheAgentsAnswer) {
  absl::StatusOr<ZoneNames> names = ParseZoneNames(
      R"({"zones":{"1":"zone-a","2":"zone-b"},"node":{"name":"n1","zone":"zone-a"}})");
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(names->Label(1), "zone-a");
  EXPECT_EQ(names->Label(2), "zone-b");
  EXPECT_EQ(names->Label(3), "3");
  EXPECT_EQ(names->Label(0), "-");
  EXPECT_EQ(names->Name(3), std::nullopt);
  EXPECT_EQ(names->node_name, "n1");
  EXPECT_EQ(names->node_zone, "zone-a");
  EXPECT_EQ(names->IdOf("zone-b"), 2);
}

TEST(CtlZoneNames, RefusesMalformedAnswers) {
  EXPECT_THAT(ParseZoneNames("<html>").status().message(), HasSubstr("not a JSON object"));
  EXPECT_THAT(ParseZoneNames(R"({"zones":{"a":"zone-a"}})").status().message(),
              HasSubstr("zones[\"a\"] must map a zone id 1-65535 to a name"));
  EXPECT_THAT(ParseZoneNames(R"({"zones":{"0":"zone-a"}})").status().message(),
              HasSubstr("zones[\"0\"]"));
  EXPECT_THAT(ParseZoneNames(R"({"zones":[]})").status().message(), HasSubstr("zones is no"));
  EXPECT_TRUE(ParseZoneNames("{}").ok());
}

TEST(CtlResolveZone, TakesANameOrAnId) {
  ZoneNames names{.by_id = {{1, "zone-a"}, {2, "zone-b"}}, .source = "agent"};
  EXPECT_EQ(*ResolveZone("zone-b", names), 2);
  EXPECT_EQ(*ResolveZone("7", names), 7);
  absl::StatusOr<std::uint16_t> unknown = ResolveZone("zone-x", names);
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("--zone zone-x: not a zone name the agent knows (zone-a (1), zone-b (2))"));
}

TEST(CtlResolveZone, WithoutTheAgentAsksForTheId) {
  absl::StatusOr<std::uint16_t> unknown = ResolveZone("zone-a", ZoneNames{});
  EXPECT_THAT(unknown.status().message(), HasSubstr("the agent was not reachable"));
  EXPECT_THAT(unknown.status().message(), HasSubstr("pass the numeric id"));
}

}  // namespace
}  // namespace skewless::ctl
