// Drives all clients' RPCs from one thread over one completion queue.
#include "driver.h"

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

#include "absl/status/status.h"
#include "skewless/lab/v1/echo.grpc.pb.h"

namespace skewless::loadgen {
namespace {

using Clock = std::chrono::steady_clock;
using skewless::lab::v1::Echo;
using skewless::lab::v1::WorkReply;
using skewless::lab::v1::WorkRequest;

// How often the loop wakes without traffic: to see *stop and the end of the run.
constexpr auto kTickInterval = std::chrono::milliseconds(100);
constexpr auto kProgressInterval = std::chrono::seconds(1);
// A client whose call failed waits this long before its next send: a dead pod
// fails calls in microseconds, and a closed loop would otherwise spin both
// cores on errors and starve the rest of the lab.
// gRPC alarms round up to whole milliseconds and fire late by up to ~1 ms;
// counted from the intended time, that slop would pose as server latency. So
// paced calls may leave up to this early, and then count from their real send.
constexpr auto kSendAhead = std::chrono::milliseconds(1);
constexpr auto kPauseAfterError = std::chrono::milliseconds(10);

// gRPC and absl number their status codes identically (both follow the gRPC spec).
std::string StatusCodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// gRPC alarms and deadlines take wall-clock time points; we schedule on the
// steady clock, so convert through "now" (drift over one run is negligible).
std::chrono::system_clock::time_point ToSystem(Clock::time_point t) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(t - Clock::now());
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Every completion-queue tag points at one of these; `kind` says which.
struct Event {
  enum Kind { kCall, kClientAlarm, kTick } kind;
};

struct ClientState;

struct Call : Event {
  ClientState* client = nullptr;
  // The client's channel generation the call was sent on: replies still arriving on a
  // replaced connection say nothing about where the client is now.
  uint64_t generation = 0;
  Clock::time_point intended;
  // Where latency is counted from: the intended time, or the real send time
  // when the call left early (see kSendAhead).
  Clock::time_point latency_origin;
  grpc::ClientContext context;
  WorkReply reply;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<WorkReply>> reader;
};

struct ClientState : Event {
  std::unique_ptr<Echo::Stub> stub;
  // Bumped on every new channel; `reported_generation` is the last one whose pod is in
  // the result's timeline.
  uint64_t generation = 0;
  uint64_t reported_generation = UINT64_MAX;
  std::string current_pod;
  // Churn: when this client closes its channel and opens a new one.
  Clock::time_point reconnect_at = Clock::time_point::max();
  int free_slots = 0;
  // Fixed-rate mode: when this client's next call should leave.
  Clock::time_point next_intended;
  Clock::time_point paused_until;
  // A fresh Alarm per arming: gRPC only promises Set() on an unset alarm.
  std::unique_ptr<grpc::Alarm> alarm;
  bool alarm_pending = false;
  ClientResult result;
};

class Driver {
 public:
  // Each client's stub becomes the only owner of its channel (`channels` dies here).
  Driver(const Options& options, std::vector<std::shared_ptr<grpc::Channel>> channels,
         const ChannelFactory& reconnect, const std::atomic<bool>* stop, const ProgressFn& progress)
      : options_(options),
        reconnect_(reconnect),
        stop_(stop),
        progress_(progress),
        clients_(channels.size()) {
    request_.set_payload(std::string(static_cast<size_t>(options.payload_bytes), 'x'));
    request_.set_extra_service_time_us(options.extra_service_time_us);
    for (size_t i = 0; i < channels.size(); ++i) {
      ClientState& c = clients_[i];
      c.kind = Event::kClientAlarm;
      c.stub = Echo::NewStub(std::move(channels[i]));
      c.free_slots = options.concurrency;
      c.result.id = static_cast<int>(i);
      c.result.zone = options.client_zone;
    }
    tick_.kind = Event::kTick;
  }

  Result Run() {
    start_ = Clock::now();
    measure_start_ = start_ + absl::ToChronoNanoseconds(options_.warmup);
    end_ = measure_start_ + absl::ToChronoNanoseconds(options_.duration);
    last_progress_at_ = measure_start_;
    if (options_.rate_rps > 0) {
      // Client i sends every M/R seconds, phase-shifted by i/R: together one
      // call every 1/R seconds, evenly interleaved across connections.
      const double per_call_s = 1.0 / options_.rate_rps;
      interval_ = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(per_call_s * static_cast<double>(clients_.size())));
      for (size_t i = 0; i < clients_.size(); ++i) {
        clients_[i].next_intended = start_ + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(per_call_s * i));
      }
    }
    if (options_.max_connection_age > absl::ZeroDuration()) {
      // The first age is drawn over [0, age]: the connections behave as in a cluster that
      // has been running a while, reconnecting at a steady rate from the start instead of
      // all together one age in.
      std::uniform_real_distribution<double> phase(0.0, 1.0);
      for (ClientState& c : clients_) c.reconnect_at = start_ + Age(phase(random_));
    }
    for (ClientState& c : clients_) Pump(c);
    ArmTick();
    Loop();
    return Finish();
  }

