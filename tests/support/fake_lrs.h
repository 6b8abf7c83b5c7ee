// The control plane's side of LRS for tests of the reporting clients (the agent's, the
// splicer's): it answers each stream's first request with a set response, then keeps every
// report with the time it arrived, so a test can check the Node, the reports and their pace.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "envoy/service/load_stats/v3/lrs.grpc.pb.h"

namespace skewless::testing {

// The service alone, to register beside others on one server (a fake control plane that
// also serves ADS).
class FakeLrsService : public envoy::service::load_stats::v3::LoadReportingService::Service {
 public:
  using LoadStatsRequest = envoy::service::load_stats::v3::LoadStatsRequest;
  using LoadStatsResponse = envoy::service::load_stats::v3::LoadStatsResponse;
  using TimedReports =
      std::vector<std::pair<std::chrono::steady_clock::time_point, LoadStatsRequest>>;

  explicit FakeLrsService(LoadStatsResponse response) : response_(std::move(response)) {}

  grpc::Status StreamLoadStats(
      grpc::ServerContext* /*context*/,
      grpc::ServerReaderWriter<LoadStatsResponse, LoadStatsRequest>* stream) override {
    LoadStatsRequest request;
    if (!stream->Read(&request)) return grpc::Status::OK;
    {
      std::lock_guard lock(mutex_);
      firsts_.push_back(request);
    }
    stream->Write(response_);
    while (stream->Read(&request)) {
      std::lock_guard lock(mutex_);
      reports_.push_back({std::chrono::steady_clock::now(), request});
      changed_.notify_all();
    }
    return grpc::Status::OK;
  }

  // Whether `count` reports (not counting first requests) arrived within `timeout`.
  bool AwaitReports(std::size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return reports_.size() >= count; });
  }

  // Whether `done(reports)` came to hold within `timeout`, for the reports received so far.
  template <std::predicate<const TimedReports&> Done>
  bool AwaitReports(Done done, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return done(reports_); });
  }

  std::vector<LoadStatsRequest> first_requests() {
    std::lock_guard lock(mutex_);
    return firsts_;
  }

  // Read under mutex_ (the server's threads append).
  std::mutex mutex_;
  std::vector<LoadStatsRequest> firsts_;  // each stream's first request (Node, no stats)
  TimedReports reports_;                  // every later request, with its arrival time

 private:
  std::condition_variable changed_;
  const LoadStatsResponse response_;
};

// The service on a loopback server of its own; `port` 0 lets the kernel pick, a known one
// lets a test bring "the same server" back after it went away.
class FakeLrs final : public FakeLrsService {
 public:
  explicit FakeLrs(LoadStatsResponse response, int port = 0) : FakeLrsService(std::move(response)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeLrs() override { server_->Shutdown(std::chrono::system_clock::now()); }

  bool AwaitReports(std::size_t count,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return FakeLrsService::AwaitReports(count, timeout);
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace skewless::testing
