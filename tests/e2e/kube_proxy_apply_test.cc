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

}  // namespace
}  // namespace skewless::lab
