// A throwaway certificate authority for TLS tests: a CA, a server certificate for
// 127.0.0.1 and a client certificate, all PEM, made fresh in memory; more leaves on
// demand, and what a TLS server presents as a client sees it.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace skewless::testing {

struct TestPki {
  std::string ca_cert_pem;
  std::string ca_key_pem;
  std::string server_cert_pem;  // subjectAltName IP:127.0.0.1
  std::string server_key_pem;
  std::string client_cert_pem;  // CN=skewless-test-client
  std::string client_key_pem;
};

// Makes a new CA and the two leaf certificates signed by it (P-256 keys, one day).
absl::StatusOr<TestPki> MakeTestPki();

struct TestLeaf {
  std::string cert_pem;
  std::string key_pem;
};

// Another leaf signed by `pki`'s CA: `subject_alt_names` in OpenSSL's syntax
// ("URI:spiffe://...,DNS:x", empty = none), `usage` "serverAuth" or "clientAuth".
absl::StatusOr<TestLeaf> IssueTestLeaf(const TestPki& pki, const std::string& common_name,
                                       const std::string& subject_alt_names,
                                       const std::string& usage);

// The certificate a TLS server on 127.0.0.1:`port` presents (ALPN h2, SNI `host_name`),
// verified against `trusted_ca_pem` and for `host_name`; an error says why not.
struct ServedCertificate {
  std::string common_name;
  std::string serial_hex;
  std::vector<std::string> dns_names;
};
absl::StatusOr<ServedCertificate> FetchServedCertificate(int port, const std::string& host_name,
                                                         const std::string& trusted_ca_pem);

}  // namespace skewless::testing
