// kube-proxy's two rule layouts for one ClusterIP Service, rendered and applied.
#include "skewless/lab/kube_proxy.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "skewless/lab/subprocess.h"

namespace skewless::lab {
namespace {

// kube-proxy names chains by a base32 hash of the service port (and
// endpoint); any stable hash keeps names unique and within iptables' 28
// characters. FNV-1a: tiny, deterministic across runs and builds.
std::string Base32Hash(const std::string& text) {
  uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  for (int i = 0; i < 12; ++i) {
    out += kAlphabet[hash & 31];
    hash >>= 5;
  }
  return out;
}

std::string PortName(const ClusterIpService& s) { return absl::StrCat(s.name, ":", s.port_name); }

std::string EndpointText(const Endpoint& e) { return absl::StrCat(e.ip, ":", e.port); }

// nft identifiers cannot hold '/' unquoted; kube-proxy's own names carry
// namespace/name, we use '-' so the rules stay plain.
std::string NftSafe(std::string text) {
  for (char& c : text) {
    if (c == '/' || c == ':' || c == '.') c = '-';
  }
  return text;
}

}  // namespace

std::string ServiceChain(const ClusterIpService& s) {
  return "KUBE-SVC-" + Base32Hash(PortName(s) + "/tcp");
}

std::string EndpointChain(const ClusterIpService& s, const Endpoint& e) {
  return "KUBE-SEP-" + Base32Hash(PortName(s) + "/tcp/" + EndpointText(e));
}

namespace {

// Chains and rules of one Service, appended to the declarations and rules
// of the whole ruleset (iptables-restore wants every chain declared first).
void AppendIptablesService(const ClusterIpService& s, std::string& chains, std::string& rules) {
  if (s.endpoints.empty()) {
    // kube-proxy rejects traffic to a Service without endpoints (filter
    // table); in the nat-only baseline the VIP simply has no rule.
    return;
  }
  const std::string svc = ServiceChain(s);
  const std::string comment = PortName(s);
  absl::StrAppend(&chains, ":", svc, " - [0:0]\n");
  for (const auto& e : s.endpoints) {
    absl::StrAppend(&chains, ":", EndpointChain(s, e), " - [0:0]\n");
  }
  absl::StrAppendFormat(&rules,
                        "-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"%s cluster IP\" "
                        "-m tcp --dport %d -j %s\n",
                        s.vip, comment, s.port, svc);
  const size_t n = s.endpoints.size();
  for (size_t i = 0; i < n; ++i) {
    const auto& e = s.endpoints[i];
    absl::StrAppendFormat(&rules, "-A %s -m comment --comment \"%s -> %s\"", svc, comment,
                          EndpointText(e));
    // Rule i fires with 1/(n-i) of what reaches it: uniform over endpoints.
    if (i + 1 < n) {
      absl::StrAppendFormat(&rules, " -m statistic --mode random --probability %.10f",
                            1.0 / static_cast<double>(n - i));
    }
    absl::StrAppend(&rules, " -j ", EndpointChain(s, e), "\n");
  }
  for (const auto& e : s.endpoints) {
    const std::string sep = EndpointChain(s, e);
    absl::StrAppendFormat(&rules, "-A %s -s %s/32 -m comment --comment \"%s\" -j KUBE-MARK-MASQ\n",
                          sep, e.ip, comment);
    absl::StrAppendFormat(
        &rules, "-A %s -p tcp -m comment --comment \"%s\" -m tcp -j DNAT --to-destination %s\n",
        sep, comment, EndpointText(e));
  }
}

void AppendNftablesService(const ClusterIpService& s, std::string& chains, std::string& elements) {
  if (s.endpoints.empty()) return;
  const std::string svc_chain =
      absl::StrCat("service-", Base32Hash(PortName(s)), "-", NftSafe(PortName(s)), "-tcp");
  std::vector<std::string> endpoint_chains;
  for (const auto& e : s.endpoints) {
    std::string chain = absl::StrCat("endpoint-", Base32Hash(PortName(s) + EndpointText(e)), "-",
                                     NftSafe(EndpointText(e)));
    endpoint_chains.push_back(chain);
    // nft 1.0.6 cannot infer the protocol of `dnat to ip:port` without a
    // preceding l4proto match.
    absl::StrAppendFormat(&chains,
                          "  chain %s {\n    ip saddr %s jump mark-for-masquerade\n"
                          "    meta l4proto tcp dnat to %s\n  }\n",
                          chain, e.ip, EndpointText(e));
  }
  absl::StrAppendFormat(&chains, "  chain %s {\n    numgen random mod %d vmap {", svc_chain,
                        s.endpoints.size());
  for (size_t i = 0; i < endpoint_chains.size(); ++i) {
    absl::StrAppendFormat(&chains, "%s %d : goto %s", i ? "," : "", i, endpoint_chains[i]);
  }
  chains += " }\n  }\n";
  absl::StrAppendFormat(&elements,
                        "add element ip kube-proxy service-ips { %s . tcp . %d : goto %s }\n",
                        s.vip, s.port, svc_chain);
}

}  // namespace

std::string RenderIptables(const std::vector<ClusterIpService>& services) {
  std::string chains = "*nat\n";
  for (const char* chain : {"KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"}) {
    absl::StrAppend(&chains, ":", chain, " - [0:0]\n");
  }
  std::string rules =
      R"(-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
)";
  for (const auto& s : services) AppendIptablesService(s, chains, rules);
  return chains + rules + "COMMIT\n";
}

