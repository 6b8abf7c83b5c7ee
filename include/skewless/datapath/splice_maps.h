// What the HTTP/2 splicer reads and writes of a data path pinned by the agent: the
// backends of the Service a redirected client dialled (read-only), and the load map it
// counts its streams and ejections in (mmapped, one atomic add per stream).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "skewless/abi.h"
#include "skewless/datapath/bpf_util.h"

namespace skewless::datapath {

// One member of a service's backend set, as the connect path would see it.
struct SpliceBackend {
  std::uint32_t backend_id = 0;
  skw_backend backend{};
  bool preferred = false;    // in the set's preferred tier (same zone or node)
  bool terminating = false;  // serving but terminating: only used when nothing is ready
};

// A Service's entry and its set, read in one go.
struct SpliceService {
  skw_service service{};
  std::vector<SpliceBackend> backends;  // the set's order: ready (preferred first), terminating
};

class PinnedServices {
 public:
  // Opens skw_services, skw_backend_sets and skw_backends under `pin_dir` read-only.
  static absl::StatusOr<std::unique_ptr<PinnedServices>> Open(const std::string& pin_dir);

  // The TCP service at vip:port (network order port), nullopt when there is none (or it
  // has no set yet). Backends the agent deleted between the reads are left out.
  absl::StatusOr<std::optional<SpliceService>> Find(const skw_addr& vip,
                                                    std::uint16_t port_network_order) const;
  // Every backend id the agent has written (what a starting splicer resets its counts of).
  absl::StatusOr<std::vector<std::uint32_t>> BackendIds() const;

 private:
  PinnedServices(ScopedFd services, ScopedFd sets, ScopedFd backends);
  ScopedFd services_;
  ScopedFd sets_;
  ScopedFd backends_;
};

// A pinned BPF_F_MMAPABLE array of the agent's, mapped read-write.
class MappedArray {
 public:
  // <pin_dir>/<name>, checked against abi.h's layout; an error names a map that is
  // missing, of another layout or not mmapable (pinned by an older build).
  static absl::StatusOr<MappedArray> Open(const std::string& pin_dir, const std::string& name);
  MappedArray(MappedArray&& other) noexcept;
  MappedArray& operator=(MappedArray&&) = delete;
  ~MappedArray();
  template <typename Value>
  Value* As() const {
    return static_cast<Value*>(base_);
  }

 private:
  MappedArray() = default;
  ScopedFd fd_;
  void* base_ = nullptr;
  std::size_t length_ = 0;
};

// skw_backend_loads, mmapped read-write (the splicer's counts, the agent's cluster load). Every
// method is lock-free and safe from any thread; ids outside [1, SKW_MAX_BACKENDS) are ignored.
class LoadCounters {
 public:
  static absl::StatusOr<std::unique_ptr<LoadCounters>> Open(const std::string& pin_dir);

  // outstanding_requests += delta, never below zero (a splicer that restarted while an
  // older one drains may see the other's decrements).
  void AddOutstanding(std::uint32_t backend_id, std::int64_t delta);
  // Zero: at start, no stream of this splicer is in flight (a crashed one's count must not
  // weigh on connects forever).
  void ResetOutstanding(std::uint32_t backend_id);
  // ejected_until_ns = max(current, until_ns) (bpf_ktime_get_ns clock).
  void EjectUntil(std::uint32_t backend_id, std::uint64_t until_ns);
  // cluster_conns = connections (the agent's: every other node's share of the load).
  void SetClusterConns(std::uint32_t backend_id, std::uint64_t connections);
  skw_backend_load Read(std::uint32_t backend_id) const;

 private:
  explicit LoadCounters(MappedArray mapped) : mapped_(std::move(mapped)) {}
  skw_backend_load* At(std::uint32_t backend_id) const;
  MappedArray mapped_;
};

// skw_splicer's lease (abi.h): while it runs, connects to HTTP/2 Services come to the
// splicer holding it; when it lapses or is released they are steered at L4 again.
class SplicerLease {
 public:
  static absl::StatusOr<std::unique_ptr<SplicerLease>> Open(const std::string& pin_dir);
  ~SplicerLease();  // releases

  // Holds the lease until `until_ns` (bpf_ktime_get_ns clock, CLOCK_MONOTONIC) as this
  // process.
  void Renew(std::uint64_t until_ns);
  // Ends it now, if this process holds it.
  void Release();
  skw_splicer_lease Read() const;

 private:
  explicit SplicerLease(MappedArray mapped) : mapped_(std::move(mapped)) {}
  MappedArray mapped_;
};

}  // namespace skewless::datapath
