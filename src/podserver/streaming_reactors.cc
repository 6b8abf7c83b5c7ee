// Echo's streaming calls: replies paced by the service time, one operation in flight at a time.
#include "streaming_reactors.h"

#include <atomic>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace skewless::podserver {
namespace {

using skewless::lab::v1::StreamWorkRequest;
using skewless::lab::v1::WorkReply;
using skewless::lab::v1::WorkRequest;

const grpc::Status kCancelledAsleep(grpc::StatusCode::CANCELLED, "cancelled during service time");
const grpc::Status kClientGone(grpc::StatusCode::CANCELLED, "the client went away");

// What the reactors that sleep between operations share. gRPC holds one reference until
// OnDone and a queued timer callback another, so whichever ends last deletes the reactor.
// At most one thing is pending at a time: a read, a write or a sleep. OnCancel finishes the
// call itself only during a sleep (which may be long); with a read or write in flight, that
// operation fails and its reaction finishes the call, so Finish never races a Start*.
template <typename Reactor>
class PacedReactor : public Reactor {
 public:
  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      if (phase_ != Phase::kSleeping) return;
      phase_ = Phase::kFinished;
    }
    this->Finish(kCancelledAsleep);
  }
  void OnDone() override { Unref(); }

 protected:
  explicit PacedReactor(SleepTimer& timer) : timer_(timer) {}

  // Runs Continue after `delay` (on the timer's thread), or now when there is no delay.
  void After(std::chrono::microseconds delay) {
    if (delay.count() <= 0) {
      Continue();
      return;
    }
    bool cancelled = false;
    {
      absl::MutexLock lock(&mu_);
      cancelled = cancelled_;
      if (!cancelled) phase_ = Phase::kSleeping;
    }
    if (cancelled) {  // OnCancel came between operations: no sleep to wait out
      FinishOnce(kCancelledAsleep);
      return;
    }
    refs_.fetch_add(1);
    timer_.At(SleepTimer::Clock::now() + delay, [this] {
      if (Wake()) Continue();
      Unref();
    });
  }

  // Finishes once. The reactor may be gone when it returns: Finish can run OnDone inline,
  // which is also why it is never called under mu_.
  void FinishOnce(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (phase_ == Phase::kFinished) return;
      phase_ = Phase::kFinished;
    }
    this->Finish(std::move(status));
  }

  bool cancelled() {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }

  // The step after a sleep: a write or a read.
  virtual void Continue() = 0;

 private:
  enum class Phase { kBusy, kSleeping, kFinished };

  // After the sleep: false when OnCancel finished the call meanwhile.
  bool Wake() {
    absl::MutexLock lock(&mu_);
    if (phase_ == Phase::kFinished) return false;
    phase_ = Phase::kBusy;
    return true;
  }
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  SleepTimer& timer_;
  std::atomic<int> refs_{1};
  absl::Mutex mu_;
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kBusy;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// StreamWork: sleep, write reply i, and only once it was sent sleep again: a reader that
// does not read holds the next reply back, so the pod never queues the whole stream.
class StreamWorkReactor final : public PacedReactor<grpc::ServerWriteReactor<WorkReply>> {
 public:
  StreamWorkReactor(SleepTimer& timer, std::chrono::microseconds gap, ReplyIdentity identity,
                    const StreamWorkRequest& request)
      : PacedReactor(timer),
        gap_(gap),
        messages_(request.messages()),
        message_bytes_(request.message_bytes()) {
    reply_.set_pod(std::move(identity.pod));
    reply_.set_zone(std::move(identity.zone));
    if (message_bytes_ > kMaxStreamMessageBytes) {
      FinishOnce(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              absl::StrCat("message_bytes ", message_bytes_, " is over the ",
                                           kMaxStreamMessageBytes, "-byte limit")));
      return;
    }
    Next();
  }

  void OnWriteDone(bool ok) override {
    if (!ok || cancelled()) {
      FinishOnce(kClientGone);
      return;
    }
    Next();
  }

 private:
  void Next() {
    if (sent_ == messages_) {
      FinishOnce(grpc::Status::OK);
      return;
    }
    After(gap_);
  }
  void Continue() override {
    reply_.set_payload(std::string(message_bytes_, static_cast<char>('a' + sent_ % 26)));
    ++sent_;
    StartWrite(&reply_);
  }

  const std::chrono::microseconds gap_;
  const uint32_t messages_;
  const uint32_t message_bytes_;
  uint32_t sent_ = 0;
  WorkReply reply_;
};

// UploadWork: counts the payload bytes of each request until the client half-closes.
class UploadWorkReactor final : public grpc::ServerReadReactor<WorkRequest> {
 public:
  UploadWorkReactor(ReplyIdentity identity, WorkReply* reply) : reply_(reply) {
    reply_->set_pod(std::move(identity.pod));
    reply_->set_zone(std::move(identity.zone));
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The end of the client's stream, or a cancellation (whose status nobody reads).
      reply_->set_bytes_received(bytes_received_);
      Finish(grpc::Status::OK);
      return;
    }
    bytes_received_ += request_.payload().size();
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  WorkReply* const reply_;
  WorkRequest request_;
  uint64_t bytes_received_ = 0;
};

// ChatWork: read a request, sleep its service time, write its echo, then read the next;
// one request at a time keeps the replies in order and the pod's memory at one message.
class ChatWorkReactor final : public PacedReactor<grpc::ServerBidiReactor<WorkRequest, WorkReply>> {
 public:
  ChatWorkReactor(SleepTimer& timer, SleepBeforeReply service_time, ReplyIdentity identity)
      : PacedReactor(timer), service_time_(std::move(service_time)) {
    reply_.set_pod(std::move(identity.pod));
    reply_.set_zone(std::move(identity.zone));
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      FinishOnce(cancelled() ? kClientGone : grpc::Status::OK);
      return;
    }
    After(service_time_(request_.extra_service_time_us()));
  }
  void OnWriteDone(bool ok) override {
    if (!ok || cancelled()) {
      FinishOnce(kClientGone);
      return;
    }
    StartRead(&request_);
  }

 private:
  void Continue() override {
    reply_.set_payload(std::move(*request_.mutable_payload()));
    StartWrite(&reply_);
  }

  const SleepBeforeReply service_time_;
  WorkRequest request_;
  WorkReply reply_;
};

}  // namespace

grpc::ServerWriteReactor<WorkReply>* NewStreamWorkReactor(SleepTimer& timer,
                                                          std::chrono::microseconds gap,
                                                          ReplyIdentity identity,
                                                          const StreamWorkRequest& request) {
  return new StreamWorkReactor(timer, gap, std::move(identity), request);
}

grpc::ServerReadReactor<WorkRequest>* NewUploadWorkReactor(ReplyIdentity identity,
                                                           WorkReply* reply) {
  return new UploadWorkReactor(std::move(identity), reply);
}

grpc::ServerBidiReactor<WorkRequest, WorkReply>* NewChatWorkReactor(SleepTimer& timer,
                                                                    SleepBeforeReply service_time,
                                                                    ReplyIdentity identity) {
  return new ChatWorkReactor(timer, std::move(service_time), std::move(identity));
}

}  // namespace skewless::podserver
