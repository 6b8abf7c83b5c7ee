// EchoServer lifecycle: validate options, bind with pod-like server args, shut down on a deadline.
#include "skewless/podserver/echo_server.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "echo_service.h"
#include "skewless/common/net.h"

namespace skewless::podserver {
namespace {

absl::Status Validate(const EchoServerOptions& o) {
  if (o.pod_name.empty()) return absl::InvalidArgumentError("pod name must not be empty");
  if (!std::isfinite(o.slow_factor) || o.slow_factor <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("slow factor must be a positive number, got ", o.slow_factor));
  }
  // gRPC binds a name too, so any host goes, but not none: gRPC has no "any address" form.
  absl::StatusOr<net::HostPort> listen = net::SplitHostPort(o.listen_address);
  if (!listen.ok() || listen->host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address must be host:port, got '", o.listen_address, "'",
                     listen.ok() ? "" : absl::StrCat(" (", listen.status().message(), ")")));
  }
  return absl::OkStatus();
}

// Arguments that make the server behave like a long-lived pod behind a Service.
void ApplyPodServerArgs(grpc::ServerBuilder& builder) {
  // Clients (and the splicer) may ping idle connections every 10 s without
  // being sent GOAWAY for "too_many_pings": connections must persist.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // Deliberately no GRPC_ARG_MAX_CONNECTION_AGE_MS / IDLE_MS: a connection that
  // stays on one pod forever is exactly the imbalance the lab reproduces.
  // Two pods must never share a port silently (gRPC enables SO_REUSEPORT by default).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
}

}  // namespace

absl::StatusOr<std::unique_ptr<EchoServer>> EchoServer::Start(const EchoServerOptions& options) {
  if (absl::Status s = Validate(options); !s.ok()) return s;
  std::unique_ptr<EchoServer> server(
      new EchoServer(options, std::make_unique<EchoService>(options)));
  grpc::ServerBuilder builder;
  ApplyPodServerArgs(builder);
  builder.AddListeningPort(options.listen_address, grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address,
                     " (address not local, port in use, or no permission)"));
  }
  const std::string& addr = options.listen_address;
  server->listen_address_ = absl::StrCat(addr.substr(0, addr.rfind(':')), ":", server->port_);
  return server;
}

EchoServer::EchoServer(EchoServerOptions options, std::unique_ptr<EchoService> service)
    : options_(std::move(options)), service_(std::move(service)) {}

EchoServer::~EchoServer() { Shutdown(absl::ZeroDuration()); }

EchoStats EchoServer::stats() const { return service_->stats(); }

void EchoServer::Shutdown(absl::Duration deadline) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  server_->Shutdown(absl::ToChronoTime(absl::Now() + deadline));
  server_->Wait();
}

}  // namespace skewless::podserver
