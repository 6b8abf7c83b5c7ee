// Client certificate identities: the URI SANs of a PEM certificate, and the ServiceAccount
// a Kubernetes SPIFFE ID names (spiffe://<trust-domain>/ns/<namespace>/sa/<name>).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace skewless::controlplane {

// The URI subjectAltNames of the (first) certificate in `pem`; empty when there are none
// or the PEM does not parse.
std::vector<std::string> UriSubjectAltNames(std::string_view pem);

inline bool IsSpiffeUri(std::string_view uri) { return uri.starts_with("spiffe://"); }

// "namespace/name" of the ServiceAccount in `uri`; an error naming the URI when it is not
// of the form above (a trust domain, then exactly ns/<namespace>/sa/<name>).
absl::StatusOr<std::string> ServiceAccountOfSpiffeId(std::string_view uri);

}  // namespace skewless::controlplane
