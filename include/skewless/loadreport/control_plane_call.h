// How a skewless client's streams reach the control plane (the agent's ADS and LRS, the
// splicer's LRS): the same transport, credentials, keepalive and Node shape, so one set of
// flags configures them all.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "envoy/config/core/v3/base.pb.h"
#include "skewless/h2/grpc_client_stream.h"
#include "skewless/h2/tls_transport.h"

namespace skewless::loadreport {

inline constexpr char kSkewlessVersion[] = "0.1.0";
// The user agents skewless's clients put in their Node: the control plane tells an agent
// (connections) from every other reporter (requests) by it.
inline constexpr char kAgentUserAgent[] = "skewless-agent";
inline constexpr char kSplicerUserAgent[] = "skewless-splicer";

// node.id = the node's name, user_agent_name = `user_agent`, locality.zone when known.
envoy::config::core::v3::Node ClientNode(std::string_view user_agent, const std::string& node_name,
                                         const std::string& zone);

// One call to `server`, as "<user_agent>/<version>". No message size cap: the initial state
// of a large cluster is one response (100,000 endpoints are ~9 MB). The callers' own backoff
// decides when to redial.
h2::GrpcCallOptions ControlPlaneCall(const std::string& server, std::string_view method,
                                     std::string_view user_agent,
                                     const std::optional<h2::TlsClientOptions>& tls,
                                     const std::string& bearer_token_file);

// How a reporter proves the control plane is the one and who it is itself, as its flags
// give it. TLS is the default and needs the CA bundle; plaintext must be asked for and then
// takes none of the TLS settings (nor a token, which would go out in clear).
struct ControlPlaneSecurity {
  std::string ca_file;
  std::string server_name;  // empty = each server's host
  std::string client_cert_file;
  std::string client_key_file;
  std::string token_file;
  bool plaintext = false;
};

// The call's TLS settings (nullopt = plaintext), or InvalidArgument naming the flags that
// cannot go together.
absl::StatusOr<std::optional<h2::TlsClientOptions>> ControlPlaneTlsOf(
    const ControlPlaneSecurity& security);

}  // namespace skewless::loadreport
