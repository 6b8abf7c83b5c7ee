// Reads a pod's own counters (Echo.Stats) so a run can be checked against the server's view.
#include "server_stats.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "skewless/lab/v1/echo.grpc.pb.h"

namespace skewless::loadgen {

absl::StatusOr<PodStats> QueryPodStats(const std::string& address, absl::Duration timeout) {
  // Its own subchannel pool, so this never reuses (or is counted as) a load
  // client's connection; the pod only counts peers that send Work anyway.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  auto stub = skewless::lab::v1::Echo::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  // Wait for a connection within the deadline rather than failing on the
  // first attempt: the pod may have just printed READY.
  context.set_wait_for_ready(true);
  skewless::lab::v1::StatsReply reply;
  const grpc::Status status = stub->Stats(&context, {}, &reply);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("Stats on pod ", address,
                                               " failed: ", status.error_message(), " (code ",
                                               static_cast<int>(status.error_code()), ")"));
  }
  return PodStats{reply.pod(), reply.zone(), reply.work_served(), reply.connections_seen()};
}

ServerStatsDelta DiffPodStats(const std::string& address, const PodStats& before,
                              const PodStats& after) {
  ServerStatsDelta d;
  d.address = address;
  d.pod = after.pod;
  d.zone = after.zone;
  d.work_served = after.work_served - before.work_served;
  d.connections_seen = after.connections_seen - before.connections_seen;
  return d;
}

}  // namespace skewless::loadgen
