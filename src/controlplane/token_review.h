// Asks the Kubernetes API who a bearer token belongs to and for which audiences
// (POST /apis/authentication.k8s.io/v1/tokenreviews).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "skewless/controlplane/kube_source.h"

namespace skewless::controlplane::kube {

class KubeClient;

// The API server's answer (TokenReview status).
struct TokenReviewResult {
  bool authenticated = false;
  std::string username;                // "system:serviceaccount:<namespace>:<name>"
  std::vector<std::string> audiences;  // those of the token that were asked for
  std::string error;                   // why not authenticated, in the API server's words
};

class TokenReviewer {
 public:
  // The reviewer calls the API as `config`'s user, which needs "create tokenreviews".
  static absl::StatusOr<std::unique_ptr<TokenReviewer>> Create(KubeConfig config);
  ~TokenReviewer();

  // Reviews `token` for `audience`. An error when the API gave no verdict (unreachable,
  // 403 for want of RBAC, a malformed answer); a refused token is a result, not an error.
  absl::StatusOr<TokenReviewResult> Review(const std::string& token,
                                           const std::string& audience) const;

 private:
  explicit TokenReviewer(std::unique_ptr<KubeClient> client);
  std::unique_ptr<KubeClient> client_;
};

}  // namespace skewless::controlplane::kube