std::string RenderNftables(const std::vector<ClusterIpService>& services) {
  std::string chains = R"(table ip kube-proxy {
  comment "rules for kube-proxy"
  map service-ips {
    type ipv4_addr . inet_proto . inet_service : verdict
  }
  chain mark-for-masquerade {
    mark set mark or 0x4000
  }
  chain masquerading {
    mark and 0x4000 == 0 return
    mark set mark xor 0x4000
    masquerade fully-random
  }
  chain services {
    ip daddr . meta l4proto . th dport vmap @service-ips
  }
  chain nat-prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    jump services
  }
  chain nat-output {
    type nat hook output priority -100; policy accept;
    jump services
  }
  chain nat-postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    jump masquerading
  }
)";
  std::string elements;
  for (const auto& s : services) AppendNftablesService(s, chains, elements);
  return chains + "}\n" + elements;
}

std::string RenderIptables(const ClusterIpService& service) {
  return RenderIptables(std::vector<ClusterIpService>{service});
}
std::string RenderNftables(const ClusterIpService& service) {
  return RenderNftables(std::vector<ClusterIpService>{service});
}

absl::Status ReplaceServiceRules(Dataplane dataplane, const std::string& netns,
                                 const std::vector<ClusterIpService>& services) {
  if (dataplane == Dataplane::kIptables) {
    // Only KUBE-SERVICES and the Services' own chains are declared (so flushed and
    // refilled): the portal jumps and the masquerade chains stay as they were. A removed
    // endpoint's KUBE-SEP chain is left unreferenced.
    std::string chains = "*nat\n:KUBE-SERVICES - [0:0]\n";
    std::string rules;
    for (const auto& s : services) AppendIptablesService(s, chains, rules);
    return RunCommand({"ip", "netns", "exec", netns, "iptables-restore", "--noflush"},
                      chains + rules + "COMMIT\n")
        .status();
  }
  if (dataplane == Dataplane::kNftables) {
    // `table` first makes the delete valid even if the table were gone; one nft -f is one
    // transaction, so no packet sees the table missing.
    return RunCommand(
               {"ip", "netns", "exec", netns, "nft", "-f", "-"},
               "table ip kube-proxy\ndelete table ip kube-proxy\n" + RenderNftables(services))
        .status();
  }
  return ApplyDataplane(dataplane, netns, services);
}

absl::Status ApplyDataplane(Dataplane dataplane, const std::string& netns,
                            const std::vector<ClusterIpService>& services) {
  switch (dataplane) {
    case Dataplane::kNone:
    case Dataplane::kSkewless:  // no NAT rules: the connect hooks steer (see Node)
    case Dataplane::kSkewlessL7:
      return absl::OkStatus();
    case Dataplane::kIptables:
      return RunCommand({"ip", "netns", "exec", netns, "iptables-restore", "--noflush"},
                        RenderIptables(services))
          .status();
    case Dataplane::kNftables:
      return RunCommand({"ip", "netns", "exec", netns, "nft", "-f", "-"}, RenderNftables(services))
          .status();
  }
  return absl::InvalidArgumentError("unknown dataplane");
}

}  // namespace skewless::lab
