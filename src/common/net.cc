// IP literals and host:port text, parsed and printed one way (rules in net.h).
#include "skewless/common/net.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace skewless::net {
namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string Quoted(std::string_view text) { return absl::StrCat("\"", std::string(text), "\""); }

// True for "010.0.0.1"-style text, so the error can say why it is refused (inet_pton
// refuses it too, without saying).
bool HasLeadingZeroOctet(std::string_view text) {
  if (text.find(':') != std::string_view::npos) return false;
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    const bool octet_start = i == 0 || text[i - 1] == '.';
    if (octet_start && text[i] == '0' &&
        absl::ascii_isdigit(static_cast<unsigned char>(text[i + 1]))) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::uint16_t> ParsePort(std::string_view port, std::string_view whole) {
  if (port.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("missing port in ", Quoted(whole)));
  }
  const bool digits = std::all_of(port.begin(), port.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
  if (!digits) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", Quoted(port), " is not a decimal number in ", Quoted(whole)));
  }
  // Digits only, so a long run is out of range however it would overflow.
  std::uint32_t value = 0;
  for (char c : port) {
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
    if (value > 65535) break;
  }
  if (value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", std::string(port), " out of range in ", std::string(whole)));
  }
  return static_cast<std::uint16_t>(value);
}

}  // namespace

IpAddress IpAddress::FromV4Bytes(const std::array<std::uint8_t, 4>& bytes) {
  IpAddress ip;
  std::copy(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), ip.bytes_.begin());
  std::copy(bytes.begin(), bytes.end(), ip.bytes_.begin() + kV4MappedPrefix.size());
  return ip;
}

IpAddress IpAddress::FromV6Bytes(const std::array<std::uint8_t, 16>& bytes) {
  IpAddress ip;
  ip.bytes_ = bytes;
  return ip;
}

IpAddress IpAddress::FromInAddr(const in_addr& address) {
  std::array<std::uint8_t, 4> bytes;
  std::memcpy(bytes.data(), &address, bytes.size());
  return FromV4Bytes(bytes);
}

IpAddress IpAddress::FromIn6Addr(const in6_addr& address) {
  std::array<std::uint8_t, 16> bytes;
  std::memcpy(bytes.data(), &address, bytes.size());
  return FromV6Bytes(bytes);
}

bool IpAddress::is_v4() const {
  return std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), bytes_.begin());
}

std::array<std::uint8_t, 4> IpAddress::v4_bytes() const {
  std::array<std::uint8_t, 4> bytes;
  std::copy(bytes_.begin() + kV4MappedPrefix.size(), bytes_.end(), bytes.begin());
  return bytes;
}

std::string IpAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    const std::array<std::uint8_t, 4> v4 = v4_bytes();
    inet_ntop(AF_INET, v4.data(), text, sizeof(text));
  } else {
    inet_ntop(AF_INET6, bytes_.data(), text, sizeof(text));
  }
  return text;
}

absl::StatusOr<IpAddress> ParseIp(std::string_view text, V4Mapped mapped) {
  if (text.empty()) return absl::InvalidArgumentError("empty IP address");
  // inet_pton reads a C string: an embedded NUL would hide whatever follows it.
  if (text.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(Quoted(text), " is not an IP address"));
  }
  if (text.find('%') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quoted(text), " has a zone id; zones name a local interface and are not accepted"));
  }
  const std::string literal(text);
  std::array<std::uint8_t, 4> v4;
  if (inet_pton(AF_INET, literal.c_str(), v4.data()) == 1) return IpAddress::FromV4Bytes(v4);
  std::array<std::uint8_t, 16> v6;
  if (inet_pton(AF_INET6, literal.c_str(), v6.data()) == 1) {
    const IpAddress ip = IpAddress::FromV6Bytes(v6);
    if (ip.is_v4() && mapped == V4Mapped::kRefuse) {
      return absl::InvalidArgumentError(absl::StrCat(Quoted(text),
                                                     " is an IPv4-mapped IPv6 address; write the "
                                                     "IPv4 form (",
                                                     ip.ToString(), ")"));
    }
    return ip;
  }
  if (HasLeadingZeroOctet(text)) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quoted(text), " is not an IP address (leading zeros are ambiguous: octal or decimal?)"));
  }
  return absl::InvalidArgumentError(absl::StrCat(Quoted(text), " is not an IP address"));
}

