// `skewless-agent kernel-check`: what this node's kernel offers the data path, before an
// agent runs on it. The BPF features the agent probes for (which it needs, which it can do
// without), and whether each BPF program passes this kernel's verifier (its log when
// not). `make kernel-test` collects the JSON form from every kernel of its matrix.
#pragma once

#include <ostream>
#include <string>

namespace skewless::agent {

struct KernelCheckOptions {
  // The cgroup v2 directory under which a throwaway cgroup is made for the link probe
  // (nothing is attached to this directory itself); empty = the cgroup2 mount.
  std::string cgroup_parent;
  bool json = false;
};

// Writes the report; returns 0 when the agent can run on this kernel (every required
// feature present and every program loads), 1 when it cannot.
int RunKernelCheck(const KernelCheckOptions& options, std::ostream& out);

}  // namespace skewless::agent
