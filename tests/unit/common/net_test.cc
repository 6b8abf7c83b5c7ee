// The address rules every component shares: which literals are IPs, their canonical text,
// host:port splitting, socket addresses and the BPF ABI form.
#include "skewless/common/net.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace skewless::net {
namespace {

using ::testing::HasSubstr;

struct CanonicalCase {
  std::string text;
  std::string canonical;
};

TEST(CanonicalIp, EverySpellingOfOneAddressHasOneText) {
  for (const CanonicalCase& c : std::vector<CanonicalCase>{
           {"10.0.0.1", "10.0.0.1"},
           {"255.255.255.255", "255.255.255.255"},
           {"FD00:0:0::1", "fd00::1"},
           {"fd00:0000:0000:0000:0000:0000:0000:0001", "fd00::1"},
           {"2001:DB8::A:B", "2001:db8::a:b"},
           {"::", "::"},
           {"::1", "::1"},
           // v4-mapped, any spelling, is the IPv4 address it carries.
           {"::ffff:10.0.0.1", "10.0.0.1"},
           {"::FFFF:192.168.0.1", "192.168.0.1"},
           {"0:0:0:0:0:ffff:a00:1", "10.0.0.1"},
       }) {
    absl::StatusOr<std::string> canonical = CanonicalIp(c.text, V4Mapped::kReadAsIpv4);
    ASSERT_TRUE(canonical.ok()) << c.text << ": " << canonical.status();
    EXPECT_EQ(*canonical, c.canonical) << c.text;
  }
}

TEST(ParseIp, RefusesWhatIsNotAStrictIpLiteral) {
  for (const std::string& bad : std::vector<std::string>{
           "", "10.0.0", "10.1", "10.0.0.256", "010.0.0.1", "10.0.0.01", "fe80::1%eth0",
           "fe80::1%1", "host", "10.0.0.1 ", " 10.0.0.1", "10.0.0.1x", "10.0.0.1:80", "[fd00::1]",
           "fd00::1::2", "fd00::g", "1:2:3:4:5:6:7:8:9", std::string("10.0.0.1\0junk", 13)}) {
    EXPECT_FALSE(ParseIp(bad, V4Mapped::kReadAsIpv4).ok()) << bad;
    EXPECT_FALSE(ParseIp(bad, V4Mapped::kRefuse).ok()) << bad;
  }
}

TEST(ParseIp, ErrorsSayWhatIsWrong) {
  EXPECT_THAT(ParseIp("fe80::1%eth0", V4Mapped::kReadAsIpv4).status().message(),
              HasSubstr("zone id"));
  EXPECT_THAT(ParseIp("010.0.0.1", V4Mapped::kReadAsIpv4).status().message(),
              HasSubstr("leading zeros"));
  EXPECT_THAT(ParseIp("pod.local", V4Mapped::kReadAsIpv4).status().message(),
              HasSubstr("\"pod.local\" is not an IP address"));
}

TEST(ParseIp, DeclaredAddressesRefuseTheMappedSpellingAndNameTheIpv4Form) {
  absl::StatusOr<IpAddress> mapped = ParseIp("::ffff:10.0.0.1", V4Mapped::kRefuse);
  ASSERT_FALSE(mapped.ok());
  EXPECT_THAT(mapped.status().message(), HasSubstr("IPv4-mapped"));
  EXPECT_THAT(mapped.status().message(), HasSubstr("(10.0.0.1)"));
  // Only the mapped range: other IPv6 and IPv4 literals are fine.
  EXPECT_TRUE(ParseIp("10.0.0.1", V4Mapped::kRefuse).ok());
  EXPECT_TRUE(ParseIp("::fffe:10.0.0.1", V4Mapped::kRefuse).ok());
}

TEST(IpAddress, MappedAndPlainIpv4AreOneValueOfTheIpv4Family) {
  absl::StatusOr<IpAddress> plain = ParseIp("10.0.0.1", V4Mapped::kReadAsIpv4);
  absl::StatusOr<IpAddress> mapped = ParseIp("::ffff:10.0.0.1", V4Mapped::kReadAsIpv4);
  ASSERT_TRUE(plain.ok() && mapped.ok());
  EXPECT_EQ(*plain, *mapped);
  EXPECT_TRUE(mapped->is_v4());
  EXPECT_EQ(mapped->family(), AF_INET);
  EXPECT_EQ(mapped->v4_bytes(), (std::array<std::uint8_t, 4>{10, 0, 0, 1}));
  absl::StatusOr<IpAddress> v6 = ParseIp("fd00::1", V4Mapped::kReadAsIpv4);
  ASSERT_TRUE(v6.ok());
  EXPECT_FALSE(v6->is_v4());
  EXPECT_EQ(v6->family(), AF_INET6);
}

struct HostPortCase {
  std::string text;
  std::string host;
  int port;
};

TEST(SplitHostPort, SplitsNamesLiteralsAndAnEmptyHost) {
  for (const HostPortCase& c : std::vector<HostPortCase>{
           {"10.0.0.1:80", "10.0.0.1", 80},
           {"[fd00::1]:443", "fd00::1", 443},
           {"[::]:0", "::", 0},
           {"control-plane.skewless:18000", "control-plane.skewless", 18000},
           {":8080", "", 8080},
           {"127.0.0.1:65535", "127.0.0.1", 65535},
           {"127.0.0.1:0", "127.0.0.1", 0},
           {"127.0.0.1:00080", "127.0.0.1", 80},
       }) {
    absl::StatusOr<HostPort> split = SplitHostPort(c.text);
    ASSERT_TRUE(split.ok()) << c.text << ": " << split.status();
    EXPECT_EQ(split->host, c.host) << c.text;
    EXPECT_EQ(split->port, c.port) << c.text;
  }
}

struct BadHostPortCase {
  std::string text;
  std::string error;
};

TEST(SplitHostPort, ErrorsNameWhatIsWrongAndTheInput) {
  for (const BadHostPortCase& c : std::vector<BadHostPortCase>{
           {"10.0.0.1:70000", "port 70000 out of range in 10.0.0.1:70000"},
           {"10.0.0.1:65536", "port 65536 out of range in 10.0.0.1:65536"},
           {"10.0.0.1:99999999999999999999", "out of range"},
           {"10.0.0.1:-1", "port \"-1\" is not a decimal number in \"10.0.0.1:-1\""},
           {"10.0.0.1:+80", "is not a decimal number"},
           {"10.0.0.1:http", "port \"http\" is not a decimal number"},
           {"10.0.0.1:80x", "is not a decimal number"},
           {"10.0.0.1: 80", "is not a decimal number"},
           {"10.0.0.1", "missing port in \"10.0.0.1\""},
           {"10.0.0.1:", "missing port in \"10.0.0.1:\""},
           {"[fd00::1]", "missing port"},
           {"[fd00::1]:", "missing port"},
           {"[fd00::1]80", "want ':' and a port after ']'"},
           {"[fd00::1:80", "missing ']'"},
           {"[]:80", "empty []"},
           {"fd00::1:80", "must be in brackets"},
           {"", "empty address"},
       }) {
    absl::StatusOr<HostPort> split = SplitHostPort(c.text);
    ASSERT_FALSE(split.ok()) << c.text;
    EXPECT_THAT(split.status().message(), HasSubstr(c.error)) << c.text;
  }
}

TEST(ParseIpPort, WantsAnIpLiteralHost) {
  absl::StatusOr<IpPort> v4 = ParseIpPort("10.0.0.1:8080");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->ip.ToString(), "10.0.0.1");
  EXPECT_EQ(v4->port, 8080);
  absl::StatusOr<IpPort> mapped = ParseIpPort("[::ffff:10.0.0.1]:8080");
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(*mapped, *v4);
  absl::StatusOr<IpPort> name = ParseIpPort("pod.local:80");
  ASSERT_FALSE(name.ok());
  EXPECT_THAT(name.status().message(), HasSubstr("\"pod.local\" is not an IP address in"));
  EXPECT_FALSE(ParseIpPort(":80").ok());
  EXPECT_FALSE(ParseIpPort("[fe80::1%eth0]:80").ok());
}