absl::StatusOr<IpAddress> ParseKubernetesIp(std::string_view text) {
  // A dotted IPv4 part (the whole text, or the tail of an IPv6 literal) loses the leading
  // zeros of its octets, as Go's pre-1.17 parser read them (decimal); the rest is ParseIp.
  const std::size_t colon = text.rfind(':');
  const std::size_t tail = colon == std::string_view::npos ? 0 : colon + 1;
  std::string literal(text.substr(0, tail));
  std::string_view rest = text.substr(tail);
  if (rest.find('.') != std::string_view::npos) {
    int octets = 0;
    while (true) {
      const std::size_t dot = rest.find('.');
      std::string_view octet = rest.substr(0, dot);
      while (octet.size() > 1 && octet.front() == '0') octet.remove_prefix(1);
      absl::StrAppend(&literal, std::string(octet));
      ++octets;
      if (dot == std::string_view::npos) break;
      literal += '.';
      rest.remove_prefix(dot + 1);
    }
    if (octets != 4) return ParseIp(text, V4Mapped::kReadAsIpv4);
  } else {
    literal.append(rest);
  }
  absl::StatusOr<IpAddress> ip = ParseIp(literal, V4Mapped::kReadAsIpv4);
  if (!ip.ok()) return ParseIp(text, V4Mapped::kReadAsIpv4);  // the error quotes the input
  return ip;
}

absl::StatusOr<std::string> CanonicalIp(std::string_view text, V4Mapped mapped) {
  absl::StatusOr<IpAddress> ip = ParseIp(text, mapped);
  if (!ip.ok()) return ip.status();
  return ip->ToString();
}

absl::StatusOr<HostPort> SplitHostPort(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty address; want host:port");
  HostPort split;
  std::string_view port;
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("missing ']' in ", Quoted(text)));
    }
    if (close == 1) return absl::InvalidArgumentError(absl::StrCat("empty [] in ", Quoted(text)));
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty())
      return absl::InvalidArgumentError(absl::StrCat("missing port in ", Quoted(text)));
    if (rest.front() != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("want ':' and a port after ']' in ", Quoted(text)));
    }
    split.host = std::string(text.substr(1, close - 1));
    port = rest.substr(1);
  } else {
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("missing port in ", Quoted(text)));
    }
    if (text.find(':', colon + 1) != std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "an IPv6 address must be in brackets, as in [fd00::1]:80, in ", Quoted(text)));
    }
    split.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  absl::StatusOr<std::uint16_t> number = ParsePort(port, text);
  if (!number.ok()) return number.status();
  split.port = *number;
  return split;
}

absl::StatusOr<IpPort> ParseIpPort(std::string_view text) {
  absl::StatusOr<HostPort> split = SplitHostPort(text);
  if (!split.ok()) return split.status();
  absl::StatusOr<IpAddress> ip = ParseIp(split->host, V4Mapped::kReadAsIpv4);
  if (!ip.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(ip.status().message(), " in ", Quoted(text)));
  }
  return IpPort{.ip = *ip, .port = split->port};
}

std::string FormatIpPort(const IpPort& address) {
  return address.ip.is_v4() ? absl::StrCat(address.ip.ToString(), ":", address.port)
                            : absl::StrCat("[", address.ip.ToString(), "]:", address.port);
}

SocketAddress ToSocketAddress(const IpPort& address) {
  SocketAddress socket_address;
  if (address.ip.is_v4()) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&socket_address.storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(address.port);
    const std::array<std::uint8_t, 4> bytes = address.ip.v4_bytes();
    std::memcpy(&v4->sin_addr, bytes.data(), bytes.size());
    socket_address.length = sizeof(*v4);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&socket_address.storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(address.port);
    std::memcpy(&v6->sin6_addr, address.ip.v6_bytes().data(), sizeof(v6->sin6_addr));
    socket_address.length = sizeof(*v6);
  }
  return socket_address;
}

absl::StatusOr<IpPort> FromSocketAddress(const sockaddr_storage& storage) {
  if (storage.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(storage);
    return IpPort{.ip = IpAddress::FromInAddr(v4.sin_addr), .port = ntohs(v4.sin_port)};
  }
  if (storage.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(storage);
    return IpPort{.ip = IpAddress::FromIn6Addr(v6.sin6_addr), .port = ntohs(v6.sin6_port)};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("socket address family ", storage.ss_family, " is neither IPv4 nor IPv6"));
}

skw_addr ToSkwAddr(const IpAddress& ip) {
  static_assert(sizeof(skw_addr) == sizeof(ip.v6_bytes()));
  skw_addr addr{};
  std::memcpy(addr.words, ip.v6_bytes().data(), sizeof(addr.words));
  return addr;
}

IpAddress FromSkwAddr(const skw_addr& addr) {
  std::array<std::uint8_t, 16> bytes;
  std::memcpy(bytes.data(), addr.words, bytes.size());
  return IpAddress::FromV6Bytes(bytes);
}

absl::StatusOr<skw_addr> ParseSkwAddr(std::string_view text) {
  absl::StatusOr<IpAddress> ip = ParseIp(text, V4Mapped::kReadAsIpv4);
  if (!ip.ok()) return ip.status();
  return ToSkwAddr(*ip);
}

std::string FormatSkwAddr(const skw_addr& addr) { return FromSkwAddr(addr).ToString(); }

}  // namespace skewless::net
