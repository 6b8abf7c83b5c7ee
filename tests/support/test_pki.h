// A throwaway certificate authority for TLS tests: a CA, a server certificate for
// 127.0.0.1 and a client certificate, all PEM, made fresh in memory.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace skewless::testing {

struct TestPki {
  std::string ca_cert_pem;
  std::string server_cert_pem;  // subjectAltName IP:127.0.0.1
  std::string server_key_pem;
  std::string client_cert_pem;  // CN=skewless-test-client
  std::string client_key_pem;
};

// Makes a new CA and the two leaf certificates signed by it (P-256 keys, one day).
absl::StatusOr<TestPki> MakeTestPki();

}  // namespace skewless::testing
