// Token authentication of ADS calls: the bearer token, the verdict cache, the policy.
#include "token_auth.h"

#include <grpc/grpc_security_constants.h>
#include <openssl/sha.h>

#include <algorithm>
#include <iterator>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "skewless/common/log.h"
#include "skewless/controlplane/peer_identity.h"
#include "spiffe_id.h"

namespace skewless::controlplane {
namespace {

constexpr std::chrono::seconds kLogInterval{10};
constexpr std::string_view kBearer = "Bearer ";
constexpr std::string_view kServiceAccountUser = "system:serviceaccount:";
constexpr Refusal kAllRefusals[] = {Refusal::kNoToken,
                                    Refusal::kInvalidToken,
                                    Refusal::kWrongAudience,
                                    Refusal::kNotAllowed,
                                    Refusal::kReviewError,
                                    Refusal::kNoSpiffeId,
                                    Refusal::kNoClientCertificate,
                                    Refusal::kReviewBusy,
                                    Refusal::kReviewPending};
static_assert(std::size(kAllRefusals) == kRefusalCount);

TokenVerdict Refused(Refusal refusal, std::string detail, std::string service_account = "") {
  return TokenVerdict{refusal, std::move(service_account), false, std::move(detail)};
}

// The cache is keyed by a digest, so a dump of the process holds no usable token.
std::string Digest(std::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

grpc::StatusCode CodeOf(Refusal refusal) {
  switch (refusal) {
    case Refusal::kNotAllowed:
    case Refusal::kNoSpiffeId:  // authenticated by its certificate, but as nobody we know
      return grpc::StatusCode::PERMISSION_DENIED;
    case Refusal::kReviewError:
    case Refusal::kReviewBusy:
    case Refusal::kReviewPending:
      return grpc::StatusCode::UNAVAILABLE;  // not the client's fault: it should retry
    default:
      return grpc::StatusCode::UNAUTHENTICATED;
  }
}

// The writer and reader rules, the same whichever credential named the account.
TokenVerdict JudgeAccount(const std::string& namespace_name, const std::string& name,
                          const TokenPolicy& policy) {
  const std::string account = absl::StrCat(namespace_name, "/", name);
  const bool writer = policy.writers.contains(account);
  if (!writer && !policy.reader_namespaces.empty() &&
      !policy.reader_namespaces.contains(namespace_name)) {
    return Refused(Refusal::kNotAllowed,
                   absl::StrCat("ServiceAccount ", account, " is not in a reader namespace"),
                   account);
  }
  return TokenVerdict{std::nullopt, account, writer, ""};
}

}  // namespace

std::string_view RefusalName(Refusal refusal) {
  switch (refusal) {
    case Refusal::kNoToken:
      return "no_token";
    case Refusal::kInvalidToken:
      return "invalid_token";
    case Refusal::kWrongAudience:
      return "wrong_audience";
    case Refusal::kNotAllowed:
      return "not_allowed";
    case Refusal::kReviewError:
      return "review_error";
    case Refusal::kNoSpiffeId:
      return "no_spiffe_id";
    case Refusal::kNoClientCertificate:
      return "no_client_certificate";
    case Refusal::kReviewBusy:
      return "review_busy";
    case Refusal::kReviewPending:
      return "review_pending";
  }
  return "unknown";
}

TokenVerdict Judge(const kube::TokenReviewResult& review, const TokenPolicy& policy) {
  if (!review.authenticated) {
    // The API server refuses a token bound to other audiences with "token audiences
    // [...] is invalid for the target audiences [...]".
    const bool audience = absl::StrContains(review.error, "audience");
    return Refused(audience ? Refusal::kWrongAudience : Refusal::kInvalidToken,
                   review.error.empty() ? "token not authenticated" : review.error);
  }
  // An audience-unaware authenticator (a static or webhook token), or a token for the
  // API server itself, comes back without our audience: an API credential is no ticket.
  if (std::find(review.audiences.begin(), review.audiences.end(), policy.audience) ==
      review.audiences.end()) {
    return Refused(Refusal::kWrongAudience,
                   absl::StrCat("token is not bound to the audience ", policy.audience,
                                " (bound to: ", absl::StrJoin(review.audiences, ","), ")"));
  }
  std::vector<std::string> parts;
  if (review.username.starts_with(kServiceAccountUser)) {
    parts = absl::StrSplit(review.username.substr(kServiceAccountUser.size()), ':');
  }
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
    return Refused(Refusal::kNotAllowed,
                   absl::StrCat("user ", review.username, " is not a ServiceAccount"));
  }
  return JudgeAccount(parts[0], parts[1], policy);
}

TokenVerdict JudgeCertificate(const std::vector<std::string>& uri_sans, const TokenPolicy& policy) {
  std::vector<std::string> spiffe_ids;
  std::copy_if(uri_sans.begin(), uri_sans.end(), std::back_inserter(spiffe_ids), IsSpiffeUri);
  // SPIFFE allows exactly one ID per certificate: two would make the identity ambiguous.
  if (spiffe_ids.size() != 1) {
    return Refused(Refusal::kNoSpiffeId,
                   spiffe_ids.empty()
                       ? "the client certificate has no URI SAN "
                         "spiffe://<trust-domain>/ns/<namespace>/sa/<name>"
                       : absl::StrCat("the client certificate has ", spiffe_ids.size(),
                                      " SPIFFE IDs: ", absl::StrJoin(spiffe_ids, ",")));
  }
  absl::StatusOr<std::string> account = ServiceAccountOfSpiffeId(spiffe_ids.front());
  if (!account.ok()) return Refused(Refusal::kNoSpiffeId, std::string(account.status().message()));
  const std::size_t slash = account->find('/');
  return JudgeAccount(account->substr(0, slash), account->substr(slash + 1), policy);
}

TokenAuthProcessor::TokenAuthProcessor(TokenPolicy policy, ReviewFunction review,
                                       prometheus::Registry& registry, CacheOptions cache,
                                       ReviewLimits limits)
    : policy_(std::move(policy)),
      review_(std::move(review)),
      cache_options_(cache),
      refusals_(registry.AddCounter("skewless_controlplane_auth_refusals_total",
                                    "ADS calls refused by authentication or authorization.",
                                    {"reason"})),
      reviews_(registry.AddCounter("skewless_controlplane_token_reviews_total",
                                   "TokenReview requests sent to the API server (cache misses).")),
      reviews_in_flight_(registry.AddGauge("skewless_controlplane_token_reviews_in_flight",
                                           "TokenReview requests awaiting the API server's "
                                           "answer.")),
      limits_(limits),
      log_limiters_{
          log::Limiter(kLogInterval), log::Limiter(kLogInterval), log::Limiter(kLogInterval),
          log::Limiter(kLogInterval), log::Limiter(kLogInterval), log::Limiter(kLogInterval),
          log::Limiter(kLogInterval), log::Limiter(kLogInterval), log::Limiter(kLogInterval)} {
  static_assert(kRefusalCount == 9, "one log limiter per refusal");
  for (Refusal refusal : kAllRefusals) refusals_.With({std::string(RefusalName(refusal))});
  reviews_.With({});
  reviews_in_flight_.With({}).Set(0);
}

TokenAuthProcessor::~TokenAuthProcessor() {
  // Each review ends within its own timeout (token_review.cc).
  std::list<ReviewThread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    threads.swap(review_threads_);
  }
  for (ReviewThread& review : threads) review.thread.join();
}

