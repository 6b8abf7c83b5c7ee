// Reads a loaded map's sizes from the kernel and compares them with abi.h.
#include "skewless/datapath/map_layout.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace skewless::datapath {

absl::StatusOr<MapLayout> ReadMapLayout(int map_fd) {
  bpf_map_info info{};
  __u32 info_len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(map_fd, &info, &info_len); err != 0) {
    return absl::ErrnoToStatus(-err, absl::StrCat("reading info of BPF map fd ", map_fd));
  }
  return MapLayout{
      .name = info.name, .key_size_bytes = info.key_size, .value_size_bytes = info.value_size};
}

absl::Status CheckMapLayout(const MapLayout& loaded, std::uint32_t abi_key_size_bytes,
                            std::uint32_t abi_value_size_bytes) {
  if (loaded.key_size_bytes == abi_key_size_bytes &&
      loaded.value_size_bytes == abi_value_size_bytes) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "BPF map '", loaded.name, "' does not match include/skewless/abi.h: key ",
      loaded.key_size_bytes, " bytes in the kernel vs ", abi_key_size_bytes, " in abi.h, value ",
      loaded.value_size_bytes, " bytes in the kernel vs ", abi_value_size_bytes,
      " in abi.h; rebuild the BPF objects and the loader together"));
}

}  // namespace skewless::datapath
