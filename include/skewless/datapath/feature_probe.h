// Checks, before loading anything, that the kernel has every BPF feature the steering needs.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace skewless::datapath {

// One kernel capability the steering data path relies on.
struct KernelFeature {
  std::string name;   // e.g. "bpf_set_retval() in cgroup/connect4"
  std::string why;    // what breaks without it
  std::string since;  // first mainline kernel that has it
  bool present = false;
};

// Probes each feature by loading tiny programs and creating tiny maps (no
// attach). With a cgroup fd, also checks that a cgroup bpf_link can be
// created and updated in place, by attaching an allow-everything connect4
// program to that cgroup for a moment.
std::vector<KernelFeature> ProbeKernelFeatures(int cgroup_fd = -1);

// Ok, or FailedPrecondition listing every missing feature with why and since.
absl::Status CheckKernelFeatures(int cgroup_fd = -1);

}  // namespace skewless::datapath
