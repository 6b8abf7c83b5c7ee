// The baseline: a ClusterIP Service programmed the way kube-proxy does it,
// in its iptables mode and in its nftables mode, with real kernel NAT.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "skewless/lab/config.h"

namespace skewless::lab {

struct Endpoint {
  std::string ip;
  uint16_t port = 0;
};

struct ClusterIpService {
  std::string name;       // namespace/name, e.g. default/echo
  std::string port_name;  // the Service port's name, e.g. grpc
  std::string vip;
  uint16_t port = 0;
  std::vector<Endpoint> endpoints;
};

// iptables-restore input (nat table, --noflush) in kube-proxy's shape:
// KUBE-SERVICES matches VIP:port and jumps to KUBE-SVC-*, which picks an
// endpoint with `statistic --mode random --probability 1/(n-i)` (the last
// rule unconditional), each KUBE-SEP-* DNATs to one pod and marks hairpin
// traffic for masquerade.
std::string RenderIptables(const std::vector<ClusterIpService>& services);
std::string RenderIptables(const ClusterIpService& service);

// `nft -f` input in kube-proxy's nftables-mode shape: a service-ips verdict
// map keyed by VIP . proto . port, a per-service `numgen random mod N vmap`,
// per-endpoint dnat chains.
std::string RenderNftables(const std::vector<ClusterIpService>& services);
std::string RenderNftables(const ClusterIpService& service);

// The chain names kube-proxy would derive (a stable hash of service port and
// endpoint); exposed so tests can check the rules that land in the kernel.
std::string ServiceChain(const ClusterIpService& service);
std::string EndpointChain(const ClusterIpService& service, const Endpoint& endpoint);

// Installs the rules inside the given network namespace (the lab's node),
// never in the host's own tables.
absl::Status ApplyDataplane(Dataplane dataplane, const std::string& netns,
                            const std::vector<ClusterIpService>& services);

// Rewrites the Services' rules after their endpoints changed, as kube-proxy does on an
// EndpointSlice update: one atomic change per mode (iptables-restore --noflush flushes
// and refills the chains it declares; nft replaces the table in one transaction).
// Connections already made keep their conntrack entry, so their pod.
absl::Status ReplaceServiceRules(Dataplane dataplane, const std::string& netns,
                                 const std::vector<ClusterIpService>& services);

}  // namespace skewless::lab
