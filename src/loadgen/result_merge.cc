// Folds results of loadgen processes that ran at the same time into one.
#include <algorithm>

#include "skewless/loadgen/result.h"

namespace skewless::loadgen {

void MergeResults(Result& into, const Result& from) {
  if (into.target.empty()) into.target = from.target;
  // Processes in different zones: the per-client zones stay exact, the
  // top-level label can no longer name one zone.
  if (into.clients.empty() && into.client_zone.empty()) {
    into.client_zone = from.client_zone;
  } else if (into.client_zone != from.client_zone) {
    into.client_zone.clear();
  }
  into.concurrency = std::max(into.concurrency, from.concurrency);
  into.offered_rps += from.offered_rps;
  into.elapsed_s = std::max(into.elapsed_s, from.elapsed_s);
  into.achieved_rps += from.achieved_rps;
  into.rpcs += from.rpcs;
  into.errors += from.errors;
  for (const auto& [code, n] : from.errors_by_code) into.errors_by_code[code] += n;
  into.warmup_rpcs += from.warmup_rpcs;
  into.latency.Merge(from.latency);

  const int next_id = static_cast<int>(into.clients.size());
  for (ClientResult c : from.clients) {
    c.id += next_id;
    into.clients.push_back(std::move(c));
  }
  for (const auto& [name, pod] : from.pods) {
    PodResult& mine = into.pods[name];
    if (mine.zone.empty()) mine.zone = pod.zone;
    mine.rpcs += pod.rpcs;
    mine.latency.Merge(pod.latency);
  }
  for (const ServerStatsDelta& s : from.server_stats) {
    const bool known =
        std::any_of(into.server_stats.begin(), into.server_stats.end(),
                    [&](const ServerStatsDelta& t) { return t.address == s.address; });
    if (!known) into.server_stats.push_back(s);
  }
}

}  // namespace skewless::loadgen
