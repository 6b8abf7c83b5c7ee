// The Echo service itself (callback API): sleeps on a timer, answers, counts.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "skewless/lab/v1/echo.grpc.pb.h"
#include "skewless/podserver/echo_server.h"
#include "sleep_timer.h"

namespace skewless::podserver {

// Callback API rather than the sync server: the sync server parks one thread
// per in-flight RPC for the whole sleep, so 10 pods x 16 outstanding calls means
// ~160 threads on 2 cores. Here a sleeping RPC is an entry in one SleepTimer
// and the threads gRPC already owns run the few microseconds of real work.
class EchoService final : public skewless::lab::v1::Echo::CallbackService {
 public:
  explicit EchoService(const EchoServerOptions& options);

  grpc::ServerUnaryReactor* Work(grpc::CallbackServerContext* context,
                                 const skewless::lab::v1::WorkRequest* request,
                                 skewless::lab::v1::WorkReply* reply) override;
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* context,
                                  const skewless::lab::v1::StatsRequest* request,
                                  skewless::lab::v1::StatsReply* reply) override;
  grpc::ServerWriteReactor<skewless::lab::v1::WorkReply>* StreamWork(
      grpc::CallbackServerContext* context,
      const skewless::lab::v1::StreamWorkRequest* request) override;
  grpc::ServerReadReactor<skewless::lab::v1::WorkRequest>* UploadWork(
      grpc::CallbackServerContext* context, skewless::lab::v1::WorkReply* reply) override;
  grpc::ServerBidiReactor<skewless::lab::v1::WorkRequest, skewless::lab::v1::WorkReply>* ChatWork(
      grpc::CallbackServerContext* context) override;

  EchoStats stats() const;

 private:
  void CountWork(const std::string& peer);
  // The sleep before a reply: (own + the request's extra) x the slow factor.
  std::chrono::microseconds ServiceTime(uint32_t extra_service_time_us) const;

  const std::string pod_name_;
  const std::string zone_;
  const uint32_t service_time_us_;
  const double slow_factor_;
  SleepTimer sleep_timer_;
  std::atomic<uint64_t> work_served_{0};
  std::atomic<uint64_t> streams_served_{0};
  mutable absl::Mutex peers_mu_;
  absl::flat_hash_set<std::string> peers_ ABSL_GUARDED_BY(peers_mu_);
};

}  // namespace skewless::podserver