TEST(FormatIpPort, BracketsIpv6Only) {
  EXPECT_EQ(FormatIpPort(*ParseIpPort("10.0.0.1:80")), "10.0.0.1:80");
  EXPECT_EQ(FormatIpPort(*ParseIpPort("[FD00:0::1]:80")), "[fd00::1]:80");
  EXPECT_EQ(FormatIpPort(*ParseIpPort("[::ffff:10.0.0.1]:80")), "10.0.0.1:80");
}

TEST(SocketAddress, Ipv4IsSockaddrInAndIpv6IsSockaddrIn6AndBothReadBack) {
  const SocketAddress v4 = ToSocketAddress(*ParseIpPort("10.1.2.3:8080"));
  ASSERT_EQ(v4.length, sizeof(sockaddr_in));
  const auto& in = reinterpret_cast<const sockaddr_in&>(v4.storage);
  EXPECT_EQ(in.sin_family, AF_INET);
  EXPECT_EQ(in.sin_port, htons(8080));
  EXPECT_EQ(in.sin_addr.s_addr, htonl(0x0a010203));
  EXPECT_EQ(FormatIpPort(*FromSocketAddress(v4.storage)), "10.1.2.3:8080");

  const SocketAddress v6 = ToSocketAddress(*ParseIpPort("[fd00::7]:443"));
  ASSERT_EQ(v6.length, sizeof(sockaddr_in6));
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(v6.storage);
  EXPECT_EQ(in6.sin6_family, AF_INET6);
  EXPECT_EQ(in6.sin6_port, htons(443));
  EXPECT_EQ(FormatIpPort(*FromSocketAddress(v6.storage)), "[fd00::7]:443");
}

