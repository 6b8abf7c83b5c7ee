// LRS streams on gRPC's callback API: no thread per stream; a report is applied on the
// gRPC thread that read it (bounded work: --lrs-max-endpoints-per-report entries).
#include "lrs_service.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/alarm.h"
#include "skewless/common/log.h"
#include "skewless/common/log_limiter.h"
#include "skewless/controlplane/peer_identity.h"

namespace skewless::controlplane {
namespace {

using envoy::service::load_stats::v3::LoadStatsRequest;
using envoy::service::load_stats::v3::LoadStatsResponse;

// Refusals repeat as fast as a client retries: one line per peer and kind per 10 s.
log::KeyedLimiter& RefusalLogLimiter() {
  static auto* limiter = new log::KeyedLimiter(std::chrono::seconds(10));
  return *limiter;
}

void LogRefusal(std::string_view reason, const std::string& peer, const std::string& detail) {
  std::uint64_t suppressed = 0;
  if (!RefusalLogLimiter().Allow(reason, peer, &suppressed)) return;
  log::Warn("lrs stream refused: over a bound", {{"limit", std::string(reason)},
                                                 {"peer", log::Clip(peer)},
                                                 {"detail", detail},
                                                 {"suppressed", absl::StrCat(suppressed)}});
}

class RejectedStream final : public grpc::ServerBidiReactor<LoadStatsRequest, LoadStatsResponse> {
 public:
  explicit RejectedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

class LrsService::Stream final
    : public grpc::ServerBidiReactor<LoadStatsRequest, LoadStatsResponse> {
 public:
  Stream(LrsService& service, std::uint64_t id, std::string peer,
         std::optional<PeerIdentity> identity, xds::NamespaceScope scope)
      : service_(service),
        id_(id),
        peer_(std::move(peer)),
        identity_(std::move(identity)),
        scope_(std::move(scope)),
        report_tokens_(static_cast<double>(service.options_.max_reports_per_second)),
        tokens_at_(std::chrono::steady_clock::now()) {
    service_.metrics_.streams.With({}).Add(1);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    std::lock_guard lock(mutex_);
    if (finishing_) return;
    if (!ok) {  // the client closed its side, or the call is gone
      FinishLocked(grpc::Status::OK);
      return;
    }
    const bool first = !node_id_;
    if (first) Learn(request_.node());
    absl::StatusOr<ReportOutcome> outcome =
        service_.aggregator_.Report(id_, *node_id_, kind_, request_, LoadAggregator::Clock::now(),
                                    [this](std::string_view cluster) {
                                      // Cluster names are "<namespace>/<service>:<port>": a scoped
                                      // reader reports only on what it is served.
                                      return scope_.Contains(cluster.substr(0, cluster.find('/')));
                                    });
    if (!outcome.ok()) {
      const absl::string_view message = outcome.status().message();
      const std::string reason(message.substr(0, message.find(':')));
      service_.metrics_.rejections.With({reason}).Increment();
      LogRefusal(reason, peer_, std::string(outcome.status().message()));
      FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                std::string(outcome.status().message())));
      return;
    }
    Count(*outcome);
    if (first) {
      // One answer per stream: every cluster, per endpoint, at our interval. Clients keep
      // reporting on it until the stream ends.
      response_.set_send_all_clusters(true);
      response_.set_report_endpoint_granularity(true);
      *response_.mutable_load_reporting_interval() =
          google::protobuf::util::TimeUtil::MillisecondsToDuration(
              service_.options_.interval.count());
      writing_ = true;
      StartWrite(&response_);
    }
    request_.Clear();
    ReadNextLocked();
  }

  void OnCancel() override {
    std::unique_lock lock(mutex_);
    // A stream paused for its rate has no read to end it: the alarm's callback finishes.
    if (alarm_pending_) {
      lock.unlock();
      alarm_.Cancel();
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok && !finishing_) {
      FinishLocked(grpc::Status::CANCELLED);
      return;
    }
    if (pending_finish_) {
      Finish(*pending_finish_);
      pending_finish_.reset();
    }
  }

  void OnDone() override {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
      if (alarm_pending_) {
        // The alarm's callback still holds this stream: it deletes it.
        alarm_.Cancel();
        return;
      }
    }
    Delete();
  }

 private:
  void Delete() {
    // The reporter's load stops counting with its stream, not at expiry.
    service_.aggregator_.Remove(id_);
    service_.metrics_.reporters.With({}).Set(static_cast<double>(service_.aggregator_.reporters()));
    service_.metrics_.streams.With({}).Add(-1);
    --service_.open_streams_;
    log::Debug("lrs stream closed",
               {{"stream", absl::StrCat(id_)}, {"node", log::Clip(node_id_.value_or(""))}});
    delete this;
  }

