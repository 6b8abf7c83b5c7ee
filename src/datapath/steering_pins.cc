// Pin paths and the fd-only reads of the steering maps and links.
#include "steering_pins.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "skewless/datapath/map_layout.h"

namespace skewless::datapath {

absl::StatusOr<ScopedFd> OpenPinnedMap(const std::string& path, const MapAbi& abi, bool read_only) {
  DECLARE_LIBBPF_OPTS(bpf_obj_get_opts, opts,
                      .file_flags = read_only ? std::uint32_t{BPF_F_RDONLY} : 0u);
  ScopedFd fd(bpf_obj_get_opts(path.c_str(), &opts));
  if (fd.get() < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("opening pinned map ", path));
  }
  absl::StatusOr<MapLayout> layout = ReadMapLayout(fd.get());
  if (!layout.ok()) return layout.status();
  if (absl::Status status = CheckMapLayout(*layout, abi.key_size_bytes, abi.value_size_bytes);
      !status.ok()) {
    return status;
  }
  return fd;
}

const MapAbi& SteeringMapAbi(const std::string& name) {
  for (const MapAbi& abi : kSteeringMapAbi) {
    if (name == abi.name) return abi;
  }
  std::abort();  // a name of ours that is not in the table: a build error in disguise
}

std::string MapPinPath(const std::string& pin_dir, const std::string& map) {
  return absl::StrCat(pin_dir, "/", map);
}

std::string LinkPinPath(const std::string& pin_dir, const std::string& program) {
  return absl::StrCat(pin_dir, "/links/", program);
}

absl::StatusOr<std::array<std::uint64_t, SKW_REASON_COUNT>> ReadReasonCounts(int reasons_fd) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return absl::ErrnoToStatus(-cpus, "counting possible CPUs");
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(cpus));
  std::array<std::uint64_t, SKW_REASON_COUNT> totals{};
  for (std::uint32_t reason = 0; reason < SKW_REASON_COUNT; ++reason) {
    if (int err = bpf_map_lookup_elem(reasons_fd, &reason, per_cpu.data()); err != 0) {
      return absl::ErrnoToStatus(-err, absl::StrCat("reading skw_reasons[", reason, "]"));
    }
    for (std::uint64_t count : per_cpu) totals[reason] += count;
  }
  return totals;
}

absl::StatusOr<skw_backend_load> ReadBackendLoad(int loads_fd, std::uint32_t backend_id) {
  skw_backend_load load{};
  if (int err = bpf_map_lookup_elem(loads_fd, &backend_id, &load); err != 0) {
    return absl::ErrnoToStatus(-err, absl::StrCat("reading skw_backend_loads[", backend_id, "]"));
  }
  return load;
}

absl::StatusOr<bpf_link_info> ReadLinkInfo(int link_fd, const std::string& what) {
  bpf_link_info info{};
  __u32 info_len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(link_fd, &info, &info_len); err != 0) {
    return absl::ErrnoToStatus(-err, absl::StrCat("reading info of ", what));
  }
  return info;
}

}  // namespace skewless::datapath
