// ADS authentication by ServiceAccount: every call's identity, from a client
// certificate's SPIFFE ID (mTLS) or an `authorization: Bearer` token (reviewed with
// TokenReview, cached briefly), is judged against the audience and the allowed accounts,
// and the call either refused (counted, logged at a bounded rate) or admitted with the
// account in the call's AuthContext (peer_identity.h).
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "skewless/common/log_limiter.h"
#include "skewless/common/prometheus.h"
#include "skewless/controlplane/server_config.h"
#include "token_review.h"

namespace skewless::controlplane {

struct TokenPolicy {
  std::string audience;                     // the token must be bound to it
  std::set<std::string> writers;            // "namespace/name"
  std::set<std::string> reader_namespaces;  // empty = every namespace may read
  // Which credentials identify a caller. With both, a client certificate with a SPIFFE ID
  // decides and a call without one is judged by its token.
  bool accept_tokens = true;
  bool accept_certificates = false;
};

// Why a call was refused; each is a value of the refusals metric's `reason` label.
enum class Refusal {
  kNoToken,
  kInvalidToken,
  kWrongAudience,
  kNotAllowed,
  kReviewError,
  kNoSpiffeId,           // a verified client certificate without a usable SPIFFE ID
  kNoClientCertificate,  // mTLS only, and the client sent no certificate
  kReviewBusy,           // max_concurrent_reviews are in flight: retry later
  kReviewPending,        // the review runs on; its verdict will be cached for the retry
};
inline constexpr std::size_t kRefusalCount = 9;
std::string_view RefusalName(Refusal refusal);

struct TokenVerdict {
  std::optional<Refusal> refusal;  // empty = admitted
  std::string service_account;     // "namespace/name" when the token is a ServiceAccount's
  bool writer = false;
  std::string detail;  // for the log line and the client's error message
};

// The policy applied to one review (pure, so every case is a table row in a unit test).
TokenVerdict Judge(const kube::TokenReviewResult& review, const TokenPolicy& policy);
// The policy applied to a verified client certificate's URI SANs (pure, as Judge).
TokenVerdict JudgeCertificate(const std::vector<std::string>& uri_sans, const TokenPolicy& policy);

class TokenAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  using ReviewFunction =
      std::function<absl::StatusOr<kube::TokenReviewResult>(const std::string& token)>;
  // Admissions are kept longer than refusals: a refused client that fixes its token
  // should not wait long, and refusals are what a flood of bad tokens would fill.
  using CacheOptions = ServerConfig::TokenCache;

  // What a review may cost. gRPC runs blocking processors on a small pool (about one
  // thread per core with gRPC 1.51), and a call waiting there holds up every call queued
  // behind it, cached tokens included: so reviews run on threads of their own, at most
  // `max_concurrent_reviews` at once, and at most `max_waiting_calls` calls wait for one,
  // each for at most `review_wait`. A call that cannot wait, or whose review takes
  // longer, is refused UNAVAILABLE; the review goes on and its verdict is cached for the
  // client's retry.
  struct ReviewLimits {
    std::size_t max_concurrent_reviews = 8;
    std::size_t max_waiting_calls = 1;
    std::chrono::milliseconds review_wait{250};
  };

  TokenAuthProcessor(TokenPolicy policy, ReviewFunction review, prometheus::Registry& registry,
                     CacheOptions cache, ReviewLimits limits);
  ~TokenAuthProcessor() override;  // waits for the reviews still running

  // Reviews block on the API server: gRPC runs them off its I/O threads.
  bool IsBlocking() const override { return true; }
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  struct CacheEntry {
    TokenVerdict verdict;
    std::chrono::steady_clock::time_point expiry;
  };
  // One review in flight; calls with the same token wait for it instead of sending more.
  struct PendingReview {
    bool done = false;
    TokenVerdict verdict;
  };
  struct ReviewThread {
    std::thread thread;
    bool finished = false;
  };
  TokenVerdict VerdictFor(const std::string& token);
  // Runs on a review thread: reviews, caches, wakes the waiting calls.
  void RunReview(const std::string& token, const std::string& key,
                 std::shared_ptr<PendingReview> pending, ReviewThread* self);
  void CacheLocked(const std::string& key, const TokenVerdict& verdict);
  grpc::Status Refuse(const TokenVerdict& verdict);

  const TokenPolicy policy_;
  const ReviewFunction review_;
  const CacheOptions cache_options_;
  prometheus::Family<prometheus::Counter>& refusals_;
  prometheus::Family<prometheus::Counter>& reviews_;
  prometheus::Family<prometheus::Gauge>& reviews_in_flight_;
  const ReviewLimits limits_;
  std::mutex mutex_;                                   // guards everything below
  std::condition_variable reviewed_;                   // a pending review finished
  std::unordered_map<std::string, CacheEntry> cache_;  // by the token's SHA-256
  std::unordered_map<std::string, std::shared_ptr<PendingReview>> pending_;  // same keys
  std::size_t waiting_calls_ = 0;
  std::list<ReviewThread> review_threads_;  // finished ones are joined by the next review
  // One per reason, so a flood of one kind (no token) cannot hide another (not allowed).
  std::array<log::Limiter, kRefusalCount> log_limiters_;
};

}  // namespace skewless::controlplane
