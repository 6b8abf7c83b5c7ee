// Serving certificates issued by the control plane's CA, kept fresh as files: a private
// directory holds tls.crt and tls.key, the certificate reissued at half its lifetime, and
// gRPC's file watcher serves whatever is there (the same reload path as cert-manager's
// files). The key is made once per process and every renewal certifies it again: the
// watcher reads its two paths one after the other, and a key replaced between those reads
// would pair with the old certificate and fail every handshake until its next refresh.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "cert_authority.h"

namespace skewless::controlplane {

class ServingCertFiles {
 public:
  // Creates the directory (mode 0700 under $TMPDIR, else /tmp), writes a first pair and
  // starts renewing. Fails when the directory or the first certificate cannot be made.
  static absl::StatusOr<std::unique_ptr<ServingCertFiles>> Start(CertificateAuthority ca,
                                                                 std::vector<std::string> dns_names,
                                                                 std::chrono::seconds lifetime);
  // Stops renewing and removes the directory.
  ~ServingCertFiles();
  ServingCertFiles(const ServingCertFiles&) = delete;
  ServingCertFiles& operator=(const ServingCertFiles&) = delete;

  std::string cert_file() const { return directory_ + "/tls.crt"; }
  std::string key_file() const { return directory_ + "/tls.key"; }

  // Issues a new certificate for the key and replaces the certificate file (what the
  // renewal thread does at half-life); the time of the next renewal.
  absl::StatusOr<std::chrono::steady_clock::time_point> Renew();

 private:
  ServingCertFiles(CertificateAuthority ca, std::vector<std::string> dns_names,
                   std::chrono::seconds lifetime, std::string directory);
  void RenewLoop(std::chrono::steady_clock::time_point next);

  const CertificateAuthority ca_;
  const std::vector<std::string> dns_names_;
  const std::chrono::seconds lifetime_;
  const std::string directory_;
  std::string key_pem_;  // empty until the first issue makes it

  std::mutex mutex_;
  std::condition_variable stop_requested_;
  bool stopping_ = false;
  std::thread renewer_;
};

}  // namespace skewless::controlplane
