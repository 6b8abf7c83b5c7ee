// Reads a Service's set, backends and loads out of an agent's pinned maps.
#include "skewless/lab/node_maps.h"

#include <arpa/inet.h>

#include "skewless/common/net.h"
#include "skewless/datapath/backend_set.h"
#include "skewless/datapath/pinned_steering.h"

namespace skewless::lab {

absl::StatusOr<ProgrammedService> ReadProgrammedService(const std::string& pin_dir,
                                                        const std::string& vip, uint16_t port) {
  auto pinned = datapath::PinnedSteering::Open(pin_dir);
  if (!pinned.ok()) return pinned.status();
  auto snapshot = (*pinned)->maps().Read();
  if (!snapshot.ok()) return snapshot.status();
  ProgrammedService out;
  for (const auto& [key, service] : snapshot->services) {
    if (net::FormatSkwAddr(key.vip) != vip || ntohs(key.port) != port) continue;
    auto set = snapshot->sets.find(service.service_id);
    if (set == snapshot->sets.end() || set->second.empty()) break;
    const std::vector<skw_slot>& slots = set->second;
    out.found = true;
    out.lb_policy = service.lb_policy;
    out.flags = service.flags;
    out.n_preferred = slots[0].n_preferred;
    out.n_ready = slots[0].n_ready;
    out.n_serving = slots[0].n_serving;
    for (size_t i = 1; i < slots.size() && i <= out.n_ready + out.n_serving; ++i) {
      auto backend = snapshot->backends.find(slots[i].backend_id);
      if (backend == snapshot->backends.end()) continue;
      ProgrammedBackend b;
      b.id = slots[i].backend_id;
      b.address = net::FormatSkwAddr(backend->second.addr);
      b.port = ntohs(backend->second.port);
      b.preferred = i <= out.n_preferred;
      auto load = (*pinned)->BackendLoad(b.id);
      if (!load.ok()) return load.status();
      b.active_conns = load->active_conns;
      out.backends.push_back(b);
    }
    break;
  }
  return out;
}

}  // namespace skewless::lab
