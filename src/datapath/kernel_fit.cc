#include "kernel_fit.h"

#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <algorithm>

namespace skewless::datapath {

std::vector<std::string> ProgramsLeftOut(const std::vector<KernelFeature>& features) {
  std::vector<std::string> out;
  if (!HasFeature(features, kGetpeernameHooks)) {
    out.insert(out.end(), {"skw_getpeername4", "skw_getpeername6"});
  }
  if (!HasFeature(features, kGetsockoptHook)) out.emplace_back("skw_getsockopt");
  return out;
}

void FitToKernel(bpf_object* object, bool* rodata_set_retval,
                 const std::vector<KernelFeature>& features) {
  const std::vector<std::string> left_out = ProgramsLeftOut(features);
  bpf_program* program = nullptr;
  bpf_object__for_each_program(program, object) {
    if (std::find(left_out.begin(), left_out.end(), bpf_program__name(program)) != left_out.end()) {
      bpf_program__set_autoload(program, false);
    }
  }
  *rodata_set_retval = HasFeature(features, kSetRetval);
  if (!HasFeature(features, kMmapableArrays)) {
    // Without it the splicer cannot map them, and refuses to start: HTTP/2 Services stay
    // balanced per connection (docs/datapath.md, "Kernels").
    bpf_map* map = nullptr;
    bpf_object__for_each_map(map, object) {
      const std::uint32_t flags = bpf_map__map_flags(map);
      if (flags & BPF_F_MMAPABLE) bpf_map__set_map_flags(map, flags & ~BPF_F_MMAPABLE);
    }
  }
}

}  // namespace skewless::datapath
