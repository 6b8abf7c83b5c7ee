// skewless-splicer's flags: each lands in its option, the load-reporting group is checked
// as a whole, a bad value is refused naming the flag.
#include "skewless/splicer/splicer_flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::splicer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class SplicerFlagsTest : public ::testing::Test {
 protected:
  SplicerFlagsTest() { BindFlags(app_, flags_); }

  absl::StatusOr<SplicerOptions> Apply(const std::string& args) {
    app_.parse(args);
    return ApplyFlags(flags_);
  }

  CLI::App app_;
  SplicerFlags flags_;
};

TEST_F(SplicerFlagsTest, AbsentFlagsLeaveTheDefaults) {
  absl::StatusOr<SplicerOptions> options = Apply("--backend 10.0.0.1:80");
  ASSERT_TRUE(options.ok()) << options.status();
  const SplicerOptions defaults;
  EXPECT_EQ(options->listen, defaults.listen);
  EXPECT_EQ(options->mark, kDefaultMark);
  EXPECT_EQ(options->limits.idle_timeout, defaults.limits.idle_timeout);
  EXPECT_EQ(options->limits.stream_window_bytes, defaults.limits.stream_window_bytes);
  EXPECT_FALSE(options->load_reporting.has_value());
  EXPECT_EQ(flags_.http_listen, kDefaultHttpListen);
  EXPECT_EQ(flags_.drain_seconds, kDefaultDrainSeconds);
}

TEST_F(SplicerFlagsTest, GivenFlagsLandInTheirOptions) {
  absl::StatusOr<SplicerOptions> options = Apply(
      "--listen 127.0.0.1:0 --pin-dir /sys/fs/bpf/x --mark 0x10 --workers 3 --zone zone-a "
      "--idle-timeout 1.5 --max-connection-age 0.25 --stream-window-bytes 1024 "
      "--http-listen 127.0.0.1:0 --drain-seconds 2");
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->listen, "127.0.0.1:0");
  EXPECT_EQ(options->pin_dir, "/sys/fs/bpf/x");
  EXPECT_EQ(options->mark, 0x10u);
  EXPECT_EQ(options->workers, 3);
  EXPECT_EQ(options->zone, "zone-a");
  EXPECT_EQ(options->limits.idle_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(options->limits.max_connection_age, std::chrono::milliseconds(250));
  EXPECT_EQ(options->limits.stream_window_bytes, 1024u);
  // Timeouts not given keep their defaults.
  EXPECT_EQ(options->limits.preface_timeout, SplicerLimits{}.preface_timeout);
  EXPECT_EQ(flags_.http_listen, "127.0.0.1:0");
  EXPECT_EQ(flags_.drain_seconds, 2);
}

TEST_F(SplicerFlagsTest, BackendsCarryZoneAndWeight) {
  absl::StatusOr<SplicerOptions> options =
      Apply("--backend 10.0.0.1:80 --backend 10.0.0.2:80,zone-b,3");
  ASSERT_TRUE(options.ok()) << options.status();
  ASSERT_EQ(options->backends.size(), 2u);
  EXPECT_EQ(options->backends[0].address, "10.0.0.1:80");
  EXPECT_EQ(options->backends[0].weight, 1u);
  EXPECT_EQ(options->backends[1].zone, "zone-b");
  EXPECT_EQ(options->backends[1].weight, 3u);
}

TEST_F(SplicerFlagsTest, ABackendWeightThatIsNotANumberIsRefusedNamingTheFlag) {
  absl::StatusOr<SplicerOptions> options = Apply("--backend 10.0.0.1:80,zone-b,heavy");
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().message(),
            "--backend 10.0.0.1:80,zone-b,heavy: weight is not a number");
}

TEST_F(SplicerFlagsTest, NothingToSendClientsToIsRefused) {
  absl::StatusOr<SplicerOptions> options = Apply("");
  ASSERT_FALSE(options.ok());
  EXPECT_THAT(std::string(options.status().message()), HasSubstr("--pin-dir"));
}

TEST_F(SplicerFlagsTest, ANegativeTimeoutIsRefusedByTheParserNamingTheFlag) {
  try {
    app_.parse("--backend 10.0.0.1:80 --idle-timeout -1");
    FAIL() << "--idle-timeout -1 was accepted";
  } catch (const CLI::ParseError& error) {
    EXPECT_THAT(error.what(), HasSubstr("--idle-timeout"));
  }
}

TEST_F(SplicerFlagsTest, LoadReportingOverTls) {
  absl::StatusOr<SplicerOptions> options = Apply(
      "--backend 10.0.0.1:80 --zone zone-a --xds-server cp-0:18000 --xds-server cp-1:18000 "
      "--node-name node-1 --controlplane-ca-file /ca.crt --controlplane-server-name cp.svc "
      "--token-file /token --load-report-change-interval 0.5");
  ASSERT_TRUE(options.ok()) << options.status();
  ASSERT_TRUE(options->load_reporting.has_value());
  const loadreport::LrsClientOptions& lrs = *options->load_reporting;
  EXPECT_THAT(lrs.servers, ElementsAre("cp-0:18000", "cp-1:18000"));
  EXPECT_EQ(lrs.node_name, "node-1");
  EXPECT_EQ(lrs.zone, "zone-a");
  ASSERT_TRUE(lrs.tls.has_value());
  EXPECT_EQ(lrs.tls->ca_file, "/ca.crt");
  EXPECT_EQ(lrs.tls->server_name, "cp.svc");
  EXPECT_EQ(lrs.bearer_token_file, "/token");
  EXPECT_EQ(lrs.change_interval, std::chrono::milliseconds(500));
}

TEST_F(SplicerFlagsTest, LoadReportingInPlaintext) {
  absl::StatusOr<SplicerOptions> options =
      Apply("--backend 10.0.0.1:80 --xds-server 127.0.0.1:18000 --node-name n --plaintext");
  ASSERT_TRUE(options.ok()) << options.status();
  ASSERT_TRUE(options->load_reporting.has_value());
  EXPECT_FALSE(options->load_reporting->tls.has_value());
}

TEST_F(SplicerFlagsTest, NoLoadReportingMeansNoReporter) {
  absl::StatusOr<SplicerOptions> options =
      Apply("--backend 10.0.0.1:80 --xds-server 127.0.0.1:18000 --no-load-reporting");
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_FALSE(options->load_reporting.has_value());
}

TEST_F(SplicerFlagsTest, LoadReportingWithoutAServerIsRefused) {
  absl::StatusOr<SplicerOptions> options = Apply("--backend 10.0.0.1:80 --load-reporting");
  ASSERT_FALSE(options.ok());
  EXPECT_THAT(std::string(options.status().message()), HasSubstr("--xds-server"));
}

TEST_F(SplicerFlagsTest, AServerWithoutTlsOrPlaintextIsRefused) {
  absl::StatusOr<SplicerOptions> options =
      Apply("--backend 10.0.0.1:80 --xds-server cp:18000 --node-name n");
  ASSERT_FALSE(options.ok());
  EXPECT_THAT(std::string(options.status().message()), HasSubstr("--controlplane-ca-file"));
}

TEST_F(SplicerFlagsTest, AServerWithoutANodeNameIsRefused) {
  absl::StatusOr<SplicerOptions> options =
      Apply("--backend 10.0.0.1:80 --xds-server cp:18000 --plaintext");
  ASSERT_FALSE(options.ok());
  EXPECT_THAT(std::string(options.status().message()), HasSubstr("--node-name"));
}

}  // namespace
}  // namespace skewless::splicer
