// Loads each of the data path's BPF programs on its own into the running kernel (nothing
// pinned, nothing attached) and says which the verifier accepts, with its log for the
// ones it rejects: what `make kernel-test` reports per kernel.
#pragma once

#include <string>
#include <vector>

#include "skewless/datapath/feature_probe.h"

namespace skewless::datapath {

struct ProgramLoad {
  std::string object;   // "steer" or "connect_observer"
  std::string name;     // e.g. skw_connect4
  std::string section;  // e.g. cgroup/connect4
  bool loaded = false;
  // Not loaded because the kernel lacks the optional feature it needs: the agent runs
  // without it (kernel_fit.h). `error` says which.
  bool left_out = false;
  std::string error;         // libbpf's, when not loaded
  std::string verifier_log;  // the verifier's last lines, when not loaded
};

// As the agent would load them on a kernel with `features` (ProbeKernelFeatures()).
std::vector<ProgramLoad> ProbeProgramLoads(const std::vector<KernelFeature>& features);

}  // namespace skewless::datapath
