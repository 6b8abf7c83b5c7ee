// The splicer's reads of the pinned service maps and its mmapped load counters.
#include "skewless/datapath/splice_maps.h"

#include <bpf/bpf.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "steering_pins.h"

namespace skewless::datapath {
namespace {

absl::StatusOr<ScopedFd> OpenMap(const std::string& pin_dir, const std::string& name,
                                 bool read_only) {
  return OpenPinnedMap(MapPinPath(pin_dir, name), SteeringMapAbi(name), read_only);
}

}  // namespace

PinnedServices::PinnedServices(ScopedFd services, ScopedFd sets, ScopedFd backends)
    : services_(std::move(services)), sets_(std::move(sets)), backends_(std::move(backends)) {}

absl::StatusOr<std::unique_ptr<PinnedServices>> PinnedServices::Open(const std::string& pin_dir) {
  absl::StatusOr<ScopedFd> services = OpenMap(pin_dir, "skw_services", true);
  if (!services.ok()) return services.status();
  absl::StatusOr<ScopedFd> sets = OpenMap(pin_dir, "skw_backend_sets", true);
  if (!sets.ok()) return sets.status();
  absl::StatusOr<ScopedFd> backends = OpenMap(pin_dir, "skw_backends", true);
  if (!backends.ok()) return backends.status();
  return std::unique_ptr<PinnedServices>(
      new PinnedServices(*std::move(services), *std::move(sets), *std::move(backends)));
}

absl::StatusOr<std::optional<SpliceService>> PinnedServices::Find(
    const skw_addr& vip, std::uint16_t port_network_order) const {
  skw_service_key key{};
  key.vip = vip;
  key.port = port_network_order;
  key.proto = IPPROTO_TCP;
  SpliceService found;
  if (bpf_map_lookup_elem(services_.get(), &key, &found.service) != 0) {
    if (errno == ENOENT) return std::nullopt;
    return absl::ErrnoToStatus(errno, "reading skw_services");
  }
  std::uint32_t inner_id = 0;
  if (bpf_map_lookup_elem(sets_.get(), &found.service.service_id, &inner_id) != 0) {
    if (errno == ENOENT) return std::nullopt;
    return absl::ErrnoToStatus(errno, "reading skw_backend_sets");
  }
  // The set may be swapped right after this: the fd keeps the one read alive, and the
  // next refresh reads its successor.
  ScopedFd set(bpf_map_get_fd_by_id(inner_id));
  if (set.get() < 0) {
    if (errno == ENOENT) return std::nullopt;
    return absl::ErrnoToStatus(errno, absl::StrCat("opening backend set map id ", inner_id));
  }
  skw_slot header{};
  const std::uint32_t header_index = 0;
  if (bpf_map_lookup_elem(set.get(), &header_index, &header) != 0) {
    return absl::ErrnoToStatus(errno, "reading a backend set's header");
  }
  const std::uint32_t members = std::uint32_t{header.n_ready} + header.n_serving;
  found.backends.reserve(members);
  for (std::uint32_t index = 1; index <= members; ++index) {
    skw_slot slot{};
    if (bpf_map_lookup_elem(set.get(), &index, &slot) != 0 || slot.backend_id == 0) continue;
    SpliceBackend member{.backend_id = slot.backend_id,
                         .preferred = index <= header.n_preferred,
                         .terminating = index > header.n_ready};
    if (bpf_map_lookup_elem(backends_.get(), &slot.backend_id, &member.backend) != 0) continue;
    found.backends.push_back(member);
  }
  return found;
}

absl::StatusOr<std::vector<std::uint32_t>> PinnedServices::BackendIds() const {
  std::vector<std::uint32_t> ids;
  std::uint32_t key = 0;
  std::uint32_t next = 0;
  const std::uint32_t* previous = nullptr;
  while (bpf_map_get_next_key(backends_.get(), previous, &next) == 0) {
    ids.push_back(next);
    key = next;
    previous = &key;
  }
  if (errno != ENOENT) return absl::ErrnoToStatus(errno, "listing skw_backends");
  return ids;
}

MappedArray::MappedArray(MappedArray&& other) noexcept
    : fd_(std::move(other.fd_)),
      base_(std::exchange(other.base_, nullptr)),
      length_(std::exchange(other.length_, 0)) {}

MappedArray::~MappedArray() {
  if (base_ != nullptr) munmap(base_, length_);
}

absl::StatusOr<MappedArray> MappedArray::Open(const std::string& pin_dir, const std::string& name) {
  absl::StatusOr<ScopedFd> fd = OpenMap(pin_dir, name, false);
  if (!fd.ok()) return fd.status();
  bpf_map_info info{};
  __u32 info_length = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd->get(), &info, &info_length) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("reading ", name, "'s info"));
  }
  if ((info.map_flags & BPF_F_MMAPABLE) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " is not mmapable: the data path pinned in ", pin_dir,
                     " is from an older build (uninstall it and restart the agent)"));
  }
  // An array's values are laid out back to back, each rounded up to 8 bytes (ours are
  // multiples of 8 already: abi.h asserts their sizes).
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const std::size_t length =
      (std::size_t{info.max_entries} * info.value_size + page - 1) / page * page;
  void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd->get(), 0);
  if (base == MAP_FAILED) return absl::ErrnoToStatus(errno, absl::StrCat("mmapping ", name));
  MappedArray mapped;
  mapped.fd_ = *std::move(fd);
  mapped.base_ = base;
  mapped.length_ = length;
  return mapped;
}

