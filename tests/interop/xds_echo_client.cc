// Proxyless gRPC client in C++ (Debian's libgrpc++ and its built-in xDS resolver) for
// the interop tests: one channel to an xds:/// target, a few threads calling Work in a
// loop, and every interval a JSON line {"pods": {pod: ok calls}, "failed": n,
// "errors": {...}} on stdout. The bootstrap comes from GRPC_XDS_BOOTSTRAP (or --bootstrap).
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "skewless/common/stop_signals.h"
#include "skewless/lab/v1/echo.grpc.pb.h"

namespace {

struct Interval {
  std::map<std::string, std::uint64_t> pods;
  std::uint64_t failed = 0;
  std::map<std::string, std::uint64_t> errors;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "xds_echo_client: calls skewless.lab.v1.Echo/Work through an xds:/// target and "
      "prints per-interval counts per pod as JSON lines until SIGTERM."};
  std::string target, bootstrap;
  int interval_ms = 200, concurrency = 4;
  double duration_s = 0;
  app.add_option("--target", target, "e.g. xds:///echo.default.svc.cluster.local:8080")->required();
  app.add_option("--bootstrap", bootstrap, "xDS bootstrap file (sets GRPC_XDS_BOOTSTRAP)");
  app.add_option("--interval-ms", interval_ms, "How often to print counts")->capture_default_str();
  app.add_option("--concurrency", concurrency, "Calls in flight")->capture_default_str();
  app.add_option("--duration-s", duration_s, "Stop after this long (0 = until SIGTERM)");
  CLI11_PARSE(app, argc, argv);
  if (!bootstrap.empty()) setenv("GRPC_XDS_BOOTSTRAP", bootstrap.c_str(), 1);

  const sigset_t stop_signals = skewless::BlockStopSignals();
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = skewless::lab::v1::Echo::NewStub(channel);

  std::mutex mutex;
  Interval interval;
  std::atomic<bool> stopping{false};
  std::vector<std::thread> callers;
  for (int i = 0; i < concurrency; ++i) {
    callers.emplace_back([&] {
      while (!stopping) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
        skewless::lab::v1::WorkRequest request;
        skewless::lab::v1::WorkReply reply;
        grpc::Status status = stub->Work(&context, request, &reply);
        {
          std::lock_guard lock(mutex);
          if (status.ok()) {
            ++interval.pods[reply.pod()];
          } else {
            ++interval.failed;
            ++interval.errors[std::to_string(status.error_code()) + ": " +
                              status.error_message().substr(0, 100)];
          }
        }
        // Do not spin while the channel has nothing to call.
        if (!status.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  std::thread printer([&] {
    while (!stopping) {
      std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
      Interval done;
      {
        std::lock_guard lock(mutex);
        std::swap(done, interval);
      }
      nlohmann::json line = {{"pods", done.pods}, {"failed", done.failed}, {"errors", done.errors}};
      std::cout << line.dump() << std::endl;
    }
  });
  std::thread timer;
  if (duration_s > 0) {
    timer = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(duration_s * 1000)));
      kill(getpid(), SIGTERM);
    });
    timer.detach();
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  stopping = true;
  for (auto& caller : callers) caller.join();
  printer.join();
  return 0;
}
