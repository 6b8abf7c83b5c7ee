// skewless-controlplane as a library: a source (YAML file or Kubernetes) feeding the xDS
// resource cache, the ADS gRPC server, and the HTTP endpoints for operators.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "skewless/common/prometheus.h"
#include "skewless/controlplane/server_config.h"

namespace skewless::controlplane {

class ControlPlaneServer {
 public:
  // Binds both listeners and starts the source; fails (naming the field) when a port
  // cannot be bound or the source cannot start. A source that has not delivered yet is
  // not a failure: /readyz says so until it does.
  static absl::StatusOr<std::unique_ptr<ControlPlaneServer>> Start(const ServerConfig& config);
  virtual ~ControlPlaneServer() = default;

  // Stops the source, then ends ADS streams (waiting up to shutdown_grace for them) and
  // the HTTP server. Idempotent.
  virtual void Shutdown() = 0;

  virtual int xds_port() const = 0;  // the bound port (useful when configured as 0)
  virtual int http_port() const = 0;
  // Ready once the first snapshot is in the cache: before that a client would be told
  // that nothing exists.
  virtual bool Ready() const = 0;
  virtual prometheus::Registry& registry() = 0;
};

}  // namespace skewless::controlplane