grpc::Status TokenAuthProcessor::Process(const InputMetadata& auth_metadata,
                                         grpc::AuthContext* context,
                                         OutputMetadata* consumed_auth_metadata,
                                         OutputMetadata* /*response_metadata*/) {
  const auto header = auth_metadata.find("authorization");
  std::string token;
  if (header != auth_metadata.end()) {
    const std::string_view value(header->second.data(), header->second.size());
    if (value.starts_with(kBearer)) token = std::string(value.substr(kBearer.size()));
    // Consumed: the token goes no further than this check, not to the service handler.
    consumed_auth_metadata->insert({"authorization", std::string(value)});
  }
  // The transport has already verified a presented certificate against the client CA
  // (a certificate from another CA never gets this far).
  const auto certificate = context->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  const bool has_certificate = policy_.accept_certificates && !certificate.empty();
  std::vector<std::string> uri_sans;
  if (has_certificate) {
    uri_sans = UriSubjectAltNames({certificate.front().data(), certificate.front().size()});
  }
  const bool has_spiffe_id = std::any_of(uri_sans.begin(), uri_sans.end(), IsSpiffeUri);
  TokenVerdict verdict;
  if (has_spiffe_id) {
    verdict = JudgeCertificate(uri_sans, policy_);
  } else if (policy_.accept_tokens && !token.empty()) {
    verdict = VerdictFor(token);
  } else if (has_certificate) {
    verdict = JudgeCertificate(uri_sans, policy_);  // refused: no SPIFFE ID
  } else if (policy_.accept_tokens) {
    verdict = Refused(Refusal::kNoToken, "no authorization: Bearer token");
  } else {
    verdict = Refused(Refusal::kNoClientCertificate, "no client certificate");
  }
  if (verdict.refusal) return Refuse(verdict);
  context->AddProperty(kServiceAccountProperty, verdict.service_account);
  context->AddProperty(kWriterProperty, verdict.writer ? "true" : "false");
  context->SetPeerIdentityPropertyName(kServiceAccountProperty);
  return grpc::Status::OK;
}

