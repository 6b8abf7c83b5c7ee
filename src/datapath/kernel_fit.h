// What the steering object leaves out on a kernel that lacks an optional feature
// (feature_probe.h): the same choices for the agent's load and for kernel-check's report.
#pragma once

#include <string>
#include <vector>

#include "skewless/datapath/feature_probe.h"

struct bpf_object;

namespace skewless::datapath {

// Before load: programs whose hook the kernel lacks are not loaded, helpers it lacks are
// switched off through .rodata, map flags it lacks are cleared. `rodata_set_retval`
// points at the object's skw_have_set_retval.
void FitToKernel(bpf_object* object, bool* rodata_set_retval,
                 const std::vector<KernelFeature>& features);

// The programs FitToKernel leaves out for these features.
std::vector<std::string> ProgramsLeftOut(const std::vector<KernelFeature>& features);

}  // namespace skewless::datapath
