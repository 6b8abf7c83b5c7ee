// StreamLoadStats from a reporter: the report loop and its reconnects.
#include "skewless/loadreport/lrs_client.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "envoy/service/load_stats/v3/lrs.pb.h"
#include "skewless/common/log.h"
#include "skewless/h2/grpc_client_stream.h"
#include "skewless/loadreport/control_plane_call.h"
#include "skewless/xds/resources.h"

namespace skewless::loadreport {
namespace {

using envoy::service::load_stats::v3::LoadStatsRequest;
using envoy::service::load_stats::v3::LoadStatsResponse;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds IntervalOf(const LoadStatsResponse& response,
                                     const LrsClientOptions& options) {
  if (!response.has_load_reporting_interval()) return options.default_interval;
  const auto asked = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::seconds(response.load_reporting_interval().seconds()) +
      std::chrono::nanoseconds(response.load_reporting_interval().nanos()));
  return std::max(asked, options.min_interval);
}

// Whether the in-progress counts differ from those last reported (same endpoint
// order: both come from the same LoadSource, whose list changes only with the Services).
bool ActiveChanged(const std::vector<EndpointLoadSample>& now,
                   const std::vector<std::uint64_t>& reported) {
  if (now.size() != reported.size()) return true;
  for (std::size_t i = 0; i < now.size(); ++i) {
    if (now[i].in_progress != reported[i]) return true;
  }
  return false;
}

std::vector<std::uint64_t> ActiveOf(const std::vector<EndpointLoadSample>& samples) {
  std::vector<std::uint64_t> active;
  active.reserve(samples.size());
  for (const EndpointLoadSample& sample : samples) active.push_back(sample.in_progress);
  return active;
}

}  // namespace

LrsClient::LrsClient(LrsClientOptions options, LoadSource& source, prometheus::Registry& registry)
    : options_(std::move(options)),
      source_(source),
      reports_(registry.AddCounter(options_.metric_prefix + "_lrs_reports_total",
                                   "Load reports sent to the control plane over LRS.", {"server"})),
      stream_up_(registry.AddGauge(
          options_.metric_prefix + "_lrs_stream_up",
          "1 while an LRS stream is open and the control plane has answered it.", {"server"})),
      streams_(registry.AddCounter(options_.metric_prefix + "_lrs_streams_total",
                                   "LRS streams opened (the first and every reconnect).",
                                   {"server"})),
      builder_(options_.report) {}

LrsClient::~LrsClient() { Stop(); }

void LrsClient::Start() {
  thread_ = std::thread([this] { Run(); });
}

void LrsClient::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (stream_ != nullptr) stream_->Cancel();
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

bool LrsClient::Sleep(std::chrono::milliseconds duration) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, duration, [&] { return stopping_.load(); });
}

void LrsClient::Run() {
  std::mt19937 random(std::random_device{}());
  std::chrono::milliseconds backoff = options_.initial_backoff;
  for (std::size_t attempt = 0; !stopping_; ++attempt) {
    const std::string& server = options_.servers[attempt % options_.servers.size()];
    streams_.With({server}).Increment();
    bool unimplemented = false;
    const bool answered = RunStream(server, &unimplemented);
    connected_ = false;
    stream_up_.With({server}).Set(0);
    if (stopping_) break;
    if (answered) backoff = options_.initial_backoff;
    // A control plane without LRS will not grow it soon: ask rarely, not every second.
    if (unimplemented) backoff = options_.max_backoff;
    // ±20% so that a fleet of agents does not reconnect in lockstep after an outage.
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    const auto wait = std::chrono::milliseconds(
        static_cast<long>(static_cast<double>(backoff.count()) * jitter(random)));
    if (!Sleep(wait)) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool LrsClient::RunStream(const std::string& server, bool* unimplemented) {
  h2::GrpcClientStream stream(ControlPlaneCall(server, xds::kLoadStatsMethod, options_.user_agent,
                                               options_.tls, options_.bearer_token_file));
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    stream_ = &stream;
  }
  bool answered = false;
  if (stream.Start().ok()) {
    LoadStatsRequest hello;
    *hello.mutable_node() = ClientNode(options_.user_agent, options_.node_name, options_.zone);
    bool ok = stream.Write(hello);
    std::optional<std::chrono::milliseconds> interval;  // none until the server answers
    ReportScope scope;
    Clock::time_point last_report = Clock::now();
    Clock::time_point last_check = last_report;
    // Empty until the first report, so the first check reports at once.
    std::vector<std::uint64_t> reported_active;
    const bool on_change = options_.change_interval.count() > 0;
    while (ok) {
      // Until the server answers there is nothing to report; an hour is "no timer".
      Clock::time_point deadline =
          interval ? last_report + *interval : Clock::now() + std::chrono::hours(1);
      if (interval && on_change)
        deadline = std::min(deadline, last_check + options_.change_interval);
      LoadStatsResponse response;
      const h2::ReadOutcome outcome = stream.ReadUntil(&response, deadline);
      if (outcome == h2::ReadOutcome::kEnded) break;
      const Clock::time_point now = Clock::now();
      if (outcome == h2::ReadOutcome::kMessage) {
        scope = ReportScope{.all_clusters = response.send_all_clusters(),
                            .clusters = {response.clusters().begin(), response.clusters().end()}};
        if (!interval) {
          // The first report counts the connections opened from now: take the base.
          builder_.Build(source_.SampleLoads(), ReportScope{}, {}, nullptr);
          last_report = now;
          answered = true;
          connected_ = true;
          stream_up_.With({server}).Set(1);
          log::Info("LRS stream open: reporting load to the control plane", {{"server", server}});
        }
        interval = IntervalOf(response, options_);
        continue;
      }
      std::vector<EndpointLoadSample> samples = source_.SampleLoads();
      last_check = now;
      if (now < last_report + *interval && !ActiveChanged(samples, reported_active)) continue;
      reported_active = ActiveOf(samples);
      ReportedShares shares;
      LoadStatsRequest report =
          builder_.Build(std::move(samples), scope, now - last_report, &shares);
      last_report = now;
      ok = stream.Write(report);
      if (ok) {
        source_.OnReportSent(std::move(shares));
        reports_.With({server}).Increment();
      }
    }
  }
  {
    std::lock_guard lock(mutex_);
    stream_ = nullptr;
  }
  const absl::Status status = stream.Finish();
  if (!stopping_) {
    *unimplemented = status.code() == absl::StatusCode::kUnimplemented;
    if (*unimplemented) {
      log::Info(
          "the control plane takes no load reports (LRS unimplemented): other nodes will "
          "not see this reporter's load; balancing is unaffected",
          {{"server", server}});
    } else {
      log::Warn("LRS stream ended; balancing is unaffected",
                {{"server", server}, {"error", std::string(status.message())}});
    }
  }
  return answered;
}

}  // namespace skewless::loadreport