TokenVerdict TokenAuthProcessor::VerdictFor(const std::string& token) {
  const std::string key = Digest(token);
  std::unique_lock<std::mutex> lock(mutex_);
  if (auto it = cache_.find(key); it != cache_.end()) {
    if (it->second.expiry > std::chrono::steady_clock::now()) return it->second.verdict;
    cache_.erase(it);
  }
  std::shared_ptr<PendingReview> pending;
  if (auto it = pending_.find(key); it != pending_.end()) {
    pending = it->second;  // single flight: many streams of one client cost one review
  } else {
    if (pending_.size() >= limits_.max_concurrent_reviews) {
      return Refused(Refusal::kReviewBusy,
                     absl::StrCat(pending_.size(),
                                  " TokenReviews in flight (--max-concurrent-token-reviews)"));
    }
    pending = std::make_shared<PendingReview>();
    pending_.emplace(key, pending);
    reviews_in_flight_.With({}).Set(static_cast<double>(pending_.size()));
    // Join the review threads that have finished, then start this one.
    review_threads_.remove_if([](ReviewThread& review) {
      if (!review.finished) return false;
      review.thread.join();
      return true;
    });
    ReviewThread& thread = review_threads_.emplace_back();
    thread.thread = std::thread(&TokenAuthProcessor::RunReview, this, token, key, pending, &thread);
  }
  if (waiting_calls_ >= limits_.max_waiting_calls) {
    return Refused(Refusal::kReviewPending, "TokenReview in progress: retry");
  }
  ++waiting_calls_;
  reviewed_.wait_for(lock, limits_.review_wait, [&] { return pending->done; });
  --waiting_calls_;
  if (!pending->done) {
    return Refused(Refusal::kReviewPending, "TokenReview in progress: retry");
  }
  return pending->verdict;
}

void TokenAuthProcessor::RunReview(const std::string& token, const std::string& key,
                                   std::shared_ptr<PendingReview> pending, ReviewThread* self) {
  reviews_.With({}).Increment();
  absl::StatusOr<kube::TokenReviewResult> review = review_(token);
  TokenVerdict verdict =
      review.ok() ? Judge(*review, policy_)
                  : Refused(Refusal::kReviewError, std::string(review.status().message()));
  std::lock_guard<std::mutex> lock(mutex_);
  // A failed review (no verdict from the API) is not cached: the next call asks again.
  if (verdict.refusal != Refusal::kReviewError) CacheLocked(key, verdict);
  pending->done = true;
  pending->verdict = std::move(verdict);
  pending_.erase(key);
  reviews_in_flight_.With({}).Set(static_cast<double>(pending_.size()));
  self->finished = true;
  reviewed_.notify_all();
}

void TokenAuthProcessor::CacheLocked(const std::string& key, const TokenVerdict& verdict) {
  const auto now = std::chrono::steady_clock::now();
  const auto expiry =
      now + (verdict.refusal ? cache_options_.refused_ttl : cache_options_.admitted_ttl);
  if (cache_.size() >= cache_options_.max_entries) {
    std::erase_if(cache_, [&](const auto& entry) { return entry.second.expiry <= now; });
  }
  if (cache_.size() >= cache_options_.max_entries) {
    // Still full of live entries (a flood of distinct tokens): drop the one that expires
    // first. Linear, but only on this rare path.
    cache_.erase(std::min_element(cache_.begin(), cache_.end(), [](const auto& a, const auto& b) {
      return a.second.expiry < b.second.expiry;
    }));
  }
  cache_[key] = CacheEntry{verdict, expiry};
}

grpc::Status TokenAuthProcessor::Refuse(const TokenVerdict& verdict) {
  const std::string reason(RefusalName(*verdict.refusal));
  refusals_.With({reason}).Increment();
  std::uint64_t suppressed = 0;
  bool log_it;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    log_it = log_limiters_[static_cast<std::size_t>(*verdict.refusal)].Allow(&suppressed);
  }
  if (log_it) {
    log::Warn("ADS call refused", {{"reason", reason},
                                   {"service_account", verdict.service_account},
                                   {"detail", verdict.detail},
                                   {"suppressed_since_last", absl::StrCat(suppressed)}});
  }
  return grpc::Status(CodeOf(*verdict.refusal),
                      absl::StrCat("skewless-controlplane: ", reason, ": ", verdict.detail));
}

}  // namespace skewless::controlplane
