// Map syscalls behind SteeringMaps: updates, deletes, batched inner-array swaps and a full read.
#include "kernel_steering_maps.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "skewless/common/net.h"
#include "skewless/datapath/backend_set.h"
#include "skewless/datapath/bpf_util.h"

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

// -ENOTSUPP (524, kernel-internal, reaches userspace when a map type has no
// batch ops), -EOPNOTSUPP, or -EINVAL from kernels before BPF_MAP_*_BATCH.
bool BatchUnsupported(int err) { return err == -524 || err == -EOPNOTSUPP || err == -EINVAL; }

// Each set holds an fd until its chunk is swapped in: bound the chunk by the
// fd limit (a quarter of it, so the process keeps room for everything else).
std::size_t SwapChunkSize() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 4096;
  return std::clamp<std::size_t>(limit.rlim_cur / 4, 16, 4096);
}

absl::StatusOr<ScopedFd> CreateFilledSet(std::uint32_t service_id,
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
    if (absl::Status status = Update(
            inner.get(), &i, &slots[i],
            absl::StrCat("filling slot ", i, " of the new backend set of service id ", service_id));
        !status.ok()) {
      return status;
    }
  }
  return inner;
}

}  // namespace

absl::Status KernelSteeringMaps::WriteBackend(std::uint32_t backend_id,
                                              const skw_backend& backend) {
  return Update(fds_.backends, &backend_id, &backend,
                absl::StrCat("writing backend ", backend_id, " (", net::FormatSkwAddr(backend.addr),
                             ") to skw_backends"));
}

absl::Status KernelSteeringMaps::DeleteBackend(std::uint32_t backend_id) {
  return Delete(fds_.backends, &backend_id,
                absl::StrCat("deleting backend ", backend_id, " from skw_backends"));
}

absl::Status KernelSteeringMaps::SwapBackendSets(const BackendSetSwaps& swaps) {
  const std::size_t chunk = SwapChunkSize();
  for (std::size_t begin = 0; begin < swaps.size(); begin += chunk) {
    if (absl::Status status = SwapChunk(swaps, begin, std::min(swaps.size(), begin + chunk));
        !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::Status KernelSteeringMaps::SwapChunk(const BackendSetSwaps& swaps, std::size_t begin,
                                           std::size_t end) {
  // Every new set complete before the first becomes visible.
  std::vector<ScopedFd> inner;
  std::vector<std::uint32_t> keys;
  std::vector<std::uint32_t> values;
  inner.reserve(end - begin);
  for (std::size_t i = begin; i < end; ++i) {
    absl::StatusOr<ScopedFd> set = CreateFilledSet(swaps[i].first, swaps[i].second);
    if (!set.ok()) return set.status();
    keys.push_back(swaps[i].first);
    values.push_back(static_cast<std::uint32_t>(set->get()));
    inner.push_back(*std::move(set));
  }
  // The updates concurrent connects can observe, each old set or new set;
  // the kernel waits for running programs once, after the whole batch.
  std::size_t done = 0;
  if (batch_fallback_reason_.empty()) {
    DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
    auto count = static_cast<__u32>(keys.size());
    const int err =
        bpf_map_update_batch(fds_.backend_sets, keys.data(), values.data(), &count, &opts);
    if (err == 0) return absl::OkStatus();
    // A kernel without the op returns before touching the count, which libbpf then hands
    // back unchanged (all of them, as if done): nothing was done, and redoing an update
    // (BPF_ANY) is harmless anyway. Found by make kernel-test on Linux 5.10.
    done = BatchUnsupported(err) ? 0 : std::min<std::size_t>(count, keys.size());
    if (!BatchUnsupported(err)) {
      const std::uint32_t failed = keys[std::min(done, keys.size() - 1)];
      return MapError(err, absl::StrCat("swapping the backend set of service id ", failed,
                                        " into skw_backend_sets (batch of ", keys.size(), ")"));
    }
    batch_fallback_reason_ =
        absl::StrCat("BPF_MAP_UPDATE_BATCH on skw_backend_sets failed: ", std::strerror(-err),
                     " (kernel without batch ops for HASH_OF_MAPS); swapping one set per update");
  }
  for (std::size_t i = done; i < keys.size(); ++i) {
    if (absl::Status status = Update(fds_.backend_sets, &keys[i], &values[i],
                                     absl::StrCat("swapping the backend set of service id ",
                                                  keys[i], " into skw_backend_sets"));
        !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::Status KernelSteeringMaps::DeleteBackendSets(const std::vector<std::uint32_t>& service_ids) {
  std::vector<std::uint32_t> keys = service_ids;
  std::vector<std::uint32_t> missing;
  if (batch_fallback_reason_.empty() && !keys.empty()) {
    // A batch delete stops at the first missing key; delete the rest one by one.
    auto count = static_cast<__u32>(keys.size());
    DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int err = bpf_map_delete_batch(fds_.backend_sets, keys.data(), &count, &opts);
    if (err == 0) return absl::OkStatus();
    if (err != -ENOENT && !BatchUnsupported(err)) {
      return MapError(err, absl::StrCat("deleting the backend sets of ", keys.size(),
                                        " services from skw_backend_sets"));
    }
    if (BatchUnsupported(err)) {
      // Nothing was deleted (the count came back untouched: see SwapChunk).
      batch_fallback_reason_ =
          absl::StrCat("BPF_MAP_DELETE_BATCH on skw_backend_sets failed: ", std::strerror(-err),
                       " (kernel without batch ops for HASH_OF_MAPS); deleting one set at a time");
    } else {
      keys.erase(keys.begin(), keys.begin() + std::min<std::size_t>(count, keys.size()));
    }
  }
  for (std::uint32_t id : keys) {
    absl::Status status =
        Delete(fds_.backend_sets, &id, absl::StrCat("deleting the backend set of service id ", id));
    if (absl::IsNotFound(status)) {
      missing.push_back(id);
    } else if (!status.ok()) {
      return status;
    }
  }
  if (!missing.empty()) {
    return absl::NotFoundError(absl::StrCat("backend sets of service ids ",
                                            absl::StrJoin(missing, ", "), " were already gone"));
  }
  return absl::OkStatus();
}

absl::Status KernelSteeringMaps::WriteService(const skw_service_key& key,
                                              const skw_service& service) {
  return Update(fds_.services, &key, &service,
                absl::StrCat("writing service ", net::FormatSkwAddr(key.vip), " port ",
                             ntohs(key.port), " (id ", service.service_id, ") to skw_services"));
}

absl::Status KernelSteeringMaps::DeleteService(const skw_service_key& key) {
  return Delete(fds_.services, &key,
                absl::StrCat("deleting service ", net::FormatSkwAddr(key.vip), " port ",
                             ntohs(key.port), " from skw_services"));
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
