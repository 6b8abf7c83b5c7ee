// The control plane's own small CA: a self-signed EC P-256 root kept in a Secret, and the
// short-lived serving certificates it issues for the control plane's DNS names.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skewless::controlplane {

struct CertificateAuthority {
  std::string cert_pem;
  std::string key_pem;
};

struct IssuedCertificate {
  std::string cert_pem;  // the leaf alone: clients trust the CA from the bundle ConfigMap
  std::string key_pem;
  std::chrono::system_clock::time_point not_after;
};

// A new root CA (EC P-256, CN `common_name`, valid for `lifetime`).
absl::StatusOr<CertificateAuthority> GenerateCertificateAuthority(const std::string& common_name,
                                                                  std::chrono::seconds lifetime);

// Checks that both PEMs parse, the certificate is a CA and the key is its key; `what`
// names where they came from ("Secret skewless-system/skewless-ca").
absl::Status CheckCertificateAuthority(const CertificateAuthority& ca, const std::string& what);

// A serving certificate (serverAuth) for `dns_names` with a random serial, valid from a
// few minutes ago (clock skew) until `lifetime` from now. It certifies `key_pem`, or a
// fresh P-256 key when that is empty.
absl::StatusOr<IssuedCertificate> IssueServingCertificate(const CertificateAuthority& ca,
                                                          const std::vector<std::string>& dns_names,
                                                          std::chrono::seconds lifetime,
                                                          const std::string& key_pem);

}  // namespace skewless::controlplane