TEST(SocketAddress, AMappedPeerOnADualStackSocketReadsAsIpv4) {
  sockaddr_storage storage{};
  auto& in6 = reinterpret_cast<sockaddr_in6&>(storage);
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(50051);
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:10.0.0.9", &in6.sin6_addr), 1);
  absl::StatusOr<IpPort> peer = FromSocketAddress(storage);
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(FormatIpPort(*peer), "10.0.0.9:50051");
  sockaddr_storage unix_socket{};
  unix_socket.ss_family = AF_UNIX;
  EXPECT_FALSE(FromSocketAddress(unix_socket).ok());
}

TEST(SkwAddr, StoresIpv4AsV4MappedInNetworkOrderAndIpv6AsIs) {
  absl::StatusOr<skw_addr> v4 = ParseSkwAddr("10.1.2.3");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->words[0], 0u);
  EXPECT_EQ(v4->words[1], 0u);
  EXPECT_EQ(v4->words[2], htonl(0x0000ffff));
  EXPECT_EQ(v4->words[3], htonl(0x0a010203));
  EXPECT_EQ(FormatSkwAddr(*v4), "10.1.2.3");
  absl::StatusOr<skw_addr> mapped = ParseSkwAddr("::ffff:10.1.2.3");
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(std::memcmp(&*mapped, &*v4, sizeof(skw_addr)), 0);

  absl::StatusOr<skw_addr> v6 = ParseSkwAddr("2001:DB8::7");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->words[0], htonl(0x20010db8));
  EXPECT_EQ(v6->words[3], htonl(7));
  EXPECT_EQ(FormatSkwAddr(*v6), "2001:db8::7");
  EXPECT_FALSE(ParseSkwAddr("fe80::1%eth0").ok());
}

// What the API server stores: k8s.io/utils ParseIPSloppy (leading zeros decimal), with
// "::ffff:a.b.c.d" the IPv4 address it carries; what it refuses stays refused.
TEST(ParseKubernetesIp, ReadsWhatTheApiServerAccepts) {
  struct Case {
    std::string_view text;
    std::string_view canonical;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"10.0.0.1", "10.0.0.1"},
           {"010.000.000.001", "10.0.0.1"},
           {"0010.0.0.0255", "10.0.0.255"},
           {"0.0.0.0", "0.0.0.0"},
           {"::ffff:10.0.0.1", "10.0.0.1"},
           {"::ffff:010.0.0.01", "10.0.0.1"},
           {"FD00:0::1", "fd00::1"},
       }) {
    absl::StatusOr<IpAddress> ip = ParseKubernetesIp(c.text);
    ASSERT_TRUE(ip.ok()) << c.text << ": " << ip.status();
    EXPECT_EQ(ip->ToString(), c.canonical) << c.text;
  }
  EXPECT_TRUE(ParseKubernetesIp("::ffff:10.0.0.1")->is_v4());
}

TEST(ParseKubernetesIp, RefusesWhatTheApiServerRefusesQuotingTheInput) {
  for (std::string_view bad :
       {"", "10.0.0.256", "010.0.0.0256", "10.0.1", "1.2.3.4.5", "10..0.1", "fe80::1%eth0",
        " 10.0.0.1", "10.0.0.1 ", "pod.local", "::ffff:1.2.3"}) {
    absl::StatusOr<IpAddress> ip = ParseKubernetesIp(bad);
    EXPECT_FALSE(ip.ok()) << bad << " read as " << (ip.ok() ? ip->ToString() : "");
    if (!bad.empty() && !ip.ok()) {
      EXPECT_THAT(ip.status().message(), HasSubstr(absl::StrCat("\"", std::string(bad), "\"")));
    }
  }
}

}  // namespace
}  // namespace skewless::net
