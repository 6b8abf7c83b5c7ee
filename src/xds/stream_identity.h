// Who is on the other end of an ADS stream, learned from its first request, and the
// bookkeeping every protocol does for it: the streams gauge, request and NACK counts,
// open/close/NACK log lines. Shared by the SotW and delta handlers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "envoy/config/core/v3/base.pb.h"
#include "google/rpc/status.pb.h"
#include "skewless/common/log.h"
#include "skewless/xds/ads_server.h"
#include "skewless/xds/server_metrics.h"

namespace skewless::xds::internal {

class StreamIdentity {
 public:
  StreamIdentity(std::uint64_t stream_id, std::string protocol, XdsMetrics& metrics)
      : stream_id_(absl::StrCat(stream_id)), protocol_(std::move(protocol)), metrics_(metrics) {}
  ~StreamIdentity() {
    if (!view_) return;
    metrics_.streams.With({protocol_, AudienceLabel(*view_)}).Add(-1);
    log::Info("xds stream closed", {{"stream", stream_id_}, {"node", node_id_}});
  }
  StreamIdentity(const StreamIdentity&) = delete;
  StreamIdentity& operator=(const StreamIdentity&) = delete;

  // The first request names the node (only the first is guaranteed to); later ones
  // change nothing.
  void Learn(const envoy::config::core::v3::Node& node) {
    if (view_) return;
    view_ = ViewOf(node);
    node_id_ = node.id();
    metrics_.streams.With({protocol_, AudienceLabel(*view_)}).Add(1);
    log::Info("xds stream opened", {{"stream", stream_id_},
                                    {"protocol", protocol_},
                                    {"node", node_id_},
                                    {"zone", view_->zone},
                                    {"audience", AudienceLabel(*view_)},
                                    {"user_agent", node.user_agent_name()}});
  }

  const std::optional<ClientView>& view() const { return view_; }

  void CountRequest(std::string_view type_url) {
    metrics_.requests.With({TypeLabel(type_url)}).Increment();
  }
  void CountPush(std::string_view type_url) {
    metrics_.pushes.With({TypeLabel(type_url)}).Increment();
  }

  // A NACK keeps the client on `kept_version` (empty when unknown, as in delta).
  void OnNack(std::string_view type_url, const std::string& kept_version, const std::string& nonce,
              const google::rpc::Status& error) {
    metrics_.nacks.With({TypeLabel(type_url)}).Increment();
    log::Warn("xds NACK: client keeps its last good version", {{"stream", stream_id_},
                                                               {"node", node_id_},
                                                               {"type", TypeLabel(type_url)},
                                                               {"kept_version", kept_version},
                                                               {"nonce", nonce},
                                                               {"code", absl::StrCat(error.code())},
                                                               {"error", error.message()}});
  }

  const std::string& stream_id() const { return stream_id_; }

 private:
  const std::string stream_id_;
  const std::string protocol_;
  XdsMetrics& metrics_;
  std::optional<ClientView> view_;
  std::string node_id_;
};

}  // namespace skewless::xds::internal