 private:
  void Loop() {
    void* tag = nullptr;
    bool ok = false;
    bool cancelled_alarms = false;
    bool shut_down = false;
    while (cq_.Next(&tag, &ok)) {
      Event* event = static_cast<Event*>(tag);
      switch (event->kind) {
        case Event::kCall:
          OnCallDone(static_cast<Call*>(event));
          break;
        case Event::kClientAlarm: {
          auto* c = static_cast<ClientState*>(event);
          c->alarm_pending = false;
          --pending_alarms_;
          Pump(*c);
          break;
        }
        case Event::kTick:
          tick_pending_ = false;
          --pending_alarms_;
          OnTick();
          break;
      }
      if (outstanding_ > 0 || Clock::now() < end_) continue;
      // Done sending and nothing in flight: cancel timers, and once their
      // (cancelled) events are back the queue is empty and can be shut down.
      if (!cancelled_alarms) {
        cancelled_alarms = true;
        for (ClientState& c : clients_) {
          if (c.alarm_pending) c.alarm->Cancel();
        }
        if (tick_pending_) tick_alarm_->Cancel();
      }
      if (pending_alarms_ == 0 && !shut_down) {
        shut_down = true;
        cq_.Shutdown();
      }
    }
  }

  // `fraction` of the connection age, with gRPC's ±10% jitter (MaxConnectionAge), so
  // connections opened together do not all close together.
  Clock::duration Age(double fraction) {
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    return std::chrono::duration_cast<Clock::duration>(
        absl::ToChronoNanoseconds(options_.max_connection_age) * (fraction * jitter(random_)));
  }

  // Closes the client's channel (it goes once its calls in flight have finished, which
  // hold it) and opens a new one: the next call dials the target again.
  void Reconnect(ClientState& c) {
    c.stub = Echo::NewStub(reconnect_(c.result.id));
    ++c.generation;
  }

  // Sends whatever this client may send now, then sleeps it until it may send more.
  void Pump(ClientState& c) {
    const Clock::time_point now = Clock::now();
    if (now >= end_) return;
    if (now >= c.reconnect_at) {
      Reconnect(c);
      ++c.result.reconnects_by_age;
      c.reconnect_at = now + Age(1.0);
    }
    if (now < c.paused_until) {
      ArmClientAlarm(c, c.paused_until);
      return;
    }
    if (interval_ == Clock::duration::zero()) {
      while (c.free_slots > 0) Send(c, now, now);
      return;
    }
    // Calls whose time has come leave now but keep their intended time, so a
    // backlog (all slots busy, pod slow) shows up as latency instead of
    // silently lowering the rate: no coordinated omission.
    while (c.free_slots > 0 && c.next_intended <= now + kSendAhead && c.next_intended < end_) {
      Send(c, c.next_intended, now);
      c.next_intended += interval_;
    }
    if (c.free_slots > 0 && c.next_intended < end_) {
      ArmClientAlarm(c, c.next_intended - kSendAhead);
    }
  }

  void Send(ClientState& c, Clock::time_point intended, Clock::time_point now) {
    auto* call = new Call;
    call->kind = Event::kCall;
    call->client = &c;
    call->generation = c.generation;
    call->intended = intended;
    call->latency_origin = std::min(intended, now);
    call->context.set_deadline(std::chrono::system_clock::now() +
                               absl::ToChronoNanoseconds(options_.rpc_deadline));
    call->reader = c.stub->AsyncWork(&call->context, request_, &cq_);
    call->reader->Finish(&call->reply, &call->status, call);
    --c.free_slots;
    ++outstanding_;
  }

