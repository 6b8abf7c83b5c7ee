// The splicer's DaemonSet agrees with the agent's: address, pins, mark, host access.
#include "deploy_test.h"

namespace skewless::deploy {
namespace {

YAML::Node SplicerContainer(ManifestSet& set) {
  return DocumentNode(set, "DaemonSet", kSplicer)["spec"]["template"]["spec"]["containers"][0];
}

// Replaces the splicer's `flag` argument with `flag=value`.
void SetSplicerFlag(ManifestSet& set, const std::string& flag, const std::string& value) {
  YAML::Node args = SplicerContainer(set)["args"];
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].as<std::string>().starts_with(flag + "=")) args[i] = flag + "=" + value;
  }
}

TEST(DeploySplicer, TheDaemonSetListensWhereTheAgentRedirectsAndReadsItsPins) {
  EXPECT_THAT(CheckSplicerDaemonSet(Installed()), IsEmpty());
}

TEST(DeploySplicer, AListenAddressThatIsNotTheAgentsSplicerAddressIsCaught) {
  ManifestSet broken = Installed().Clone();
  SetSplicerFlag(broken, "--listen", "$(HOST_IP):15002");
  EXPECT_THAT(CheckSplicerDaemonSet(broken), Contains(HasSubstr("--splicer-address")));
}

TEST(DeploySplicer, APinDirOrMarkOtherThanTheAgentsIsCaught) {
  ManifestSet broken = Installed().Clone();
  SetSplicerFlag(broken, "--pin-dir", "/sys/fs/bpf/other");
  SetSplicerFlag(broken, "--mark", "0x5d");
  const Problems problems = CheckSplicerDaemonSet(broken);
  EXPECT_THAT(problems, Contains(HasSubstr("--pin-dir \"/sys/fs/bpf/other\"")));
  EXPECT_THAT(problems, Contains(HasSubstr("--mark 0x5d")));
}

TEST(DeploySplicer, LosingHostNetworkOrACapabilityIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "DaemonSet", kSplicer)["spec"]["template"]["spec"]["hostNetwork"] = false;
  SplicerContainer(broken)["securityContext"]["capabilities"]["add"] =
      std::vector<std::string>{"BPF"};
  const Problems problems = CheckSplicerDaemonSet(broken);
  EXPECT_THAT(problems, Contains(HasSubstr("not hostNetwork")));
  EXPECT_THAT(problems, Contains(HasSubstr("CAP_NET_ADMIN")));
}

TEST(DeploySplicer, AGracePeriodShorterThanTheDrainIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "DaemonSet",
               kSplicer)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5;
  EXPECT_THAT(CheckSplicerDaemonSet(broken), Contains(HasSubstr("terminationGracePeriodSeconds")));
}

}  // namespace
}  // namespace skewless::deploy
