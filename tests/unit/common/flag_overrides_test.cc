// FlagOverrides: a flag writes its config field only when given, through a converter that
// can refuse it, and every error names the flag.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "skewless/common/cli.h"

namespace skewless {
namespace {

using ::testing::ElementsAre;

struct Settings {
  std::string name = "default-name";
  std::optional<std::string> zone;
  std::vector<std::string> servers = {"default:1"};
  bool enabled = true;
  std::chrono::milliseconds window{250};
  struct {
    int depth = 3;
  } nested;
};

class FlagOverridesTest : public ::testing::Test {
 protected:
  FlagOverridesTest() {
    overrides_.Add(app_, "--name", &Settings::name, "name");
    overrides_.Add(app_, "--zone", &Settings::zone, "zone");
    overrides_.Add(app_, "--server", &Settings::servers, "servers");
    overrides_.Add(app_, "--enabled,!--disabled", &Settings::enabled, "enabled");
    overrides_.Add<double>(app_, "--window", &Settings::window, "seconds", SecondsWithin(0, 60));
    overrides_.Add(
        app_, "--depth", [](Settings& s) -> int& { return s.nested.depth; }, "depth");
  }

  // Parses `args` and writes them over `from_file`.
  absl::Status Apply(const std::string& args, Settings& from_file) {
    app_.parse(args);
    return overrides_.ApplyTo(from_file);
  }

  CLI::App app_;
  FlagOverrides<Settings> overrides_;
};

TEST_F(FlagOverridesTest, AbsentFlagsLeaveEveryField) {
  Settings file{.name = "file-name", .zone = "file-zone", .servers = {"file:1"}, .enabled = false};
  ASSERT_TRUE(Apply("", file).ok());
  EXPECT_EQ(file.name, "file-name");
  EXPECT_EQ(file.zone, "file-zone");
  EXPECT_THAT(file.servers, ElementsAre("file:1"));
  EXPECT_FALSE(file.enabled);
  EXPECT_EQ(file.window.count(), 250);
  EXPECT_EQ(file.nested.depth, 3);
}

TEST_F(FlagOverridesTest, GivenFlagsReplaceTheirFields) {
  Settings file{.name = "file-name", .servers = {"file:1"}, .enabled = true};
  ASSERT_TRUE(
      Apply("--name n --zone z --server a:1 --server b:2 --disabled --window 1.5 --depth 7", file)
          .ok());
  EXPECT_EQ(file.name, "n");
  EXPECT_EQ(file.zone, "z");
  EXPECT_THAT(file.servers, ElementsAre("a:1", "b:2"));  // replaced, not appended to
  EXPECT_FALSE(file.enabled);
  EXPECT_EQ(file.window.count(), 1500);
  EXPECT_EQ(file.nested.depth, 7);
}

TEST_F(FlagOverridesTest, AnExplicitFalseCountsAsGiven) {
  Settings file;
  ASSERT_TRUE(Apply("--enabled=false", file).ok());
  EXPECT_FALSE(file.enabled);
}

TEST_F(FlagOverridesTest, ARefusedValueIsNamedAndTheOtherFlagsStillApply) {
  Settings file;
  const absl::Status status = Apply("--window 61 --name n", file);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "--window: expected 0-60 seconds");
  EXPECT_EQ(file.window.count(), 250);
  EXPECT_EQ(file.name, "n");
}

TEST(AddSecondsOption, ShowsItsDefaultInSecondsAndStoresMilliseconds) {
  CLI::App app;
  std::chrono::milliseconds timeout{2500};
  AddSecondsOption(app, "--timeout", timeout, "seconds");
  EXPECT_THAT(app.help(), ::testing::HasSubstr("=2.5"));
  app.parse("--timeout 0.125");
  EXPECT_EQ(timeout.count(), 125);
}

TEST(AddDurationOption, ReadsAbslDurationsAndBareSecondsShowingItsDefault) {
  CLI::App app;
  absl::Duration period = absl::Seconds(10);
  AddDurationOption(app, "--duration", &period, "Measured period");
  EXPECT_THAT(app.help(), ::testing::HasSubstr("(default 10s)"));
  app.parse("--duration 1m30s");
  EXPECT_EQ(period, absl::Seconds(90));
  app.parse("--duration 0.25");
  EXPECT_EQ(period, absl::Milliseconds(250));
}

TEST(AddDurationOption, RefusesNonDurationsAndValuesBelowItsMinimumNamingTheFlag) {
  CLI::App app;
  absl::Duration period = absl::Seconds(10);
  absl::Duration offset = absl::ZeroDuration();
  AddDurationOption(app, "--duration", &period, "Measured period", absl::ZeroDuration());
  AddDurationOption(app, "--offset", &offset, "May be negative");
  try {
    app.parse("--duration 10x");
    ADD_FAILURE() << "10x was accepted";
  } catch (const CLI::ValidationError& e) {
    EXPECT_THAT(std::string(e.what()), ::testing::HasSubstr("--duration"));
    EXPECT_THAT(std::string(e.what()), ::testing::HasSubstr("got 10x"));
  }
  try {
    app.parse("--duration -1s");
    ADD_FAILURE() << "-1s was accepted";
  } catch (const CLI::ValidationError& e) {
    EXPECT_THAT(std::string(e.what()), ::testing::HasSubstr("must not be negative, got -1s"));
  }
  app.parse("--offset -1s");
  EXPECT_EQ(offset, absl::Seconds(-1));
}

}  // namespace
}  // namespace skewless
