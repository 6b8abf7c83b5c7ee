// TokenReview requests over the Kubernetes API client.
#include "token_review.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "kube_client.h"

namespace skewless::controlplane::kube {
namespace {

constexpr char kTokenReviewPath[] = "/apis/authentication.k8s.io/v1/tokenreviews";
// A review holds an ADS stream's start; the API server answers in milliseconds when well.
constexpr std::chrono::milliseconds kConnectTimeout{2000};
constexpr std::chrono::milliseconds kReviewTimeout{5000};

}  // namespace

TokenReviewer::TokenReviewer(std::unique_ptr<KubeClient> client) : client_(std::move(client)) {}
TokenReviewer::~TokenReviewer() = default;

absl::StatusOr<std::unique_ptr<TokenReviewer>> TokenReviewer::Create(KubeConfig config) {
  absl::StatusOr<std::unique_ptr<KubeClient>> client =
      KubeClient::Create(std::move(config), kConnectTimeout);
  if (!client.ok()) return client.status();
  return std::unique_ptr<TokenReviewer>(new TokenReviewer(*std::move(client)));
}

absl::StatusOr<TokenReviewResult> TokenReviewer::Review(const std::string& token,
                                                        const std::string& audience) const {
  const nlohmann::json request = {{"apiVersion", "authentication.k8s.io/v1"},
                                  {"kind", "TokenReview"},
                                  {"spec", {{"token", token}, {"audiences", {audience}}}}};
  RequestCanceller canceller;  // nothing cancels a review: its timeout bounds it
  absl::StatusOr<HttpResponse> response =
      client_->Post(kTokenReviewPath, request.dump(), kReviewTimeout, canceller);
  if (!response.ok()) return response.status();
  const std::string what = absl::StrCat("create ", kTokenReviewPath);
  // 201 Created is the documented answer; some versions and proxies answer 200.
  if (response->status != 201 && response->status != 200) {
    return StatusFromResponse(what, *response);
  }
  const nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
  if (!body.is_object() || !body.contains("status") || !body["status"].is_object()) {
    return absl::InternalError(absl::StrCat(what, ": the answer has no status object"));
  }
  const nlohmann::json& status = body["status"];
  TokenReviewResult result;
  result.authenticated = status.value("authenticated", false);
  result.error = status.value("error", "");
  if (const auto user = status.find("user"); user != status.end() && user->is_object()) {
    result.username = user->value("username", "");
  }
  if (const auto audiences = status.find("audiences");
      audiences != status.end() && audiences->is_array()) {
    for (const nlohmann::json& entry : *audiences) {
      if (entry.is_string()) result.audiences.push_back(entry.get<std::string>());
    }
  }
  return result;
}

}  // namespace skewless::controlplane::kube
