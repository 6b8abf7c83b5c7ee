// State-of-the-world ADS: subscriptions per type, ACK/NACK by nonce and error_detail,
// full LDS/CDS sets, changed-only RDS/EDS, EDS re-sent after its cluster changed.
#include <atomic>
#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "skewless/common/log.h"
#include "skewless/xds/ads_server.h"
#include "src/xds/stream_identity.h"
#include "src/xds/stream_reactor.h"
#include "src/xds/stream_workers.h"
#include "src/xds/type_order.h"

namespace skewless::xds {
namespace {

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

struct TypeState {
  bool subscribed = false;
  std::size_t names_bytes = 0;  // of `names`
  bool wildcard = false;
  std::set<std::string> names;
  // A new or changed subscription is answered even when nothing changed, so a client
  // learns at once that a full-state name does not exist.
  bool must_answer = false;
  std::set<std::string> force;              // names to send even if unchanged
  std::map<std::string, std::string> sent;  // name → version the client last got
  std::string last_nonce;
  std::string acked_version;
};

class SotwHandler final : public internal::StreamHandler<DiscoveryRequest, DiscoveryResponse> {
 public:
  SotwHandler(std::uint64_t stream_id, std::string peer_address, NamespaceScope scope,
              internal::StreamAdmission& admission)
      : identity_(stream_id, "sotw", std::move(peer_address), std::move(scope), admission) {}

  grpc::Status OnRequest(const DiscoveryRequest& request) override {
    if (grpc::Status learned = identity_.Learn(request.node()); !learned.ok()) return learned;
    const std::string& type_url = request.type_url();
    if (type_url.empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "DiscoveryRequest without type_url on an ADS stream");
    }
    identity_.CountRequest(type_url);
    // A request replaces its type's names; every type counts as one name more.
    auto existing = types_.find(type_url);
    const std::size_t names_after = subscribed_names_ +
                                    static_cast<std::size_t>(request.resource_names_size()) -
                                    (existing == types_.end() ? 0 : existing->second.names.size()) +
                                    (existing == types_.end() ? 1 : 0);
    if (grpc::Status fits = identity_.CheckNames(names_after); !fits.ok()) return fits;
    if (existing == types_.end()) ++subscribed_names_;
    TypeState& state = types_[type_url];
    if (!request.response_nonce().empty() && request.response_nonce() != state.last_nonce) {
      // A newer response is in flight; the client's answer to it will say what it wants.
      log::Debug("xds stale nonce ignored", {{"stream", identity_.stream_id()},
                                             {"type", log::Clip(TypeLabel(type_url))},
                                             {"nonce", log::Clip(request.response_nonce())}});
      return grpc::Status::OK;
    }
    if (request.has_error_detail()) {
      identity_.OnNack(type_url, request.version_info(), request.response_nonce(),
                       request.error_detail());
    } else if (!request.response_nonce().empty()) {
      state.acked_version = request.version_info();
    }

    std::set<std::string> names(request.resource_names().begin(), request.resource_names().end());
    // Wildcard is an explicit "*", or the legacy form: an empty first LDS/CDS request,
    // which stays wildcard for as long as the requests stay empty.
    bool wildcard = names.erase("*") > 0;
    if (!wildcard && names.empty() && internal::IsFullStateType(type_url) &&
        (!state.subscribed || state.wildcard)) {
      wildcard = true;
    }
    for (const std::string& name : names) {
      if (!state.names.contains(name)) state.force.insert(name);
    }
    for (auto it = state.sent.begin(); it != state.sent.end();) {
      it = (!wildcard && !names.contains(it->first)) ? state.sent.erase(it) : std::next(it);
    }
    if (!state.subscribed || names != state.names || wildcard != state.wildcard) {
      state.must_answer = true;
    }
    state.subscribed = true;
    subscribed_names_ = subscribed_names_ - state.names.size() + names.size();
    state.names_bytes = 0;
    for (const std::string& name : names) state.names_bytes += name.size();
    state.names = std::move(names);
    state.wildcard = wildcard;
    return grpc::Status::OK;
  }

  std::optional<ClientView> view() const override { return identity_.view(); }
  internal::StreamIdentity& identity() override { return identity_; }
  bool Subscribes(std::string_view type_url) const override {
    auto it = types_.find(type_url);
    return it != types_.end() && it->second.subscribed &&
           (it->second.wildcard || !it->second.names.empty());
  }

  std::size_t EstimatedBytes() const override {
    std::size_t bytes = sizeof(*this) + identity_.EstimatedBytes();
    for (const auto& [type_url, state] : types_) {
      // `sent` and `force` hold names of `names` (or of the served resources, under
      // wildcard), so the names' bytes count once per container.
      bytes +=
          internal::kTypeBytes + 2 * type_url.size() + 3 * state.names_bytes +
          (state.names.size() + state.force.size() + state.sent.size()) * internal::kEntryBytes +
          state.last_nonce.size() + state.acked_version.size();
    }
    return bytes;
  }

