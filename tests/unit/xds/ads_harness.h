// An in-process ADS server on loopback and a client stream with timed reads, for the
// xDS server's protocol tests.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "skewless/common/prometheus.h"
#include "skewless/xds/ads_server.h"
#include "skewless/xds/cache.h"

namespace skewless::xds::testing {

class AdsServerFixture {
 public:
  explicit AdsServerFixture(StreamLimits limits = {})
      : metrics_(registry_), service_(cache_, metrics_, 0, limits) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                   grpc::InsecureChannelCredentials());
  }
  ~AdsServerFixture() { server_->Shutdown(std::chrono::system_clock::now()); }

  ResourceCache& cache() { return cache_; }
  XdsMetrics& metrics() { return metrics_; }
  prometheus::Registry& registry() { return registry_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  // A fresh channel: one HTTP/2 connection per client (gRPC shares a channel's).
  std::shared_ptr<grpc::Channel> NewChannel() {
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_),
                                     grpc::InsecureChannelCredentials(), args);
  }
  AdsService& service() { return service_; }
  int port() const { return port_; }

 private:
  prometheus::Registry registry_;
  ResourceCache cache_;
  XdsMetrics metrics_;
  AdsService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

// A client stream whose responses are read by a background thread (unless `reading` is
// false, to play a stuck client) and taken with a timeout.
template <typename Request, typename Response>
class AdsClientStream {
 public:
  using Stream = grpc::ClientReaderWriter<Request, Response>;

  AdsClientStream(std::unique_ptr<grpc::ClientContext> context, std::unique_ptr<Stream> stream,
                  bool reading)
      : context_(std::move(context)), stream_(std::move(stream)) {
    if (reading) {
      reader_ = std::thread([this] {
        Response response;
        while (stream_->Read(&response)) {
          std::lock_guard lock(mutex_);
          responses_.push_back(response);
          arrived_.notify_all();
        }
        std::lock_guard lock(mutex_);
        closed_ = true;
        arrived_.notify_all();
      });
    }
  }
  // How the server ended the stream (after the reader saw its end), or nothing yet.
  std::optional<grpc::Status> Finished(std::chrono::milliseconds timeout) {
    {
      std::unique_lock lock(mutex_);
      if (!arrived_.wait_for(lock, timeout, [&] { return closed_; })) return std::nullopt;
    }
    if (!finished_) finished_ = stream_->Finish();
    return finished_;
  }

  ~AdsClientStream() {
    context_->TryCancel();
    if (reader_.joinable()) reader_.join();
  }

  bool Send(const Request& request) { return stream_->Write(request); }

  // The next response, or nothing within `timeout`.
  std::optional<Response> Next(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex_);
    if (!arrived_.wait_for(lock, timeout, [&] { return !responses_.empty() || closed_; }) ||
        responses_.empty()) {
      return std::nullopt;
    }
    Response response = std::move(responses_.front());
    responses_.pop_front();
    return response;
  }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<Stream> stream_;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<Response> responses_;
  bool closed_ = false;
  std::optional<grpc::Status> finished_;
};

using SotwStream = AdsClientStream<envoy::service::discovery::v3::DiscoveryRequest,
                                   envoy::service::discovery::v3::DiscoveryResponse>;
using DeltaStream = AdsClientStream<envoy::service::discovery::v3::DeltaDiscoveryRequest,
                                    envoy::service::discovery::v3::DeltaDiscoveryResponse>;

inline std::unique_ptr<SotwStream> OpenSotw(std::shared_ptr<grpc::Channel> channel,
                                            bool reading = true) {
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel);
  auto context = std::make_unique<grpc::ClientContext>();
  auto stream = stub->StreamAggregatedResources(context.get());
  return std::make_unique<SotwStream>(std::move(context), std::move(stream), reading);
}

inline std::unique_ptr<DeltaStream> OpenDelta(std::shared_ptr<grpc::Channel> channel,
                                              bool reading = true) {
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel);
  auto context = std::make_unique<grpc::ClientContext>();
  auto stream = stub->DeltaAggregatedResources(context.get());
  return std::make_unique<DeltaStream>(std::move(context), std::move(stream), reading);
}

// The ACK of a delta response: its type and nonce, nothing subscribed or dropped.
inline envoy::service::discovery::v3::DeltaDiscoveryRequest DeltaAck(
    const envoy::service::discovery::v3::DeltaDiscoveryResponse& response) {
  envoy::service::discovery::v3::DeltaDiscoveryRequest request;
  request.set_type_url(response.type_url());
  request.set_response_nonce(response.nonce());
  return request;
}

// The names of a delta response's resources, in order.
inline std::vector<std::string> Names(
    const envoy::service::discovery::v3::DeltaDiscoveryResponse& response) {
  std::vector<std::string> names;
  for (const auto& resource : response.resources()) names.push_back(resource.name());
  return names;
}

}  // namespace skewless::xds::testing
