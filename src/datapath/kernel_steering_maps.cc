// Map syscalls behind SteeringMaps: updates, deletes, the inner-array swap and a full read.
#include "kernel_steering_maps.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "skewless/datapath/backend_set.h"

namespace skewless::datapath {
namespace {

absl::Status MapError(int err, const std::string& what) { return absl::ErrnoToStatus(-err, what); }

absl::Status Update(int fd, const void* key, const void* value, const std::string& what) {
  if (int err = bpf_map_update_elem(fd, key, value, BPF_ANY); err != 0) return MapError(err, what);
  return absl::OkStatus();
}

// NotFound (not an error to the table) when the key was already gone.
absl::Status Delete(int fd, const void* key, const std::string& what) {
  if (int err = bpf_map_delete_elem(fd, key); err != 0) return MapError(err, what);
  return absl::OkStatus();
}

// Calls `visit(key)` for every key; keys deleted meanwhile are skipped by the caller's lookup.
template <typename Key, typename Visit>
absl::Status ForEachKey(int fd, const std::string& map_name, Visit visit) {
  Key key{};
  const Key* previous = nullptr;
  for (;;) {
    Key next{};
    if (int err = bpf_map_get_next_key(fd, previous, &next); err != 0) {
      if (err == -ENOENT) return absl::OkStatus();
      return MapError(err, absl::StrCat("iterating BPF map ", map_name));
    }
    if (absl::Status status = visit(next); !status.ok()) return status;
    key = next;
    previous = &key;
  }
}

class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::StatusOr<std::vector<skw_slot>> ReadInnerSet(std::uint32_t service_id,
                                                   std::uint32_t inner_map_id) {
  ScopedFd inner(bpf_map_get_fd_by_id(inner_map_id));
  if (inner.get() < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("opening the backend set of service id ",
                                                   service_id, " (map id ", inner_map_id, ")"));
  }
  bpf_map_info info{};
  __u32 info_len = sizeof(info);
  if (int err = bpf_obj_get_info_by_fd(inner.get(), &info, &info_len); err != 0) {
    return MapError(err,
                    absl::StrCat("reading info of the backend set of service id ", service_id));
  }
  std::vector<skw_slot> slots(info.max_entries);
  for (std::uint32_t i = 0; i < info.max_entries; ++i) {
    if (int err = bpf_map_lookup_elem(inner.get(), &i, &slots[i]); err != 0) {
      return MapError(err, absl::StrCat("reading slot ", i, " of service id ", service_id));
    }
  }
  return slots;
}

}  // namespace

absl::Status KernelSteeringMaps::WriteBackend(std::uint32_t backend_id,
                                              const skw_backend& backend) {
  return Update(fds_.backends, &backend_id, &backend,
                absl::StrCat("writing backend ", backend_id, " (", FormatAddress(backend.addr),
                             ") to skw_backends"));
}

absl::Status KernelSteeringMaps::DeleteBackend(std::uint32_t backend_id) {
  return Delete(fds_.backends, &backend_id,
                absl::StrCat("deleting backend ", backend_id, " from skw_backends"));
}

absl::Status KernelSteeringMaps::SwapBackendSet(std::uint32_t service_id,
                                                const std::vector<skw_slot>& slots) {
  // The flags must equal the outer map's inner template (BPF_F_INNER_MAP):
  // the kernel compares them when the inner map is inserted.
  bpf_map_create_opts opts{};
  opts.sz = sizeof(opts);
  opts.map_flags = BPF_F_INNER_MAP;
  ScopedFd inner(bpf_map_create(BPF_MAP_TYPE_ARRAY, "skw_set", sizeof(std::uint32_t),
                                sizeof(skw_slot), static_cast<std::uint32_t>(slots.size()), &opts));
  if (inner.get() < 0) {
    return absl::ErrnoToStatus(
        errno,
        absl::StrCat("creating a ", slots.size(), "-slot backend set for service id ", service_id));
  }
  for (std::uint32_t i = 0; i < slots.size(); ++i) {
    if (absl::Status status = Update(inner.get(), &i, &slots[i],
                                     absl::StrCat("filling slot ", i,
                                                  " of the new backend set "
                                                  "of service id ",
                                                  service_id));
        !status.ok()) {
      return status;
    }
  }
  // The one update concurrent connects can observe: old set or new set.
  const std::uint32_t inner_fd = static_cast<std::uint32_t>(inner.get());
  return Update(fds_.backend_sets, &service_id, &inner_fd,
                absl::StrCat("swapping the backend set of service id ", service_id,
                             " into skw_backend_sets"));
}

absl::Status KernelSteeringMaps::DeleteBackendSet(std::uint32_t service_id) {
  return Delete(fds_.backend_sets, &service_id,
                absl::StrCat("deleting the backend set of service id ", service_id));
}

absl::Status KernelSteeringMaps::WriteService(const skw_service_key& key,
                                              const skw_service& service) {
  return Update(fds_.services, &key, &service,
                absl::StrCat("writing service ", FormatAddress(key.vip), " port ", ntohs(key.port),
                             " (id ", service.service_id, ") to skw_services"));
}

absl::Status KernelSteeringMaps::DeleteService(const skw_service_key& key) {
  return Delete(fds_.services, &key,
                absl::StrCat("deleting service ", FormatAddress(key.vip), " port ", ntohs(key.port),
                             " from skw_services"));
}

absl::Status KernelSteeringMaps::WriteNode(const skw_node_config& node) {
  const std::uint32_t zero = 0;
  return Update(fds_.node, &zero, &node, "writing skw_node");
}

absl::StatusOr<SteeringMapsSnapshot> KernelSteeringMaps::Read() const {
  SteeringMapsSnapshot snapshot;
  absl::Status status =
      ForEachKey<skw_service_key>(fds_.services, "skw_services", [&](const skw_service_key& key) {
        skw_service value{};
        if (int err = bpf_map_lookup_elem(fds_.services, &key, &value); err == 0) {
          snapshot.services.emplace_back(key, value);
        } else if (err != -ENOENT) {
          return MapError(err, "reading skw_services");
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  status = ForEachKey<std::uint32_t>(
      fds_.backend_sets, "skw_backend_sets", [&](std::uint32_t service_id) -> absl::Status {
        std::uint32_t inner_id = 0;
        int err = bpf_map_lookup_elem(fds_.backend_sets, &service_id, &inner_id);
        if (err == -ENOENT) return absl::OkStatus();
        if (err != 0) return MapError(err, "reading skw_backend_sets");
        absl::StatusOr<std::vector<skw_slot>> slots = ReadInnerSet(service_id, inner_id);
        if (!slots.ok()) return slots.status();
        snapshot.sets[service_id] = *std::move(slots);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  status = ForEachKey<std::uint32_t>(fds_.backends, "skw_backends", [&](std::uint32_t id) {
    skw_backend value{};
    if (int err = bpf_map_lookup_elem(fds_.backends, &id, &value); err == 0) {
      snapshot.backends[id] = value;
    } else if (err != -ENOENT) {
      return MapError(err, "reading skw_backends");
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  const std::uint32_t zero = 0;
  if (int err = bpf_map_lookup_elem(fds_.node, &zero, &snapshot.node); err != 0) {
    return MapError(err, "reading skw_node");
  }
  return snapshot;
}

}  // namespace skewless::datapath
