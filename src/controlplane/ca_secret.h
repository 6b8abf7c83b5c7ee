// The CA's home in the cluster: read from (or created in) a Secret, and its certificate
// published in a ConfigMap that clients mount as their trust bundle.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cert_authority.h"

namespace skewless::controlplane {

namespace kube {
class KubeClient;
}

struct ObjectName {
  std::string namespace_name;
  std::string name;
};

// "namespace/name" → its parts; the error names `what` (the flag or key) and the text.
absl::StatusOr<ObjectName> ParseObjectName(const std::string& text, const std::string& what);

// The CA in Secret `secret` (keys ca.crt, ca.key). When the Secret does not exist, a new
// CA is generated and the Secret created; when that create meets 409 (another replica
// created it first), the winner's Secret is read instead, so every replica ends up with
// the same CA.
absl::StatusOr<CertificateAuthority> LoadOrCreateCaSecret(const kube::KubeClient& client,
                                                          const ObjectName& secret);

// ConfigMap `config_map` key ca.crt = `ca_cert_pem`: created when absent, replaced when
// its ca.crt differs, left alone when equal (so replicas do not rewrite it in turn).
absl::Status PublishCaBundle(const kube::KubeClient& client, const ObjectName& config_map,
                             const std::string& ca_cert_pem);

}  // namespace skewless::controlplane
