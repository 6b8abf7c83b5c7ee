// A gRPC C++ client that reads server streams slowly: --streams Echo.StreamWork calls spread
// over --channels connections, each message read only when its turn comes (one read per
// stream per --read-interval-ms), until SIGUSR1 says read the rest at full speed.
//
// Prints two JSON lines on stdout: {"started": N} once every stream has its response
// headers (the pods are sending), and once every stream ended: {"streams", "ok",
// "messages", "bad_messages", "errors": {"CODE message": count}}. A message is bad when it
// is not message-bytes copies of the letter its position in the stream says.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "skewless/lab/v1/echo.grpc.pb.h"

namespace {

using skewless::lab::v1::Echo;
using skewless::lab::v1::StreamWorkRequest;
using skewless::lab::v1::WorkReply;

// What all streams report to main, and whether they should read at full speed.
class Tally {
 public:
  explicit Tally(std::size_t streams) : streams_(streams) {}

  std::atomic<bool> draining{false};

  void Started() {
    std::lock_guard lock(mu_);
    ++started_;
    changed_.notify_all();
  }
  void Done(const grpc::Status& status, std::uint64_t messages, std::uint64_t bad) {
    std::lock_guard lock(mu_);
    ++done_;
    messages_ += messages;
    bad_ += bad;
    if (status.ok()) {
      ++ok_;
    } else {
      ++errors_[std::to_string(status.error_code()) + " " + status.error_message()];
    }
    changed_.notify_all();
  }
  // Waits until every stream started (or ended); returns how many started.
  std::size_t AwaitStarted(std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, timeout, [this] { return started_ + done_ >= streams_; });
    return started_;
  }
  nlohmann::json AwaitDone(std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, timeout, [this] { return done_ == streams_; });
    return {{"streams", streams_},
            {"ok", ok_},
            {"unfinished", streams_ - done_},
            {"messages", messages_},
            {"bad_messages", bad_},
            {"errors", errors_}};
  }

 private:
  const std::size_t streams_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::size_t started_ = 0, done_ = 0, ok_ = 0;
  std::uint64_t messages_ = 0, bad_ = 0;
  std::map<std::string, std::uint64_t> errors_;
};

// One StreamWork call whose reads are started from outside (ReadOne) at the pace the
// reader chooses; gRPC then grants the server window for that one message only.
class SlowStream final : public grpc::ClientReadReactor<WorkReply> {
 public:
  SlowStream(Echo::Stub& stub, StreamWorkRequest request, Tally& tally)
      : request_(std::move(request)), tally_(tally) {
    stub.async()->StreamWork(&context_, &request_, this);
    // Held until the last read returned: a status arriving while no read is pending must
    // not end the reactor under the pacer's next ReadOne.
    AddHold();
    StartCall();
  }

  // Starts a read unless one is pending or the stream ended (its last read stays "pending").
  void ReadOne() {
    bool idle = false;
    if (reading_.compare_exchange_strong(idle, true)) StartRead(&reply_);
  }

  void OnReadInitialMetadataDone(bool ok) override {
    if (ok) tally_.Started();
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      RemoveHold();
      return;
    }
    const char letter = static_cast<char>('a' + received_ % 26);
    const std::string& payload = reply_.payload();
    if (payload.size() != request_.message_bytes() ||
        std::any_of(payload.begin(), payload.end(), [letter](char c) { return c != letter; })) {
      ++bad_;
    }
    ++received_;
    reading_ = false;
    if (tally_.draining) ReadOne();
  }
  void OnDone(const grpc::Status& status) override { tally_.Done(status, received_, bad_); }

 private:
  grpc::ClientContext context_;
  const StreamWorkRequest request_;
  Tally& tally_;
  WorkReply reply_;
  std::atomic<bool> reading_{false};
  std::uint64_t received_ = 0, bad_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "slow_stream_reader: opens --streams Echo.StreamWork calls over --channels gRPC channels and "
      "reads each one message per --read-interval-ms until SIGUSR1, then the rest at full "
      "speed; prints {\"started\"} and then the streams' outcome as JSON lines."};
  std::string target;
  int streams = 1, channels = 1, read_interval_ms = 1000, timeout_s = 120;
  StreamWorkRequest request;
  uint32_t messages = 10, message_bytes = 256 << 10;
  app.add_option("--target", target, "host:port")->required();
  app.add_option("--streams", streams, "Concurrent StreamWork calls")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--channels", channels, "Connections the streams take turns on")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--messages", messages, "Replies per stream")->capture_default_str();
  app.add_option("--message-bytes", message_bytes, "Payload per reply")->capture_default_str();
  app.add_option("--read-interval-ms", read_interval_ms, "Time between one stream's reads")
      ->capture_default_str();
  app.add_option("--timeout-s", timeout_s, "Give up waiting for the streams after this long")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  request.set_messages(messages);
  request.set_message_bytes(message_bytes);

  // Before gRPC starts its threads, so only the waiter below takes SIGUSR1.
  sigset_t drain_signal;
  sigemptyset(&drain_signal);
  sigaddset(&drain_signal, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &drain_signal, nullptr);

  grpc::ChannelArguments args;
  // No BDP probing: the client's stream windows stay at HTTP/2's 64 KiB default instead of
  // growing by an amount that varies from run to run, so what it has not read waits in the
  // proxy and the server, as it would behind a client with fixed windows.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  // Each channel its own TCP connection: channels with equal arguments share one otherwise.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::vector<std::unique_ptr<Echo::Stub>> stubs;
  for (int i = 0; i < channels; ++i) {
    stubs.push_back(
        Echo::NewStub(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  Tally tally(streams);
  std::vector<std::unique_ptr<SlowStream>> calls;
  for (int i = 0; i < streams; ++i) {
    calls.push_back(std::make_unique<SlowStream>(*stubs[i % channels], request, tally));
  }

  std::thread([&tally, drain_signal] {
    int signal_number = 0;
    sigwait(&drain_signal, &signal_number);
    tally.draining = true;
  }).detach();
  // One read every interval / streams, round robin: each stream reads once per interval.
  std::thread pacer([&] {
    const auto step = std::chrono::microseconds(read_interval_ms * 1000L / streams);
    for (std::size_t i = 0; !tally.draining; i = (i + 1) % calls.size()) {
      std::this_thread::sleep_for(step);
      calls[i]->ReadOne();
    }
    for (auto& call : calls) call->ReadOne();
  });

  std::cout << nlohmann::json{{"started", tally.AwaitStarted(std::chrono::seconds(timeout_s))}}
            << std::endl;
  const nlohmann::json outcome = tally.AwaitDone(std::chrono::seconds(timeout_s));
  std::cout << outcome << std::endl;
  // Streams still open cannot be torn down cleanly (their reactors are in use): leave now.
  if (outcome["unfinished"] != 0) std::_Exit(1);
  tally.draining = true;
  pacer.join();
  return 0;
}
