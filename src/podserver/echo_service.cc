// The Echo service itself (callback API): sleeps on a timer, answers, counts; streams in
// streaming_reactors.
#include "echo_service.h"

#include <atomic>
#include <chrono>
#include <cmath>

#include "streaming_reactors.h"

namespace skewless::podserver {
namespace {

using skewless::lab::v1::StatsReply;
using skewless::lab::v1::StatsRequest;
using skewless::lab::v1::StreamWorkRequest;
using skewless::lab::v1::WorkReply;
using skewless::lab::v1::WorkRequest;

// One Work call waiting out its service time. Finished by whichever comes
// first, the timer or a cancellation (client deadline, server shutdown), so a
// long sleep never holds up shutdown. Two owners, gRPC (until OnDone) and the
// timer (until its callback ran), hence the reference count.
class SleepingReactor final : public grpc::ServerUnaryReactor {
 public:
  SleepingReactor(SleepTimer& timer, std::chrono::microseconds sleep) {
    timer.At(SleepTimer::Clock::now() + sleep, [this] {
      FinishOnce(grpc::Status::OK);
      Unref();
    });
  }
  // Not OK: the server-side deadline timer can fire before the client's, and
  // an OK reply would then claim work that was cut short.
  void OnCancel() override {
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled during service time"));
  }
  void OnDone() override { Unref(); }

 private:
  void FinishOnce(const grpc::Status& status) {
    if (!finished_.exchange(true)) Finish(status);
  }
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  std::atomic<bool> finished_{false};
  std::atomic<int> refs_{2};
};

}  // namespace

EchoService::EchoService(const EchoServerOptions& options)
    : pod_name_(options.pod_name),
      zone_(options.zone),
      service_time_us_(options.service_time_us),
      slow_factor_(options.slow_factor) {}

grpc::ServerUnaryReactor* EchoService::Work(grpc::CallbackServerContext* context,
                                            const WorkRequest* request, WorkReply* reply) {
  CountWork(context->peer());
  reply->set_pod(pod_name_);
  reply->set_zone(zone_);
  reply->set_payload(request->payload());
  const std::chrono::microseconds sleep = ServiceTime(request->extra_service_time_us());
  if (sleep.count() == 0) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  return new SleepingReactor(sleep_timer_, sleep);
}

grpc::ServerUnaryReactor* EchoService::Stats(grpc::CallbackServerContext* context,
                                             const StatsRequest* /*request*/, StatsReply* reply) {
  const EchoStats s = stats();
  reply->set_pod(pod_name_);
  reply->set_zone(zone_);
  reply->set_work_served(s.work_served);
  reply->set_connections_seen(s.connections_seen);
  reply->set_streams_served(s.streams_served);
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<WorkReply>* EchoService::StreamWork(
    grpc::CallbackServerContext* /*context*/, const StreamWorkRequest* request) {
  streams_served_.fetch_add(1, std::memory_order_relaxed);
  return NewStreamWorkReactor(sleep_timer_, ServiceTime(request->extra_service_time_us()),
                              {pod_name_, zone_}, *request);
}

grpc::ServerReadReactor<WorkRequest>* EchoService::UploadWork(
    grpc::CallbackServerContext* /*context*/, WorkReply* reply) {
  streams_served_.fetch_add(1, std::memory_order_relaxed);
  return NewUploadWorkReactor({pod_name_, zone_}, reply);
}

grpc::ServerBidiReactor<WorkRequest, WorkReply>* EchoService::ChatWork(
    grpc::CallbackServerContext* /*context*/) {
  streams_served_.fetch_add(1, std::memory_order_relaxed);
  return NewChatWorkReactor(sleep_timer_, [this](uint32_t extra) { return ServiceTime(extra); },
                            {pod_name_, zone_});
}

std::chrono::microseconds EchoService::ServiceTime(uint32_t extra_service_time_us) const {
  const double sleep_us =
      (static_cast<double>(service_time_us_) + extra_service_time_us) * slow_factor_;
  return std::chrono::microseconds(sleep_us < 1.0 ? 0 : std::llround(sleep_us));
}

void EchoService::CountWork(const std::string& peer) {
  // Counted on arrival, not on reply: a call the client abandons at its
  // deadline was still served as far as load on this pod is concerned.
  work_served_.fetch_add(1, std::memory_order_relaxed);
  absl::MutexLock lock(&peers_mu_);
  peers_.insert(peer);
}

EchoStats EchoService::stats() const {
  EchoStats s;
  s.work_served = work_served_.load(std::memory_order_relaxed);
  s.streams_served = streams_served_.load(std::memory_order_relaxed);
  absl::MutexLock lock(&peers_mu_);
  s.connections_seen = peers_.size();
  return s;
}

}  // namespace skewless::podserver
