// What one node's agent has programmed for a Service, read through its pinned maps
// (read-only, as skewlessctl does): the lab's proof that the shipped path is in place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace skewless::lab {

struct ProgrammedBackend {
  std::string address;
  uint16_t port = 0;
  uint32_t id = 0;
  bool preferred = false;     // in the set's preferred tier (same zone / node)
  uint64_t active_conns = 0;  // this node's open connections to it (sockops)
};

struct ProgrammedService {
  bool found = false;  // the maps hold the Service's VIP:port
  uint32_t n_preferred = 0;
  uint32_t n_ready = 0;
  uint32_t n_serving = 0;
  uint8_t lb_policy = 0;                    // enum skw_lb_policy
  uint32_t flags = 0;                       // enum skw_service_flags
  std::vector<ProgrammedBackend> backends;  // set order: preferred, ready, serving
};

// NotFound when nothing is pinned in `pin_dir` yet (the agent has not installed);
// found == false while the Service is not programmed.
absl::StatusOr<ProgrammedService> ReadProgrammedService(const std::string& pin_dir,
                                                        const std::string& vip, uint16_t port);

}  // namespace skewless::lab
