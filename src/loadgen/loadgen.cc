// Run(): connect one channel per client, snapshot pod stats, drive the load, diff the stats.
#include "skewless/loadgen/loadgen.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "driver.h"
#include "server_stats.h"

namespace skewless::loadgen {
namespace {

constexpr absl::Duration kStatsTimeout = absl::Seconds(2);

const char* ChannelStateName(grpc_connectivity_state s) {
  switch (s) {
    case GRPC_CHANNEL_IDLE:
      return "IDLE";
    case GRPC_CHANNEL_CONNECTING:
      return "CONNECTING";
    case GRPC_CHANNEL_READY:
      return "READY";
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return "TRANSIENT_FAILURE";
    case GRPC_CHANNEL_SHUTDOWN:
      return "SHUTDOWN";
  }
  return "?";
}

std::shared_ptr<grpc::Channel> NewClientChannel(const std::string& target, int client_id) {
  grpc::ChannelArguments args;
  // gRPC shares subchannels (connections) between channels with equal args
  // through a global pool; a per-channel pool plus a distinct arg makes each
  // client its own TCP connection, as separate client processes would be.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("skewless.loadgen.client_id", client_id);
  // One connection per client, kept for the run: what an L4 balancer sees.
  args.SetLoadBalancingPolicyName("pick_first");
  // Every failure must show up in the result, not be hidden by a retry.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> ConnectClients(const Options& o) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < o.clients; ++i) {
    channels.push_back(NewClientChannel(o.target, i));
    channels.back()->GetState(/*try_to_connect=*/true);  // all dial in parallel
  }
  const auto deadline = absl::ToChronoTime(absl::Now() + o.connect_timeout);
  for (int i = 0; i < o.clients; ++i) {
    if (!channels[i]->WaitForConnected(deadline)) {
      return absl::UnavailableError(
          absl::StrCat("client ", i, " could not connect to ", o.target, " within ",
                       absl::FormatDuration(o.connect_timeout), " (channel state ",
                       ChannelStateName(channels[i]->GetState(false)), ")"));
    }
  }
  return channels;
}

}  // namespace

absl::StatusOr<Result> Run(const Options& options, const std::atomic<bool>* stop,
                           ProgressFn progress) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;

  std::vector<PodStats> before;
  for (const std::string& address : options.stats_addresses) {
    auto stats = QueryPodStats(address, kStatsTimeout);
    if (!stats.ok()) return stats.status();
    before.push_back(*std::move(stats));
  }

  auto channels = ConnectClients(options);
  if (!channels.ok()) return channels.status();

  // A replacement channel gets an id of its own, so it can never share a connection.
  int next_channel_id = options.clients;
  const ChannelFactory reconnect = [&](int) {
    return NewClientChannel(options.target, next_channel_id++);
  };
  Result result = DriveLoad(options, *std::move(channels), reconnect, stop, progress);
  result.target = options.target;
  result.client_zone = options.client_zone;

  for (size_t i = 0; i < options.stats_addresses.size(); ++i) {
    const std::string& address = options.stats_addresses[i];
    auto after = QueryPodStats(address, kStatsTimeout);
    if (after.ok()) {
      result.server_stats.push_back(DiffPodStats(address, before[i], *after));
    } else {
      ServerStatsDelta failed;
      failed.address = address;
      failed.pod = before[i].pod;
      failed.zone = before[i].zone;
      failed.error = std::string(after.status().message());
      result.server_stats.push_back(std::move(failed));
    }
  }
  return result;
}

}  // namespace skewless::loadgen
