// The command lines of the shipped skewless path as the lab runs it: one
// skewless-controlplane on the lab's cluster document, one skewless-agent and (L7) one
// skewless-splicer per client node.
#pragma once

#include <string>
#include <vector>

#include "skewless/lab/config.h"

namespace skewless::lab {

// The control plane and the agents share the node namespace's loopback (the lab's
// "host network"); each splicer listens on the loopback of its own node's client
// namespace, so every node's splicer has the same address, as on real nodes.
inline constexpr char kControlPlaneXdsAddress[] = "127.0.0.1:18000";
inline constexpr char kControlPlaneHttpAddress[] = "127.0.0.1:19100";
inline constexpr int kFirstAgentHttpPort = 19200;  // + the node's index in plan.clients
inline constexpr char kSplicerAddress[] = "127.0.0.1:15001";
inline constexpr char kSplicerHttpAddress[] = "127.0.0.1:19193";
// The mark the splicer's backend sockets carry, so the hook never sends them back to it.
inline constexpr unsigned kSplicerMark = 0x5c;

std::vector<std::string> ControlPlaneArgv(const LabConfig& config, const std::string& bin_dir,
                                          const std::string& document_path);

// The agent of plan.clients[index]: steers `cgroup`, pins under `pin_dir`.
std::vector<std::string> AgentArgv(const LabConfig& config, const std::string& bin_dir,
                                   const ClientSpec& node, size_t index, const std::string& cgroup,
                                   const std::string& pin_dir);

std::vector<std::string> SplicerArgv(const std::string& bin_dir, const std::string& pin_dir);

}  // namespace skewless::lab
