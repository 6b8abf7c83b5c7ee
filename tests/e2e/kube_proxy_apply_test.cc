// The baseline rules load into the kernel (iptables-nft and nft) as rendered.
// Needs root: it creates its own network namespace and removes it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "skewless/lab/kube_proxy.h"
#include "skewless/lab/subprocess.h"

namespace skewless::lab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ScratchNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (creates a network namespace)";
    name_ = "skl-test-rules-" + std::to_string(getpid());
    ASSERT_TRUE(RunCommand({"ip", "netns", "add", name_}).ok());
  }
  void TearDown() override {
    if (!name_.empty()) (void)RunCommand({"ip", "netns", "delete", name_});
  }
  std::string name_;
};

ClusterIpService Service() {
  return {
      "default/echo", "grpc", "198.19.0.10", 8080, {{"198.18.0.10", 8080}, {"198.18.0.11", 8080}}};
}

TEST_F(ScratchNetns, IptablesRulesLoadWithTheirChains) {
  auto s = Service();
  ASSERT_TRUE(ApplyDataplane(Dataplane::kIptables, name_, std::vector<ClusterIpService>{s}).ok());
  auto saved = RunCommand({"ip", "netns", "exec", name_, "iptables-save", "-t", "nat"});
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_THAT(saved->stdout_text, HasSubstr(ServiceChain(s)));
  EXPECT_THAT(saved->stdout_text, HasSubstr("--probability 0.5"));
  EXPECT_THAT(saved->stdout_text, HasSubstr("--to-destination 198.18.0.11:8080"));
}

TEST_F(ScratchNetns, NftablesRulesLoadWithVerdictMap) {
  ASSERT_TRUE(
      ApplyDataplane(Dataplane::kNftables, name_, std::vector<ClusterIpService>{Service()}).ok());
  auto listed =
      RunCommand({"ip", "netns", "exec", name_, "nft", "list", "table", "ip", "kube-proxy"});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(listed->stdout_text, HasSubstr("numgen random mod 2"));
  EXPECT_THAT(listed->stdout_text, HasSubstr("198.19.0.10 . tcp . 8080"));
}

// An EndpointSlice change, as kube-proxy applies it: the Service's chain now picks among
// exactly the new endpoints (the old endpoint's chain is left, unreferenced), and the
// portal jumps are not duplicated.
TEST_F(ScratchNetns, IptablesRulesReplacedForNewEndpointsKeepOnePortalJump) {
  auto s = Service();
  ASSERT_TRUE(ApplyDataplane(Dataplane::kIptables, name_, std::vector<ClusterIpService>{s}).ok());
  s.endpoints = {{"198.18.0.11", 8080}, {"198.18.0.12", 8080}, {"198.18.0.13", 8080}};
  ASSERT_TRUE(
      ReplaceServiceRules(Dataplane::kIptables, name_, std::vector<ClusterIpService>{s}).ok());
  auto saved = RunCommand({"ip", "netns", "exec", name_, "iptables-save", "-t", "nat"});
  ASSERT_TRUE(saved.ok()) << saved.status();
  const std::string& rules = saved->stdout_text;
  EXPECT_THAT(rules, Not(HasSubstr("-> 198.18.0.10:8080")));
  EXPECT_THAT(rules, HasSubstr("--to-destination 198.18.0.13:8080"));
  EXPECT_THAT(rules, HasSubstr("--probability 0.33"));
  size_t jumps = 0;
  for (size_t at = rules.find("-A PREROUTING"); at != std::string::npos;
       at = rules.find("-A PREROUTING", at + 1)) {
    ++jumps;
  }
  EXPECT_EQ(jumps, 1u);
  EXPECT_EQ(rules.find("-A KUBE-SERVICES"), rules.rfind("-A KUBE-SERVICES")) << rules;
}

TEST_F(ScratchNetns, NftablesRulesReplacedForNewEndpoints) {
  auto s = Service();
  ASSERT_TRUE(ApplyDataplane(Dataplane::kNftables, name_, std::vector<ClusterIpService>{s}).ok());
  s.endpoints = {{"198.18.0.11", 8080}, {"198.18.0.12", 8080}, {"198.18.0.13", 8080}};
  ASSERT_TRUE(
      ReplaceServiceRules(Dataplane::kNftables, name_, std::vector<ClusterIpService>{s}).ok());
  auto listed =
      RunCommand({"ip", "netns", "exec", name_, "nft", "list", "table", "ip", "kube-proxy"});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(listed->stdout_text, HasSubstr("numgen random mod 3"));
  EXPECT_THAT(listed->stdout_text, Not(HasSubstr("198.18.0.10")));
}

}  // namespace
}  // namespace skewless::lab
