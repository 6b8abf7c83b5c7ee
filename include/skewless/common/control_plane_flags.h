// The flags every client of the control plane (the agent's ADS and LRS, the splicer's LRS)
// is told with how to reach it securely: one set of names, meanings and help texts.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "skewless/common/cli.h"

namespace skewless {

// Where each flag lands in the tool's config (member pointers or accessors, as
// FlagOverrides takes them).
template <typename CaFile, typename ServerName, typename TokenFile, typename CertFile,
          typename KeyFile, typename Plaintext>
struct ControlPlaneSecurityFields {
  CaFile ca_file;
  ServerName server_name;
  TokenFile token_file;
  CertFile client_cert_file;
  KeyFile client_key_file;
  Plaintext plaintext;
};

// Adds --controlplane-ca-file, --controlplane-server-name, --token-file,
// --tls-client-cert-file, --tls-client-key-file and --plaintext to `app`, in `group` when
// not empty. `streams` names the streams the token is sent on ("ADS and LRS", "LRS").
template <typename Config, typename... Fields>
void AddControlPlaneSecurityFlags(CLI::App& app, FlagOverrides<Config>& overrides,
                                  const ControlPlaneSecurityFields<Fields...>& fields,
                                  const std::string& streams, const std::string& group = "") {
  CLI::Option* added[] = {
      overrides.Add(app, "--controlplane-ca-file", fields.ca_file,
                    "PEM CA bundle the control plane's serving certificate must chain to. TLS "
                    "is the default: without this file give --plaintext (the DaemonSets mount "
                    "ConfigMap skewless-ca-bundle's ca.crt at /etc/skewless/ca/ca.crt)"),
      overrides.Add(app, "--controlplane-server-name", fields.server_name,
                    "Name the control plane's certificate is verified against and sent as SNI "
                    "(default: the host of each --xds-server; an IP is matched against IP "
                    "SANs)"),
      overrides.Add(app, "--token-file", fields.token_file,
                    absl::StrCat("File whose contents are sent as `authorization: Bearer "
                                 "<token>` on every ",
                                 streams,
                                 " stream, read again at each connect (a projected "
                                 "ServiceAccount token with audience skewless-controlplane; "
                                 "kubelet rotates it). Needs TLS (default: none)")),
      overrides.Add(app, "--tls-client-cert-file", fields.client_cert_file,
                    "PEM client certificate chain for mTLS (URI SAN "
                    "spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>); needs "
                    "--tls-client-key-file"),
      overrides.Add(app, "--tls-client-key-file", fields.client_key_file,
                    "PEM private key of --tls-client-cert-file"),
      overrides.Add(app, "--plaintext", fields.plaintext,
                    "Reach the control plane without TLS (h2c): only for a control plane run "
                    "with --plaintext, e.g. on loopback; excludes every TLS flag and "
                    "--token-file"),
  };
  if (!group.empty()) {
    for (CLI::Option* option : added) option->group(group);
  }
}

}  // namespace skewless
