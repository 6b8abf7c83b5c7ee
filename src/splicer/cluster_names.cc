// Cluster names from the node agent, polled.
#include "cluster_names.h"

#include <arpa/inet.h>

#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "skewless/common/log.h"
#include "skewless/common/net.h"
#include "skewless/datapath/backend_set.h"

namespace skewless::splicer {

absl::StatusOr<ClusterNameMap> ParseAgentClusters(std::string_view json) {
  const nlohmann::json body = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object() || !body.contains("clusters") ||
      !body["clusters"].is_array()) {
    return absl::InvalidArgumentError("not {\"clusters\": [...]}");
  }
  ClusterNameMap names;
  for (const nlohmann::json& cluster : body["clusters"]) {
    if (!cluster.is_object() || !cluster.contains("name") || !cluster["name"].is_string() ||
        !cluster.contains("port") || !cluster["port"].is_number_unsigned() ||
        cluster["port"].get<std::uint64_t>() > 0xffff || !cluster.contains("vips") ||
        !cluster["vips"].is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("a cluster is not {name, vips, port}: ", cluster.dump()));
    }
    const auto port = static_cast<std::uint16_t>(cluster["port"].get<std::uint64_t>());
    for (const nlohmann::json& vip : cluster["vips"]) {
      if (!vip.is_string()) return absl::InvalidArgumentError("a VIP is not a string");
      names[{vip.get<std::string>(), port}] = cluster["name"].get<std::string>();
    }
  }
  return names;
}

ClusterNames::ClusterNames(std::string agent_url, std::chrono::milliseconds interval)
    : agent_url_(std::move(agent_url)), interval_(interval) {
  thread_ = std::thread([this] { Run(); });
}

ClusterNames::~ClusterNames() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  thread_.join();
}

std::string ClusterNames::Lookup(const skw_addr& vip, std::uint16_t port_network_order) const {
  const std::pair<std::string, std::uint16_t> key{net::FormatSkwAddr(vip),
                                                  ntohs(port_network_order)};
  std::lock_guard lock(mutex_);
  auto it = names_.find(key);
  return it == names_.end() ? std::string() : it->second;
}

void ClusterNames::Run() {
  bool failing = false;
  for (;;) {
    httplib::Client client(agent_url_);
    // The agent is on this node: a slow answer is as good as none.
    client.set_connection_timeout(std::chrono::seconds(1));
    client.set_read_timeout(std::chrono::seconds(2));
    httplib::Result result = client.Get("/debug/clusters");
    absl::StatusOr<ClusterNameMap> names =
        !result                 ? absl::UnavailableError(httplib::to_string(result.error()))
        : result->status != 200 ? absl::UnavailableError(absl::StrCat("HTTP ", result->status))
                                : ParseAgentClusters(result->body);
    if (names.ok()) {
      if (failing) log::Info("cluster names read from the agent", {{"agent", agent_url_}});
      failing = false;
    } else if (!failing) {
      failing = true;
      log::Warn(
          "cannot read cluster names from the agent: load of Services not yet named is not "
          "reported",
          {{"agent", agent_url_}, {"error", std::string(names.status().message())}});
    }
    std::unique_lock lock(mutex_);
    if (names.ok()) names_ = *std::move(names);
    if (wake_.wait_for(lock, interval_, [&] { return stopping_; })) return;
  }
}

}  // namespace skewless::splicer
