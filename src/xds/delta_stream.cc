// Delta (incremental) ADS: per-type subscriptions with "*" wildcard, what the client
// holds (initial_resource_versions and what we sent), changed resources and removals
// only; a subscribed name that does not exist is answered in removed_resources.
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

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;

struct TypeState {
  bool subscribed = false;
  std::size_t names_bytes = 0;  // of `names`
  bool wildcard = false;
  std::set<std::string> names;
  std::map<std::string, std::string> known;  // name → version the client holds
  std::set<std::string> told_absent;         // subscribed names already reported missing
  // A wildcard subscription is answered once even when nothing exists, so a client
  // can tell "no resources" from "no answer yet" (an agent on an empty cluster).
  bool wildcard_answered = false;
};

class DeltaHandler final
    : public internal::StreamHandler<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
 public:
  DeltaHandler(std::uint64_t stream_id, std::string peer_address, NamespaceScope scope,
               internal::StreamAdmission& admission)
      : identity_(stream_id, "delta", std::move(peer_address), std::move(scope), admission) {}

  grpc::Status OnRequest(const DeltaDiscoveryRequest& request) override {
    if (grpc::Status learned = identity_.Learn(request.node()); !learned.ok()) return learned;
    const std::string& type_url = request.type_url();
    if (type_url.empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "DeltaDiscoveryRequest without type_url on an ADS stream");
    }
    identity_.CountRequest(type_url);
    // Subscriptions add up; every type counts as one name more. Checked before anything
    // is stored, counting every name as new (an upper bound).
    auto existing = types_.find(type_url);
    const std::size_t names_at_most =
        subscribed_names_ + static_cast<std::size_t>(request.resource_names_subscribe_size()) +
        static_cast<std::size_t>(request.initial_resource_versions_size()) +
        (existing == types_.end() ? 1 : 0);
    if (grpc::Status fits = identity_.CheckNames(names_at_most); !fits.ok()) return fits;
    if (existing == types_.end()) ++subscribed_names_;
    TypeState& state = types_[type_url];
    if (request.has_error_detail()) {
      identity_.OnNack(type_url, "", request.response_nonce(), request.error_detail());
    }

    std::set<std::string> from_initial;
    if (!state.subscribed) {
      // A reconnecting client says what it already holds; equal versions are not re-sent.
      for (const auto& [name, version] : request.initial_resource_versions()) {
        state.known[name] = version;
        from_initial.insert(name);
      }
      if (request.resource_names_subscribe().empty() && internal::IsFullStateType(type_url)) {
        state.wildcard = true;  // legacy wildcard: an empty first LDS/CDS request
      }
      state.subscribed = true;
    }
    for (const std::string& name : request.resource_names_subscribe()) {
      if (name == "*") {
        state.wildcard = true;
        continue;
      }
      if (state.names.insert(name).second) {
        state.names_bytes += name.size();
        ++subscribed_names_;
      }
      state.told_absent.erase(name);
      // A re-subscribed name is sent again even if we think the client has it.
      if (!from_initial.contains(name)) state.known.erase(name);
    }
    for (const std::string& name : request.resource_names_unsubscribe()) {
      if (name == "*") {
        state.wildcard = false;
        continue;
      }
      if (state.names.erase(name) > 0) {
        state.names_bytes -= name.size();
        --subscribed_names_;
      }
      state.told_absent.erase(name);
      if (!state.wildcard) state.known.erase(name);
    }
    if (!state.wildcard) {
      for (auto it = state.known.begin(); it != state.known.end();) {
        it = state.names.contains(it->first) ? std::next(it) : state.known.erase(it);
      }
    }
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
      // `known` and `told_absent` hold subscribed names (or served ones, under wildcard).
      bytes += internal::kTypeBytes + type_url.size() + 3 * state.names_bytes +
               (state.names.size() + state.known.size() + state.told_absent.size()) *
                   internal::kEntryBytes;
    }
    return bytes;
  }

  void Respond(const ResourceSnapshot& snapshot,
               std::vector<DeltaDiscoveryResponse>* out) override {
    for (std::string_view type_url : internal::kTypeOrder) {
      auto it = types_.find(type_url);
      if (it != types_.end() && it->second.subscribed) {
        RespondType(std::string(type_url), snapshot, it->second, out);
      }
    }
    // A type we do not serve has no resources: its names are reported removed, and a
    // wildcard subscription to it is answered once, empty, like any type with nothing.
    for (auto& [type_url, state] : types_) {
      if (!internal::IsKnownType(type_url) && state.subscribed) {
        RespondType(type_url, snapshot, state, out);
      }
    }
  }

 private:
  void RespondType(const std::string& type_url, const ResourceSnapshot& snapshot, TypeState& state,
                   std::vector<DeltaDiscoveryResponse>* out) {
    const TypeResources& resources = snapshot.Of(type_url);
    std::vector<const Resource*> desired;
    if (state.wildcard) {
      for (const auto& [name, resource] : resources) desired.push_back(resource.get());
    } else {
      for (const std::string& name : state.names) {
        auto found = resources.find(name);
        if (found != resources.end()) desired.push_back(found->second.get());
      }
    }
    std::vector<const Resource*> to_send;
    for (const Resource* resource : desired) {
      auto known = state.known.find(resource->name);
      if (known == state.known.end() || known->second != resource->version) {
        to_send.push_back(resource);
      }
    }
    std::vector<std::string> removed;
    for (const auto& [name, version] : state.known) {
      if (!resources.contains(name)) removed.push_back(name);
    }
    for (const std::string& name : state.names) {
      if (!resources.contains(name) && !state.known.contains(name) &&
          !state.told_absent.contains(name)) {
        removed.push_back(name);
      }
    }
    if (to_send.empty() && removed.empty() && (!state.wildcard || state.wildcard_answered)) return;
    if (state.wildcard) state.wildcard_answered = true;

    DeltaDiscoveryResponse& response = out->emplace_back();
    response.set_type_url(type_url);
    response.set_system_version_info(TypeVersion(desired));
    response.set_nonce(absl::StrCat(++nonce_));
    response.mutable_control_plane()->set_identifier("skewless-controlplane");
    for (const Resource* resource : to_send) {
      envoy::service::discovery::v3::Resource* entry = response.add_resources();
      entry->set_name(resource->name);
      entry->set_version(resource->version);
      resource->PackInto(entry->mutable_resource());
    }
    for (const std::string& name : removed) response.add_removed_resources(name);
    identity_.CountPush(type_url);

    if (type_url == kClusterTypeUrl) {
      // A changed cluster takes its endpoints along (see the SotW stream).
      auto endpoints = types_.find(kClusterLoadAssignmentTypeUrl);
      for (const Resource* resource : to_send) {
        if (endpoints != types_.end() && state.known.contains(resource->name)) {
          endpoints->second.known.erase(resource->name);
        }
      }
    }
    for (const Resource* resource : to_send) state.known[resource->name] = resource->version;
    for (const std::string& name : removed) {
      state.known.erase(name);
      if (state.names.contains(name)) state.told_absent.insert(name);
    }
  }

  internal::StreamIdentity identity_;
  std::uint64_t nonce_ = 0;
  std::map<std::string, TypeState, std::less<>> types_;
  std::size_t subscribed_names_ = 0;  // Σ names of types_, plus one per type
};

}  // namespace

grpc::ServerBidiReactor<DeltaDiscoveryRequest, DeltaDiscoveryResponse>*
AdsService::DeltaAggregatedResources(grpc::CallbackServerContext* context) {
  std::string peer = context->peer();
  if (grpc::Status admitted = admission_->Open(peer); !admitted.ok()) {
    metrics_.streams_opened.With({"delta"}).Increment();
    return new internal::RejectedStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(admitted);
  }
  return internal::StreamReactor<DeltaDiscoveryRequest, DeltaDiscoveryResponse>::Start(
      cache_, *admission_, *workers_,
      std::make_unique<DeltaHandler>(next_stream_id_++, std::move(peer), ScopeOf(*context),
                                     *admission_));
}

}  // namespace skewless::xds
