// What a load generator run measured: per client, per pod, overall, and the pods' own counts.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "skewless/common/histogram.h"

namespace skewless::loadgen {

struct ClientResult {
  int id = 0;
  std::string zone;
  uint64_t rpcs = 0;  // successful
  uint64_t errors = 0;
  // Successful RPCs by the pod that answered: shows which pod(s) the
  // client's connection landed on.
  std::map<std::string, uint64_t> rpcs_by_pod;
  // Failed RPCs by gRPC status code name ("DEADLINE_EXCEEDED").
  std::map<std::string, uint64_t> errors_by_code;
  // New channels opened: at the end of a connection's age (churn), and after a call
  // failed UNAVAILABLE (its pod went away), as a gRPC client reconnects.
  uint64_t reconnects_by_age = 0;
  uint64_t reconnects_after_error = 0;
  // Which pod this client's connection was on, and since when: an entry each time the
  // first reply on a new connection, or a reply from another pod, arrived (Unix ms, so
  // the timelines of processes on one machine line up). Warmup included.
  std::vector<std::pair<int64_t, std::string>> pod_timeline;

  bool operator==(const ClientResult&) const = default;
};

struct PodResult {
  std::string zone;  // as the pod reported it in its replies
  uint64_t rpcs = 0;
  Histogram latency;

  bool operator==(const PodResult&) const = default;
};

// One pod's own Stats, after minus before the run (warmup included: the pod
// cannot tell warmup from measured traffic).
struct ServerStatsDelta {
  std::string address;
  std::string pod;
  std::string zone;
  uint64_t work_served = 0;
  // New connections that sent Work during the run.
  uint64_t connections_seen = 0;
  // Non-empty when the pod could not be asked after the run; counts are then 0.
  std::string error;

  bool operator==(const ServerStatsDelta&) const = default;
};

struct Result {
  std::string target;
  std::string client_zone;
  int concurrency = 0;
  double offered_rps = 0;   // 0 = closed loop
  double elapsed_s = 0;     // length of the measured period
  double achieved_rps = 0;  // successful RPCs / elapsed_s
  uint64_t rpcs = 0;        // successful, measured
  uint64_t errors = 0;
  std::map<std::string, uint64_t> errors_by_code;
  // Successful RPCs sent during warmup: not in any count above, but in the
  // pods' work_served deltas.
  uint64_t warmup_rpcs = 0;
  // From the intended send time to the reply, successful RPCs only.
  Histogram latency;
  std::vector<ClientResult> clients;
  std::map<std::string, PodResult> pods;  // by pod name
  std::vector<ServerStatsDelta> server_stats;

  bool operator==(const Result&) const = default;
};

// Folds the result of another loadgen process (run at the same time) into
// `into`: counts, rates and histograms add, elapsed_s is the longest, clients
// are appended with ids renumbered after those already present, and
// server_stats are taken from `from` only for addresses `into` lacks (each
// process's delta already covers every process's traffic).
void MergeResults(Result& into, const Result& from);

}  // namespace skewless::loadgen
