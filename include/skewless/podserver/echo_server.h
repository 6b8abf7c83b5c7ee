// The lab's pod workload: an Echo gRPC server that sleeps its service time and says who it is.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace skewless::podserver {

struct EchoServerOptions {
  std::string pod_name = "pod-0";
  std::string zone;
  // host:port; port 0 picks a free one (see EchoServer::listen_address()).
  std::string listen_address = "127.0.0.1:0";
  // Time each Work RPC takes, spent asleep on a timer: the lab runs ~10
  // processes on 2 cores, so burning CPU would measure the scheduler instead.
  uint32_t service_time_us = 1000;
  // Multiplies the whole service time (own + the request's extra): a "slow pod".
  double slow_factor = 1.0;
};

struct EchoStats {
  uint64_t work_served = 0;
  // Distinct peers (grpc peer strings: one per TCP connection) that sent Work.
  uint64_t connections_seen = 0;
  // StreamWork, UploadWork and ChatWork calls started.
  uint64_t streams_served = 0;
};

class EchoService;

class EchoServer {
 public:
  // Validates options, binds and starts serving. Fails with the address in the
  // message when it cannot bind.
  static absl::StatusOr<std::unique_ptr<EchoServer>> Start(const EchoServerOptions& options);
  ~EchoServer();
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  // The bound address with the real port, e.g. "127.0.0.1:41235".
  const std::string& listen_address() const { return listen_address_; }
  int port() const { return port_; }
  const EchoServerOptions& options() const { return options_; }
  EchoStats stats() const;

  // Stops accepting, lets in-flight RPCs finish until `deadline` passes, then
  // cancels the rest. Idempotent.
  void Shutdown(absl::Duration deadline = absl::Seconds(1));

 private:
  EchoServer(EchoServerOptions options, std::unique_ptr<EchoService> service);

  EchoServerOptions options_;
  std::unique_ptr<EchoService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string listen_address_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace skewless::podserver
