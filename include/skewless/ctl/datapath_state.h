// What skewlessctl reads from a pinned data path, in one consistent-enough snapshot, and
// the message it gives when there is none.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "skewless/abi.h"
#include "skewless/datapath/steering_maps.h"

namespace skewless::ctl {

// Everything the data path's maps say, read once. Separate from the kernel so the views,
// explain and the renderers are tested on made-up state.
struct DatapathState {
  std::string pin_dir;
  datapath::SteeringMapsSnapshot maps;
  std::map<std::uint32_t, skw_backend_load> loads;  // backend id → sockops' counts
  std::array<std::uint64_t, SKW_REASON_COUNT> reasons{};
  // CLOCK_MONOTONIC when read: bpf_ktime_get_ns()'s clock, so slow-start ramps computed
  // from ready_since_ns match what the kernel computes at the same instant.
  std::uint64_t now_ns = 0;
};

// Where skewlessctl looked for the data path, for the message when it is not there.
struct PinDirProbe {
  std::string pin_dir;
  bool exists = false;
  // The filesystem that holds the pin dir (or would: its parent when it does not exist).
  std::string fs_path;
  bool fs_is_bpffs = false;
};

PinDirProbe ProbePinDir(const std::string& pin_dir);

// Where it looked, what it found there and what to do, over several lines.
std::string NoDatapathMessage(const PinDirProbe& probe);

// The maps pinned in `pin_dir`, read-only. NotFound (with NoDatapathMessage as its
// message) when no data path is pinned there; other errors name the map or syscall.
absl::StatusOr<DatapathState> ReadDatapathState(const std::string& pin_dir);

}  // namespace skewless::ctl
