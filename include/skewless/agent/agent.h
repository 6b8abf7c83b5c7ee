// skewless-agent: owns the node's steering data path and keeps its maps equal to what
// the control plane serves (docs/agent.md).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skewless/agent/agent_config.h"

namespace skewless::agent {

class Agent {
 public:
  // Attaches (or adopts) the data path, then serves HTTP and follows the control plane.
  // Fails when the data path cannot be set up or the HTTP port cannot be bound.
  static absl::StatusOr<std::unique_ptr<Agent>> Start(const AgentConfig& config);
  virtual ~Agent() = default;

  // Stops following the control plane and serving HTTP. The data path stays attached
  // with the maps as they are: connections keep being steered while no agent runs.
  virtual void Shutdown() = 0;
  virtual int http_port() const = 0;
  // Programs attached and a complete state from the control plane written.
  virtual bool Ready() const = 0;
};

}  // namespace skewless::agent
