// kube-proxy's rule shapes: what the baseline programs must look like.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "skewless/lab/kube_proxy.h"

namespace skewless::lab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ClusterIpService ThreeEndpoints() {
  return {"default/echo",
          "grpc",
          "198.19.0.10",
          8080,
          {{"198.18.0.10", 8080}, {"198.18.0.11", 8080}, {"198.18.0.12", 8080}}};
}

std::vector<std::string> LinesWith(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  for (auto line : absl::StrSplit(text, '\n')) {
    if (line.find(needle) != absl::string_view::npos) out.emplace_back(line);
  }
  return out;
}

TEST(IptablesRules, ServiceChainPicksEachEndpointWithProbabilityOneOverRemaining) {
  auto s = ThreeEndpoints();
  std::string rules = RenderIptables(s);
  auto jumps = LinesWith(rules, "-A " + ServiceChain(s) + " ");
  ASSERT_EQ(jumps.size(), 3u);
  EXPECT_THAT(jumps[0], HasSubstr("--probability 0.3333333333"));
  EXPECT_THAT(jumps[1], HasSubstr("--probability 0.5000000000"));
  EXPECT_THAT(jumps[2], Not(HasSubstr("statistic")));  // the last one catches the rest
  EXPECT_THAT(jumps[2], HasSubstr("-j " + EndpointChain(s, s.endpoints[2])));
}

TEST(IptablesRules, ServicesChainMatchesVipAndPortAndEndpointsDnat) {
  auto s = ThreeEndpoints();
  std::string rules = RenderIptables(s);
  EXPECT_THAT(rules, HasSubstr("-A KUBE-SERVICES -d 198.19.0.10/32 -p tcp"));
  EXPECT_THAT(rules, HasSubstr("--dport 8080 -j " + ServiceChain(s)));
  EXPECT_THAT(rules, HasSubstr("-A " + EndpointChain(s, s.endpoints[1]) +
                               " -p tcp -m comment --comment \"default/echo:grpc\" -m tcp -j DNAT "
                               "--to-destination 198.18.0.11:8080"));
  EXPECT_THAT(rules, HasSubstr("-A PREROUTING"));
  EXPECT_THAT(rules, HasSubstr("COMMIT"));
}

TEST(IptablesRules, ChainNamesAreStableUniqueAndFitIptablesLimit) {
  auto s = ThreeEndpoints();
  EXPECT_EQ(ServiceChain(s), ServiceChain(ThreeEndpoints()));
  EXPECT_NE(EndpointChain(s, s.endpoints[0]), EndpointChain(s, s.endpoints[1]));
  EXPECT_LE(ServiceChain(s).size(), 28u);
  EXPECT_LE(EndpointChain(s, s.endpoints[0]).size(), 28u);
}

TEST(IptablesRules, ServiceWithoutEndpointsGetsNoVipRule) {
  auto s = ThreeEndpoints();
  s.endpoints.clear();
  EXPECT_THAT(RenderIptables(s), Not(HasSubstr("198.19.0.10")));
}

TEST(NftablesRules, VerdictMapThenNumgenOverAllEndpoints) {
  auto s = ThreeEndpoints();
  std::string rules = RenderNftables(s);
  EXPECT_THAT(rules, HasSubstr("type ipv4_addr . inet_proto . inet_service : verdict"));
  EXPECT_THAT(rules, HasSubstr("ip daddr . meta l4proto . th dport vmap @service-ips"));
  EXPECT_THAT(rules, HasSubstr("numgen random mod 3 vmap { 0 : goto endpoint-"));
  EXPECT_THAT(rules, HasSubstr("meta l4proto tcp dnat to 198.18.0.12:8080"));
  EXPECT_THAT(rules, HasSubstr("add element ip kube-proxy service-ips { 198.19.0.10 . tcp . 8080"));
}

TEST(ManyServices, OneRulesetDeclaresSharedChainsOnceAndEveryServiceVip) {
  auto a = ThreeEndpoints();
  auto b = ThreeEndpoints();
  b.name = "default/other";
  b.vip = "198.19.0.11";
  std::string ipt = RenderIptables(std::vector<ClusterIpService>{a, b});
  EXPECT_EQ(LinesWith(ipt, ":KUBE-SERVICES ").size(), 1u);
  EXPECT_EQ(LinesWith(ipt, "-A KUBE-SERVICES -d ").size(), 2u);
  EXPECT_EQ(LinesWith(ipt, "COMMIT").size(), 1u);
  EXPECT_NE(ServiceChain(a), ServiceChain(b));
  std::string nft = RenderNftables(std::vector<ClusterIpService>{a, b});
  EXPECT_EQ(LinesWith(nft, "add element ip kube-proxy service-ips").size(), 2u);
  EXPECT_EQ(LinesWith(nft, "table ip kube-proxy").size(), 1u);
}

}  // namespace
}  // namespace skewless::lab