absl::StatusOr<std::unique_ptr<LoadCounters>> LoadCounters::Open(const std::string& pin_dir) {
  absl::StatusOr<MappedArray> mapped = MappedArray::Open(pin_dir, "skw_backend_loads");
  if (!mapped.ok()) return mapped.status();
  return std::unique_ptr<LoadCounters>(new LoadCounters(*std::move(mapped)));
}

skw_backend_load* LoadCounters::At(std::uint32_t backend_id) const {
  if (backend_id == 0 || backend_id >= SKW_MAX_BACKENDS) return nullptr;
  return mapped_.As<skw_backend_load>() + backend_id;
}

void LoadCounters::AddOutstanding(std::uint32_t backend_id, std::int64_t delta) {
  skw_backend_load* load = At(backend_id);
  if (load == nullptr) return;
  std::atomic_ref<__u64> count(load->outstanding_requests);
  if (delta >= 0) {
    count.fetch_add(static_cast<__u64>(delta), std::memory_order_relaxed);
    return;
  }
  const __u64 down = static_cast<__u64>(-delta);
  __u64 seen = count.load(std::memory_order_relaxed);
  while (!count.compare_exchange_weak(seen, seen > down ? seen - down : 0,
                                      std::memory_order_relaxed)) {
  }
}

void LoadCounters::ResetOutstanding(std::uint32_t backend_id) {
  skw_backend_load* load = At(backend_id);
  if (load == nullptr) return;
  std::atomic_ref<__u64>(load->outstanding_requests).store(0, std::memory_order_relaxed);
}

void LoadCounters::EjectUntil(std::uint32_t backend_id, std::uint64_t until_ns) {
  skw_backend_load* load = At(backend_id);
  if (load == nullptr) return;
  std::atomic_ref<__u64> until(load->ejected_until_ns);
  __u64 seen = until.load(std::memory_order_relaxed);
  while (seen < until_ns &&
         !until.compare_exchange_weak(seen, until_ns, std::memory_order_relaxed)) {
  }
}

skw_backend_load LoadCounters::Read(std::uint32_t backend_id) const {
  skw_backend_load* load = At(backend_id);
  if (load == nullptr) return {};
  return skw_backend_load{
      .active_conns = std::atomic_ref<__u64>(load->active_conns).load(std::memory_order_relaxed),
      .total_conns = std::atomic_ref<__u64>(load->total_conns).load(std::memory_order_relaxed),
      .outstanding_requests =
          std::atomic_ref<__u64>(load->outstanding_requests).load(std::memory_order_relaxed),
      .ejected_until_ns =
          std::atomic_ref<__u64>(load->ejected_until_ns).load(std::memory_order_relaxed),
      .cluster_conns = std::atomic_ref<__u64>(load->cluster_conns).load(std::memory_order_relaxed)};
}

void LoadCounters::SetClusterConns(std::uint32_t backend_id, std::uint64_t connections) {
  skw_backend_load* load = At(backend_id);
  if (load == nullptr) return;
  std::atomic_ref<__u64>(load->cluster_conns).store(connections, std::memory_order_relaxed);
}

absl::StatusOr<std::unique_ptr<SplicerLease>> SplicerLease::Open(const std::string& pin_dir) {
  absl::StatusOr<MappedArray> mapped = MappedArray::Open(pin_dir, "skw_splicer");
  if (!mapped.ok()) return mapped.status();
  return std::unique_ptr<SplicerLease>(new SplicerLease(*std::move(mapped)));
}

SplicerLease::~SplicerLease() { Release(); }

void SplicerLease::Renew(std::uint64_t until_ns) {
  skw_splicer_lease* lease = mapped_.As<skw_splicer_lease>();
  std::atomic_ref<__u32>(lease->pid).store(static_cast<__u32>(getpid()), std::memory_order_relaxed);
  std::atomic_ref<__u64>(lease->alive_until_ns).store(until_ns, std::memory_order_release);
}

void SplicerLease::Release() {
  skw_splicer_lease* lease = mapped_.As<skw_splicer_lease>();
  // Only our own: a new splicer that took over while this one drains keeps its lease.
  if (std::atomic_ref<__u32>(lease->pid).load(std::memory_order_relaxed) !=
      static_cast<__u32>(getpid())) {
    return;
  }
  std::atomic_ref<__u64>(lease->alive_until_ns).store(0, std::memory_order_release);
}

skw_splicer_lease SplicerLease::Read() const {
  skw_splicer_lease* lease = mapped_.As<skw_splicer_lease>();
  return skw_splicer_lease{
      .alive_until_ns =
          std::atomic_ref<__u64>(lease->alive_until_ns).load(std::memory_order_acquire),
      .pid = std::atomic_ref<__u32>(lease->pid).load(std::memory_order_relaxed),
      .pad = 0};
}

}  // namespace skewless::datapath
