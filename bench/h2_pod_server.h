// A lightweight gRPC backend for the splicer benchmark's latency rows: Echo.Work and
// Echo.Stats over h2c on one thread (nghttp2 and epoll). The lab's gRPC C++ pod costs
// about 30 µs of CPU per call; four of them and the generator saturate the load core of the
// pinned layout at a fraction of the splicer's peak, and the queueing there would be
// charged to the proxy. This one answers the same calls for a fraction of that.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"

namespace skewless::h2pod {

struct PodOptions {
  std::string listen = "127.0.0.1:0";
  std::string name = "h2-pod";
  std::string zone = "bench";
  // Advertised to each client: pooling proxies open another connection past it.
  std::uint32_t max_concurrent_streams = 1000;
};

// What the pod has served, as skewless.lab.v1.StatsReply counts it.
struct PodCounts {
  std::uint64_t work_served = 0;
  std::uint64_t connections_seen = 0;  // connections that sent at least one Work call
};

class PodServer {
 public:
  static absl::StatusOr<std::unique_ptr<PodServer>> Listen(const PodOptions& options);
  ~PodServer();
  PodServer(const PodServer&) = delete;
  PodServer& operator=(const PodServer&) = delete;

  // host:port actually bound (the port the kernel chose for ":0").
  const std::string& address() const { return address_; }
  // Serves until `stop_fd` (e.g. a signalfd) becomes readable; open calls are dropped.
  absl::Status Serve(int stop_fd);
  const PodCounts& counts() const { return counts_; }

  class Connection;

 private:
  PodServer(const PodOptions& options, int listen_fd, std::string address);
  void Accept();
  void Serve(Connection& connection, std::uint32_t events);
  void Watch(int fd, std::uint32_t events, int op);

  PodOptions options_;
  int listen_fd_;
  int epoll_fd_ = -1;
  std::string address_;
  std::string work_reply_;  // framed WorkReply: the same for every call
  PodCounts counts_;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;  // by socket
};

}  // namespace skewless::h2pod
