// How every stream of the agent reaches the control plane (ADS and LRS alike): the same
// transport, credentials, keepalive and Node, so one set of flags configures both.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "envoy/config/core/v3/base.pb.h"
#include "skewless/h2/grpc_client_stream.h"
#include "skewless/h2/tls_transport.h"

namespace skewless::agent {

inline constexpr char kAgentVersion[] = "0.1.0";

// node.id = the node's name, user_agent_name "skewless-agent", locality.zone when known.
envoy::config::core::v3::Node AgentNode(const std::string& node_name, const std::string& zone);

// One call to `server`. No message size cap: the initial state of a large cluster is one
// response (100,000 endpoints are ~9 MB). The callers' own backoff decides when to redial.
h2::GrpcCallOptions ControlPlaneCall(const std::string& server, std::string_view method,
                                     const std::optional<h2::TlsClientOptions>& tls,
                                     const std::string& bearer_token_file);

}  // namespace skewless::agent
