// The path of a cgroup from its id (what bpf_link_info reports for a cgroup link).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace skewless::ctl {

// A cgroup v2 id is its kernfs node id, which open_by_handle_at() on the cgroup2 mount
// accepts as a file handle: one syscall instead of walking the whole hierarchy. Needs
// CAP_DAC_READ_SEARCH (root). Errors name the id.
absl::StatusOr<std::string> CgroupPathOf(std::uint64_t cgroup_id);

}  // namespace skewless::ctl
