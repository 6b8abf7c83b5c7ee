// A delta ADS client subscribed to one cluster's ClusterLoad (and any other types asked
// for), as an agent is: it ACKs every response and keeps what arrives on a thread of its
// own, so a test can wait for the ClusterLoad it expects with a timeout.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "skewless/load/v1/cluster_load.pb.h"
#include "skewless/xds/resources.h"

namespace skewless::testing {

class ClusterLoadSubscriber {
 public:
  struct Options {
    std::string node_id = "agent-node";
    std::string cluster;                    // the one subscribed name of every type
    std::vector<std::string> also_types;    // e.g. EDS, beside ClusterLoad
    std::string bearer_token;               // empty: no authorization metadata
    std::chrono::milliseconds wait{10000};  // how long Await waits
  };

  ClusterLoadSubscriber(const std::shared_ptr<grpc::Channel>& channel, Options options)
      : options_(std::move(options)),
        stub_(envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel)) {
    if (!options_.bearer_token.empty()) {
      context_.AddMetadata("authorization", "Bearer " + options_.bearer_token);
    }
    stream_ = stub_->DeltaAggregatedResources(&context_);
    std::vector<std::string> types = options_.also_types;
    types.emplace_back(xds::kClusterLoadTypeUrl);
    for (const std::string& type_url : types) {
      envoy::service::discovery::v3::DeltaDiscoveryRequest request;
      request.mutable_node()->set_id(options_.node_id);
      request.mutable_node()->set_user_agent_name("skewless-agent");
      request.set_type_url(type_url);
      request.add_resource_names_subscribe(options_.cluster);
      stream_->Write(request);
    }
    reader_ = std::thread([this] { ReadAll(); });
  }
  ~ClusterLoadSubscriber() {
    context_.TryCancel();
    reader_.join();
  }
  ClusterLoadSubscriber(const ClusterLoadSubscriber&) = delete;
  ClusterLoadSubscriber& operator=(const ClusterLoadSubscriber&) = delete;

  // The first ClusterLoad `accept` takes within the wait, else the last one seen.
  std::optional<load::v1::ClusterLoad> Await(
      const std::function<bool(const load::v1::ClusterLoad&)>& accept) {
    std::unique_lock lock(mutex_);
    std::optional<load::v1::ClusterLoad> last;
    changed_.wait_for(lock, options_.wait, [&] {
      for (; !loads_.empty(); loads_.pop_front()) {
        last = loads_.front();
        if (accept(*last)) return true;
      }
      return false;
    });
    return last;
  }

  // Responses of `type_url` so far.
  int responses(const std::string& type_url) {
    std::lock_guard lock(mutex_);
    auto it = responses_.find(type_url);
    return it == responses_.end() ? 0 : it->second;
  }

 private:
  void ReadAll() {
    envoy::service::discovery::v3::DeltaDiscoveryResponse response;
    while (stream_->Read(&response)) {
      envoy::service::discovery::v3::DeltaDiscoveryRequest ack;
      ack.set_type_url(response.type_url());
      ack.set_response_nonce(response.nonce());
      stream_->Write(ack);
      std::lock_guard lock(mutex_);
      ++responses_[response.type_url()];
      if (response.type_url() != xds::kClusterLoadTypeUrl) continue;
      for (const auto& resource : response.resources()) {
        load::v1::ClusterLoad load;
        if (resource.name() == options_.cluster && resource.resource().UnpackTo(&load)) {
          loads_.push_back(load);
        }
      }
      changed_.notify_all();
    }
  }

  const Options options_;
  std::unique_ptr<envoy::service::discovery::v3::AggregatedDiscoveryService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<envoy::service::discovery::v3::DeltaDiscoveryRequest,
                                           envoy::service::discovery::v3::DeltaDiscoveryResponse>>
      stream_;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<load::v1::ClusterLoad> loads_;
  std::map<std::string, int> responses_;
};

}  // namespace skewless::testing