  // Reads the next report, or, when the stream reports faster than its rate, reads it
  // once a token is due: meanwhile HTTP/2 flow control holds the reporter back, and a
  // report flood costs no more work than reports at the rate.
  void ReadNextLocked() {
    // A burst of as many as the rate; agents report a change in their counts at most every
    // 250 ms by default, so the default rate of 4 never holds one back.
    const double per_second = static_cast<double>(service_.options_.max_reports_per_second);
    const auto now = std::chrono::steady_clock::now();
    report_tokens_ = std::min(
        per_second,
        report_tokens_ + per_second * std::chrono::duration<double>(now - tokens_at_).count());
    tokens_at_ = now;
    if (report_tokens_ >= 1) {
      report_tokens_ -= 1;
      StartRead(&request_);
      return;
    }
    alarm_pending_ = true;
    const auto wait = std::chrono::duration<double>((1 - report_tokens_) / per_second);
    alarm_.Set(std::chrono::system_clock::now() +
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(wait),
               [this](bool fired) { OnRateAlarm(fired); });
  }

  void OnRateAlarm(bool fired) {
    {
      std::lock_guard lock(mutex_);
      alarm_pending_ = false;
      if (!done_) {
        if (!fired) {
          FinishLocked(grpc::Status::CANCELLED);  // the client went away meanwhile
        } else if (!finishing_) {
          ReadNextLocked();
        }
        return;
      }
    }
    Delete();
  }

  void Learn(const envoy::config::core::v3::Node& node) {
    // Only the first request is sure to carry the node; without an id the peer names it.
    node_id_ = node.id().empty() ? peer_ : node.id();
    const bool claims_agent = node.user_agent_name() == kAgentUserAgent;
    const bool may_count_connections =
        !service_.options_.authenticated || (identity_ && identity_->writer);
    kind_ = claims_agent && may_count_connections ? ReporterKind::kConnections
                                                  : ReporterKind::kRequests;
    log::Debug("lrs stream opened",
               {{"stream", absl::StrCat(id_)},
                {"node", log::Clip(*node_id_)},
                {"peer", log::Clip(peer_)},
                {"user_agent", log::Clip(node.user_agent_name())},
                {"counts", kind_ == ReporterKind::kConnections ? "connections" : "requests"}});
  }

  void Count(const ReportOutcome& outcome) {
    LrsMetrics& metrics = service_.metrics_;
    metrics.reports.With({}).Increment();
    metrics.dropped_endpoints.With({"unknown_cluster"}).Increment(outcome.unknown_cluster);
    metrics.dropped_endpoints.With({"unknown_endpoint"}).Increment(outcome.unknown_endpoint);
    metrics.dropped_endpoints.With({"invalid_address"}).Increment(outcome.invalid_address);
    metrics.clamped.With({}).Increment(outcome.clamped);
    metrics.locality_only.With({}).Increment(outcome.locality_only);
    for (const auto& [cluster, counts] : outcome.requests) {
      metrics.issued_requests.With({cluster}).Increment(counts.issued);
      metrics.completed_requests.With({cluster, "success"}).Increment(counts.successful);
      metrics.completed_requests.With({cluster, "error"}).Increment(counts.errors);
    }
    metrics.reporters.With({}).Set(static_cast<double>(service_.aggregator_.reporters()));
  }

  // A finish waits for the response being written (gRPC wants no write in flight).
  void FinishLocked(const grpc::Status& status) {
    if (finishing_) return;
    finishing_ = true;
    if (writing_) {
      pending_finish_ = status;
    } else {
      Finish(status);
    }
  }

  LrsService& service_;
  const std::uint64_t id_;
  const std::string peer_;
  const std::optional<PeerIdentity> identity_;
  const xds::NamespaceScope scope_;
  std::mutex mutex_;
  LoadStatsRequest request_;
  LoadStatsResponse response_;
  std::optional<std::string> node_id_;  // set by the first request
  ReporterKind kind_ = ReporterKind::kRequests;
  double report_tokens_;
  std::chrono::steady_clock::time_point tokens_at_;
  grpc::Alarm alarm_;
  bool alarm_pending_ = false;
  bool done_ = false;
  bool writing_ = false;
  bool finishing_ = false;
  std::optional<grpc::Status> pending_finish_;
};

LrsService::LrsService(LoadAggregator& aggregator, LrsMetrics& metrics, LrsOptions options,
                       ScopeFunction scope_of)
    : aggregator_(aggregator),
      metrics_(metrics),
      options_(options),
      scope_of_(std::move(scope_of)) {}

grpc::ServerBidiReactor<LoadStatsRequest, LoadStatsResponse>* LrsService::StreamLoadStats(
    grpc::CallbackServerContext* context) {
  if (open_streams_.fetch_add(1) >= options_.max_streams) {
    --open_streams_;
    metrics_.rejections.With({"streams"}).Increment();
    const std::string detail =
        absl::StrCat("already ", options_.max_streams, " LRS streams open (--lrs-max-streams)");
    LogRefusal("streams", context->peer(), detail);
    return new RejectedStream(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, detail));
  }
  const std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  return new Stream(*this, next_stream_id_++, context->peer(),
                    auth ? PeerIdentityOf(*auth) : std::nullopt,
                    scope_of_ ? scope_of_(*context) : xds::NamespaceScope{});
}

}  // namespace skewless::controlplane