  void Respond(const ResourceSnapshot& snapshot, std::vector<DiscoveryResponse>* out) override {
    for (std::string_view type_url : internal::kTypeOrder) {
      auto it = types_.find(type_url);
      if (it != types_.end() && it->second.subscribed) {
        RespondType(std::string(type_url), snapshot, it->second, out);
      }
    }
    for (auto& [type_url, state] : types_) {
      // A type we do not serve: answer once with nothing, so the client does not wait.
      if (!internal::IsKnownType(type_url) && state.subscribed && state.must_answer) {
        RespondType(type_url, snapshot, state, out);
      }
    }
  }

 private:
  void RespondType(const std::string& type_url, const ResourceSnapshot& snapshot, TypeState& state,
                   std::vector<DiscoveryResponse>* out) {
    const TypeResources& resources = snapshot.Of(type_url);
    std::vector<const Resource*> desired;
    if (state.wildcard) {
      for (const auto& [name, resource] : resources) desired.push_back(resource.get());
    }
    for (const std::string& name : state.names) {
      auto found = resources.find(name);
      if (found != resources.end() && !state.wildcard) desired.push_back(found->second.get());
    }

    std::vector<const Resource*> to_send;
    const bool full = internal::IsFullStateType(type_url);
    if (full) {
      bool changed = state.must_answer || desired.size() != state.sent.size();
      for (const Resource* resource : desired) {
        auto sent = state.sent.find(resource->name);
        if (sent == state.sent.end() || sent->second != resource->version ||
            state.force.contains(resource->name)) {
          changed = true;
        }
      }
      if (!changed) return;
      to_send = desired;
    } else {
      for (const Resource* resource : desired) {
        auto sent = state.sent.find(resource->name);
        if (sent == state.sent.end() || sent->second != resource->version ||
            state.force.contains(resource->name)) {
          to_send.push_back(resource);
        }
      }
      if (to_send.empty() && !state.must_answer) return;
      // A first EDS/RDS answer with nothing to say would make the client think it got an
      // update; wait for the resources to exist instead (gRFC A57 timers cover absence).
      // A type we do not serve never will have any: it is answered, empty.
      if (to_send.empty() && internal::IsKnownType(type_url)) {
        state.must_answer = false;
        return;
      }
    }

    DiscoveryResponse& response = out->emplace_back();
    response.set_type_url(type_url);
    response.set_version_info(TypeVersion(desired));
    response.set_nonce(absl::StrCat(++nonce_));
    for (const Resource* resource : to_send) resource->PackInto(response.add_resources());
    response.mutable_control_plane()->set_identifier("skewless-controlplane");
    identity_.CountPush(type_url);

    // Clusters that changed take their endpoints along (Envoy keeps a changed cluster
    // warming until its ClusterLoadAssignment arrives again).
    if (type_url == kClusterTypeUrl) {
      TypeState& endpoints = types_[std::string(kClusterLoadAssignmentTypeUrl)];
      for (const Resource* resource : to_send) {
        auto sent = state.sent.find(resource->name);
        if (sent != state.sent.end() && sent->second != resource->version) {
          endpoints.force.insert(resource->name);
        }
      }
    }
    if (full) state.sent.clear();
    for (const Resource* resource : to_send) {
      state.sent[resource->name] = resource->version;
      state.force.erase(resource->name);
    }
    // Forget what no longer exists, so it is sent again if it comes back.
    for (auto it = state.sent.begin(); it != state.sent.end();) {
      it = resources.contains(it->first) ? std::next(it) : state.sent.erase(it);
    }
    state.last_nonce = response.nonce();
    state.must_answer = false;
  }

  internal::StreamIdentity identity_;
  std::uint64_t nonce_ = 0;
  std::map<std::string, TypeState, std::less<>> types_;
  std::size_t subscribed_names_ = 0;  // Σ names of types_, plus one per type
};

}  // namespace

grpc::ServerBidiReactor<DiscoveryRequest, DiscoveryResponse>* AdsService::StreamAggregatedResources(
    grpc::CallbackServerContext* context) {
  std::string peer = context->peer();
  if (grpc::Status admitted = admission_->Open(peer); !admitted.ok()) {
    metrics_.streams_opened.With({"sotw"}).Increment();
    return new internal::RejectedStream<DiscoveryRequest, DiscoveryResponse>(admitted);
  }
  return internal::StreamReactor<DiscoveryRequest, DiscoveryResponse>::Start(
      cache_, *admission_, *workers_,
      std::make_unique<SotwHandler>(next_stream_id_++, std::move(peer), ScopeOf(*context),
                                    *admission_));
}

}  // namespace skewless::xds
