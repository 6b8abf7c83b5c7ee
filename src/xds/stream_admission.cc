// Stream admission and accounting for the ADS server (see stream_admission.h).
#include "src/xds/stream_admission.h"

#include <malloc.h>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "skewless/common/log.h"

namespace skewless::xds::internal {

namespace {

// After streams close, glibc keeps their freed memory in its per-thread arenas. Measured
// by the abuse suite without a trim: RSS stayed 44 MB up after 1,000 small streams had
// closed, and 147 MB up after three rounds of eight 40,000-name streams; with it, 7 MB
// and 15 MB. Streams closing in a burst share one trim, at most one per this interval (a
// trim walks every arena under its lock, so it must not run per stream).
constexpr auto kTrimInterval = std::chrono::milliseconds(500);

}  // namespace

std::string PeerKey(std::string_view node_id, std::string_view peer_address) {
  if (!node_id.empty()) {
    if (node_id.size() <= log::kClientStringLogBytes) return std::string(node_id);
    std::string key(node_id.substr(0, log::kClientStringLogBytes));
    absl::StrAppend(&key, "...#", absl::Hash<std::string_view>{}(node_id));
    return key;
  }
  // "ipv4:10.0.0.1:5555", "ipv6:[::1]:5555": the address without the port.
  std::string_view address = peer_address;
  if (const std::size_t scheme = address.find(':'); scheme != std::string_view::npos) {
    address.remove_prefix(scheme + 1);
  }
  if (const std::size_t port = address.rfind(':'); port != std::string_view::npos) {
    address = address.substr(0, port);
  }
  return std::string(address);
}

StreamAdmission::StreamAdmission(const StreamLimits& limits, XdsMetrics& metrics)
    : limits_(limits), metrics_(metrics), log_limiter_(limits.log_interval) {
  for (const char* reason : {"streams", "streams_per_peer", "names_per_stream", "stream_memory"}) {
    metrics_.rejections.With({reason});  // exported as 0 before the first
  }
  metrics_.stream_memory.With({});
  trimmer_ = std::thread([this] { TrimLoop(); });
}

StreamAdmission::~StreamAdmission() {
  {
    std::lock_guard lock(trim_mutex_);
    stopping_ = true;
  }
  trim_wake_.notify_all();
  trimmer_.join();
}

grpc::Status StreamAdmission::Open(std::string_view peer_address) {
  const std::size_t open = streams_.fetch_add(1) + 1;
  if (open <= limits_.max_streams) return grpc::Status::OK;
  streams_.fetch_sub(1);
  return Reject("streams", PeerKey("", peer_address), "-",
                absl::StrCat(limits_.max_streams, " ADS streams are open (--max-streams)"));
}

void StreamAdmission::Closed() {
  streams_.fetch_sub(1);
  {
    std::lock_guard lock(trim_mutex_);
    trim_pending_ = true;
  }
  trim_wake_.notify_one();
}

grpc::Status StreamAdmission::JoinPeer(const std::string& peer, std::string_view stream_id) {
  {
    std::lock_guard lock(peers_mutex_);
    std::size_t& count = peers_[peer];
    if (count < limits_.max_streams_per_peer) {
      ++count;
      return grpc::Status::OK;
    }
  }
  return Reject("streams_per_peer", peer, stream_id,
                absl::StrCat("peer already has ", limits_.max_streams_per_peer,
                             " ADS streams open (--max-streams-per-peer)"));
}

void StreamAdmission::LeavePeer(const std::string& peer) {
  std::lock_guard lock(peers_mutex_);
  auto it = peers_.find(peer);
  if (it != peers_.end() && --it->second == 0) peers_.erase(it);
}

grpc::Status StreamAdmission::Reject(std::string_view limit, std::string_view peer,
                                     std::string_view stream_id, const std::string& detail) {
  metrics_.rejections.With({std::string(limit)}).Increment();
  std::uint64_t suppressed = 0;
  if (ShouldLog(std::string("limit:").append(limit), peer, &suppressed)) {
    log::Warn("xds stream closed: over a limit", {{"limit", std::string(limit)},
                                                  {"peer", std::string(peer)},
                                                  {"stream", std::string(stream_id)},
                                                  {"detail", detail},
                                                  {"suppressed", absl::StrCat(suppressed)}});
  }
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, detail);
}

bool StreamAdmission::ShouldLog(std::string_view kind, std::string_view peer,
                                std::uint64_t* suppressed) {
  if (log_limiter_.Allow(kind, peer, suppressed)) return true;
  metrics_.log_lines_suppressed.With({std::string(kind)}).Increment();
  return false;
}

void StreamAdmission::AddMemory(std::int64_t delta_bytes) {
  if (delta_bytes != 0) metrics_.stream_memory.With({}).Add(static_cast<double>(delta_bytes));
}

void StreamAdmission::TrimLoop() {
  std::unique_lock lock(trim_mutex_);
  while (true) {
    trim_wake_.wait(lock, [&] { return stopping_ || trim_pending_; });
    if (stopping_) return;
    // Let the burst finish, then trim once for all of it.
    trim_wake_.wait_for(lock, kTrimInterval, [&] { return stopping_; });
    if (stopping_) return;
    trim_pending_ = false;
    lock.unlock();
    malloc_trim(0);
    lock.lock();
  }
}

}  // namespace skewless::xds::internal
