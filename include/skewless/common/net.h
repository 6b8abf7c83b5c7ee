// IP literals and host:port text: parsed, checked and printed one way for every component.
//
// The rules, and why:
// - An IP literal is what inet_pton accepts, nothing looser: no leading zeros ("010.0.0.1"
//   is octal to some parsers and decimal to others), no short forms ("10.1"), no zone ids
//   ("fe80::1%eth0": a zone names an interface of one host, and pod, service and listen
//   addresses here never need one), no whitespace. The one exception is what the API
//   server stores: ParseKubernetesIp below reads exactly what it accepts.
// - A v4-mapped IPv6 address (::ffff:a.b.c.d) IS the IPv4 address it carries: one
//   address, one value, one canonical text (the dotted quad), never "::ffff:…". That is
//   how the kernel treats a dual-stack socket (gRPC dials IPv4 that way, and peers show up
//   so), how the BPF ABI stores IPv4 (skw_addr), and how Go's net.IP, so Kubernetes
//   itself, reads it. Where addresses are *declared* in skewless' own formats (the file
//   source, EDS) the mapped spelling is refused with V4Mapped::kRefuse rather than
//   silently moved to the other family: a pod listed under both spellings would look like
//   a dual-stack pod. Where addresses are *observed* or typed by an operator (socket
//   peers, load reports, flags, the BPF maps) kReadAsIpv4 applies. Kubernetes objects are
//   read as the API server validated them (ParseKubernetesIp).
// - Canonical IPv6 text is inet_ntop's (RFC 5952: lowercase, longest zero run as "::").
// - host:port wants an IPv6 host in brackets ("[fd00::1]:80"): "fd00::1:80" is ambiguous.
//   Ports are decimal digits only, 0-65535; whether 0 is allowed is the caller's call.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "skewless/abi.h"

namespace skewless::net {

// What a v4-mapped literal means to the caller; see the rules above.
enum class V4Mapped {
  kReadAsIpv4,  // "::ffff:10.0.0.1" is 10.0.0.1
  kRefuse,      // an error that names the IPv4 form to write instead
};

// An IPv4 or IPv6 address, kept as 16 bytes with IPv4 v4-mapped (the BPF ABI's form), so
// equal addresses are equal values whichever way they were written.
class IpAddress {
 public:
  IpAddress() = default;  // ::
  static IpAddress FromV4Bytes(const std::array<std::uint8_t, 4>& bytes);
  static IpAddress FromV6Bytes(const std::array<std::uint8_t, 16>& bytes);  // unmaps
  static IpAddress FromInAddr(const in_addr& address);
  static IpAddress FromIn6Addr(const in6_addr& address);  // unmaps

  bool is_v4() const;
  int family() const { return is_v4() ? AF_INET : AF_INET6; }
  // Network order; v4_bytes() is only meaningful when is_v4().
  std::array<std::uint8_t, 4> v4_bytes() const;
  const std::array<std::uint8_t, 16>& v6_bytes() const { return bytes_; }
  // Canonical text: dotted quad, or inet_ntop's IPv6 form.
  std::string ToString() const;

  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};
};

// Parses an IP literal; the error quotes it and says what is wrong with it.
absl::StatusOr<IpAddress> ParseIp(std::string_view text, V4Mapped mapped);
// An address from a Kubernetes object (EndpointSlice addresses, Service clusterIPs), read
// as the API server's validation reads it (k8s.io/utils ParseIPSloppy, then To4 for the
// family), so skewless refuses nothing the API server stores: leading zeros in an IPv4
// octet are decimal ("010.000.000.001" is 10.0.0.1: sloppy parsing kept for objects stored
// before Go 1.17), and "::ffff:a.b.c.d" is that IPv4 address, so it is valid in an IPv4
// slice and not in an IPv6 one, as there. Zone ids and short forms stay refused, as there.
absl::StatusOr<IpAddress> ParseKubernetesIp(std::string_view text);

// Whether canonical IP text (CanonicalIp, IpAddress::ToString) is an IPv6 address: only
// IPv6 text has a colon. For text known canonical, without parsing it again.
inline bool IsIpv6Text(std::string_view canonical_ip) {
  return canonical_ip.find(':') != std::string_view::npos;
}

// ParseIp, printed back: "FD00:0::1" → "fd00::1", "::ffff:10.0.0.1" → "10.0.0.1".
absl::StatusOr<std::string> CanonicalIp(std::string_view text, V4Mapped mapped);

// "host:port" split: the host may be a name, an IP literal or empty (":8080", any
// address); brackets around an IPv6 host are removed.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
absl::StatusOr<HostPort> SplitHostPort(std::string_view text);

// "IP:port" / "[IPv6]:port" with an IP literal for a host (v4-mapped read as IPv4).
struct IpPort {
  IpAddress ip;
  std::uint16_t port = 0;
  friend auto operator<=>(const IpPort&, const IpPort&) = default;
};
absl::StatusOr<IpPort> ParseIpPort(std::string_view text);
// "10.0.0.1:80", "[fd00::1]:80".
std::string FormatIpPort(const IpPort& address);

// A socket address ready for bind/connect: sockaddr_in for IPv4, sockaddr_in6 otherwise.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};
SocketAddress ToSocketAddress(const IpPort& address);
// What getsockname/accept/SO_ORIGINAL_DST filled in; an error for other families.
absl::StatusOr<IpPort> FromSocketAddress(const sockaddr_storage& storage);

// The BPF ABI form: the same 16 bytes (IPv4 v4-mapped), network order.
skw_addr ToSkwAddr(const IpAddress& ip);
IpAddress FromSkwAddr(const skw_addr& addr);
// ParseIp(kReadAsIpv4) into the ABI form, and its canonical text back.
absl::StatusOr<skw_addr> ParseSkwAddr(std::string_view text);
std::string FormatSkwAddr(const skw_addr& addr);

}  // namespace skewless::net
