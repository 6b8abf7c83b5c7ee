// Calls to the control plane: transport options and Node.
#include "skewless/loadreport/control_plane_call.h"

#include "absl/strings/str_cat.h"

namespace skewless::loadreport {

envoy::config::core::v3::Node ClientNode(std::string_view user_agent, const std::string& node_name,
                                         const std::string& zone) {
  envoy::config::core::v3::Node node;
  node.set_id(node_name);
  node.set_user_agent_name(std::string(user_agent));
  node.set_user_agent_version(kSkewlessVersion);
  if (!zone.empty()) node.mutable_locality()->set_zone(zone);
  return node;
}

h2::GrpcCallOptions ControlPlaneCall(const std::string& server, std::string_view method,
                                     std::string_view user_agent,
                                     const std::optional<h2::TlsClientOptions>& tls,
                                     const std::string& bearer_token_file) {
  return h2::GrpcCallOptions{
      .target = server,
      .method = std::string(method),
      .user_agent = absl::StrCat(std::string(user_agent), "/", kSkewlessVersion),
      .connect_timeout = std::chrono::seconds(5),
      // A control plane that vanished without a FIN is noticed within a minute, not
      // hours. (The control plane permits a PING every 5 s.)
      .keepalive_interval = std::chrono::seconds(30),
      .keepalive_timeout = std::chrono::seconds(10),
      .tls = tls,
      .bearer_token_file = bearer_token_file,
  };
}

absl::StatusOr<std::optional<h2::TlsClientOptions>> ControlPlaneTlsOf(
    const ControlPlaneSecurity& security) {
  if (security.plaintext) {
    if (!security.ca_file.empty() || !security.server_name.empty() ||
        !security.client_cert_file.empty() || !security.client_key_file.empty()) {
      return absl::InvalidArgumentError(
          "--plaintext and the TLS flags (--controlplane-ca-file, --controlplane-server-name, "
          "--tls-client-*) exclude each other");
    }
    if (!security.token_file.empty()) {
      return absl::InvalidArgumentError(
          "--token-file: a bearer token is not sent over plaintext; give "
          "--controlplane-ca-file instead of --plaintext");
    }
    return std::optional<h2::TlsClientOptions>();
  }
  if (security.ca_file.empty()) {
    return absl::InvalidArgumentError(
        "the control plane is reached over TLS unless told otherwise: give its CA bundle "
        "(--controlplane-ca-file) or, for a plaintext control plane, --plaintext");
  }
  if (security.client_cert_file.empty() != security.client_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-client-cert-file and --tls-client-key-file: give both (mTLS) or neither");
  }
  return std::optional<h2::TlsClientOptions>(
      h2::TlsClientOptions{.ca_file = security.ca_file,
                           .server_name = security.server_name,
                           .client_cert_file = security.client_cert_file,
                           .client_key_file = security.client_key_file});
}

}  // namespace skewless::loadreport
