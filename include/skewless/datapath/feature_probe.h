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
  // Without a required feature the agent refuses to start; without an optional one it
  // runs with that part of the data path off (docs/datapath.md, "Kernels").
  bool required = true;
};

// The optional features, by name: the data path turns the part that needs one off.
inline constexpr char kGetpeernameHooks[] = "cgroup/getpeername4/6 hooks";
inline constexpr char kSetRetval[] = "bpf_set_retval() in cgroup/connect4";
inline constexpr char kGetsockoptHook[] = "cgroup/getsockopt hook";
inline constexpr char kMmapableArrays[] = "BPF_F_MMAPABLE arrays";

// The oldest kernel that has every required feature (the documented minimum).
inline constexpr char kMinimumKernel[] = "5.10";

// Probes each feature by loading tiny programs and creating tiny maps (no
// attach). With a cgroup fd, also checks that a cgroup bpf_link can be
// created and updated in place, by attaching an allow-everything connect4
// program to that cgroup for a moment.
std::vector<KernelFeature> ProbeKernelFeatures(int cgroup_fd = -1);

// Ok, or FailedPrecondition listing every missing required feature with why and since.
absl::Status CheckKernelFeatures(int cgroup_fd = -1);
// Ok, or FailedPrecondition as above, from an earlier probe.
absl::Status CheckRequiredFeatures(const std::vector<KernelFeature>& features);
// The feature named `name` is in `features` and present.
bool HasFeature(const std::vector<KernelFeature>& features, const std::string& name);

}  // namespace skewless::datapath