  void OnCallDone(Call* call) {
    const Clock::time_point now = Clock::now();
    ClientState& c = *call->client;
    ++c.free_slots;
    --outstanding_;
    const bool measured = call->intended >= measure_start_;
    if (call->status.ok() && call->generation == c.generation &&
        (c.reported_generation != c.generation || c.current_pod != call->reply.pod())) {
      c.reported_generation = c.generation;
      c.current_pod = call->reply.pod();
      c.result.pod_timeline.emplace_back(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count(),
                                         c.current_pod);
    }
    if (call->status.ok()) {
      if (measured) {
        ++ok_;
        ++c.result.rpcs;
        ++c.result.rpcs_by_pod[call->reply.pod()];
        PodResult& pod = pods_[call->reply.pod()];
        pod.zone = call->reply.zone();
        ++pod.rpcs;
        const int64_t latency_ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - call->latency_origin)
                .count();
        pod.latency.Record(latency_ns);
        latency_.Record(latency_ns);
      } else {
        ++warmup_ok_;
      }
    } else {
      if (measured) {
        ++errors_;
        ++c.result.errors;
        ++c.result.errors_by_code[StatusCodeName(call->status.error_code())];
      }
      c.paused_until = now + kPauseAfterError;
      // Its pod went away (a GOAWAY and a closed listener, or a reset): dial the Service
      // again on a new connection, as a gRPC client reconnects, once per connection.
      if (call->status.error_code() == grpc::StatusCode::UNAVAILABLE &&
          call->generation == c.generation) {
        Reconnect(c);
        ++c.result.reconnects_after_error;
      }
    }
    delete call;
    Pump(c);
  }

  void OnTick() {
    const Clock::time_point now = Clock::now();
    if (stop_ != nullptr && stop_->load(std::memory_order_relaxed) && now < end_) end_ = now;
    if (progress_ && now - last_progress_at_ >= kProgressInterval) ReportProgress(now);
    if (now < end_ || outstanding_ > 0) ArmTick();
  }

  void ReportProgress(Clock::time_point now) {
    Progress p;
    p.warming_up = now < measure_start_;
    p.elapsed_s = std::max(0.0, Seconds(std::min(now, end_) - measure_start_));
    p.duration_s = absl::ToDoubleSeconds(options_.duration);
    p.rpcs = ok_;
    p.errors = errors_;
    p.recent_rps =
        static_cast<double>(ok_ - ok_at_last_progress_) / Seconds(now - last_progress_at_);
    ok_at_last_progress_ = ok_;
    last_progress_at_ = now;
    progress_(p);
  }

  void ArmClientAlarm(ClientState& c, Clock::time_point when) {
    if (c.alarm_pending) return;
    c.alarm = std::make_unique<grpc::Alarm>();
    c.alarm->Set(&cq_, ToSystem(when), static_cast<Event*>(&c));
    c.alarm_pending = true;
    ++pending_alarms_;
  }

  void ArmTick() {
    tick_alarm_ = std::make_unique<grpc::Alarm>();
    tick_alarm_->Set(&cq_, ToSystem(Clock::now() + kTickInterval), static_cast<Event*>(&tick_));
    tick_pending_ = true;
    ++pending_alarms_;
  }

  Result Finish() {
    Result r;
    r.concurrency = options_.concurrency;
    r.offered_rps = options_.rate_rps;
    r.elapsed_s = std::max(0.0, Seconds(end_ - measure_start_));
    r.rpcs = ok_;
    r.errors = errors_;
    r.achieved_rps = r.elapsed_s > 0 ? static_cast<double>(ok_) / r.elapsed_s : 0;
    r.warmup_rpcs = warmup_ok_;
    r.latency = latency_;
    r.pods = std::move(pods_);
    for (ClientState& c : clients_) {
      for (const auto& [code, n] : c.result.errors_by_code) r.errors_by_code[code] += n;
      r.clients.push_back(std::move(c.result));
    }
    return r;
  }

  const Options& options_;
  const ChannelFactory& reconnect_;
  std::mt19937_64 random_{std::random_device{}()};
  const std::atomic<bool>* stop_;
  const ProgressFn& progress_;
  grpc::CompletionQueue cq_;
  WorkRequest request_;
  std::vector<ClientState> clients_;
  Event tick_;
  std::unique_ptr<grpc::Alarm> tick_alarm_;
  bool tick_pending_ = false;
  int pending_alarms_ = 0;
  int64_t outstanding_ = 0;

  Clock::time_point start_, measure_start_, end_;
  Clock::duration interval_ = Clock::duration::zero();  // zero = closed loop

  uint64_t ok_ = 0, errors_ = 0, warmup_ok_ = 0;
  Histogram latency_;
  std::map<std::string, PodResult> pods_;
  Clock::time_point last_progress_at_;
  uint64_t ok_at_last_progress_ = 0;
};

}  // namespace

Result DriveLoad(const Options& options, std::vector<std::shared_ptr<grpc::Channel>> channels,
                 const ChannelFactory& reconnect, const std::atomic<bool>* stop,
                 const ProgressFn& progress) {
  return Driver(options, std::move(channels), reconnect, stop, progress).Run();
}

}  // namespace skewless::loadgen
