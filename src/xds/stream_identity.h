// Who is on the other end of an ADS stream, learned from its first request, and the
// bookkeeping every protocol does for it: the streams gauge, its peer's stream count,
// request and NACK counts, open/close/NACK log lines (rate-limited per peer, client
// strings cut). Shared by the SotW and delta handlers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "envoy/config/core/v3/base.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/grpcpp.h"
#include "skewless/common/log.h"
#include "skewless/xds/ads_server.h"
#include "skewless/xds/server_metrics.h"
#include "src/xds/stream_admission.h"

namespace skewless::xds::internal {

class StreamIdentity {
 public:
  StreamIdentity(std::uint64_t stream_id, std::string protocol, std::string peer_address,
                 NamespaceScope scope, StreamAdmission& admission)
      : stream_id_(absl::StrCat(stream_id)),
        protocol_(std::move(protocol)),
        peer_address_(std::move(peer_address)),
        scope_(std::move(scope)),
        admission_(admission),
        metrics_(admission.metrics()) {
    metrics_.streams_opened.With({protocol_}).Increment();
  }
  ~StreamIdentity() {
    if (joined_) admission_.LeavePeer(peer_);
    if (!view_) return;
    metrics_.streams.With({protocol_, AudienceLabel(*view_)}).Add(-1);
    std::uint64_t suppressed = 0;
    if (admission_.ShouldLog("stream_closed", peer_, &suppressed)) {
      log::Info("xds stream closed", {{"stream", stream_id_},
                                      {"node", log::Clip(node_id_)},
                                      {"suppressed", absl::StrCat(suppressed)}});
    }
  }
  StreamIdentity(const StreamIdentity&) = delete;
  StreamIdentity& operator=(const StreamIdentity&) = delete;

  // The first request names the node (only the first is guaranteed to); later ones
  // change nothing. Not OK when the node's peer already has its streams.
  grpc::Status Learn(const envoy::config::core::v3::Node& node) {
    if (view_) return grpc::Status::OK;
    view_ = ViewOf(node);
    view_->scope = scope_;  // who the caller is, not what its Node claims
    // Kubernetes label values are at most 63 bytes: a longer zone is no zone.
    if (view_->zone.size() > 63) view_->zone.clear();
    node_id_ = log::Clip(node.id());
    peer_ = PeerKey(node.id(), peer_address_);
    metrics_.streams.With({protocol_, AudienceLabel(*view_)}).Add(1);
    std::uint64_t suppressed = 0;
    if (admission_.ShouldLog("stream_opened", peer_, &suppressed)) {
      log::Info("xds stream opened", {{"stream", stream_id_},
                                      {"protocol", protocol_},
                                      {"node", node_id_},
                                      {"peer", log::Clip(peer_address_)},
                                      {"zone", view_->zone},
                                      {"audience", AudienceLabel(*view_)},
                                      {"scope", log::Clip(ScopeLabel(scope_))},
                                      {"user_agent", log::Clip(node.user_agent_name())},
                                      {"suppressed", absl::StrCat(suppressed)}});
    }
    grpc::Status joined = admission_.JoinPeer(peer_, stream_id_);
    joined_ = joined.ok();
    return joined;
  }

  const std::optional<ClientView>& view() const { return view_; }

  // Not OK when a stream subscribes more than max_names_per_stream names.
  grpc::Status CheckNames(std::size_t names) {
    if (names <= admission_.limits().max_names_per_stream) return grpc::Status::OK;
    return admission_.Reject(
        "names_per_stream", peer_, stream_id_,
        absl::StrCat(names, " subscribed names exceed ", admission_.limits().max_names_per_stream,
                     " (--max-names-per-stream)"));
  }

  void CountRequest(std::string_view type_url) {
    metrics_.requests.With({TypeLabel(type_url)}).Increment();
  }
  void CountPush(std::string_view type_url) {
    metrics_.pushes.With({TypeLabel(type_url)}).Increment();
  }

  // A NACK keeps the client on `kept_version` (empty when unknown, as in delta). Every
  // NACK is counted; a client NACKing in a loop is logged once per interval.
  void OnNack(std::string_view type_url, const std::string& kept_version, const std::string& nonce,
              const google::rpc::Status& error) {
    metrics_.nacks.With({TypeLabel(type_url)}).Increment();
    std::uint64_t suppressed = 0;
    if (!admission_.ShouldLog("nack", peer_, &suppressed)) return;
    log::Warn("xds NACK: client keeps its last good version",
              {{"stream", stream_id_},
               {"node", node_id_},
               {"type", log::Clip(TypeLabel(type_url))},
               {"kept_version", log::Clip(kept_version)},
               {"nonce", log::Clip(nonce)},
               {"code", absl::StrCat(error.code())},
               {"error", log::Clip(error.message())},
               {"suppressed", absl::StrCat(suppressed)}});
  }

  const std::string& stream_id() const { return stream_id_; }
  const std::string& peer() const { return peer_; }

  // What this object holds, for the stream's memory estimate.
  std::size_t EstimatedBytes() const {
    return sizeof(*this) + node_id_.size() + peer_.size() + peer_address_.size() +
           (view_ ? view_->zone.size() : 0);
  }

 private:
  const std::string stream_id_;
  const std::string protocol_;
  const std::string peer_address_;
  const NamespaceScope scope_;
  StreamAdmission& admission_;
  XdsMetrics& metrics_;
  std::optional<ClientView> view_;
  std::string node_id_;  // cut for logs
  std::string peer_;
  bool joined_ = false;
};

}  // namespace skewless::xds::internal
