// Checks load generator options before anything connects.
#include "skewless/loadgen/options.h"

#include "absl/strings/str_cat.h"

namespace skewless::loadgen {

absl::Status ValidateOptions(const Options& o) {
  auto bad = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  if (o.target.empty()) return bad("target must not be empty");
  if (o.clients < 1) return bad("clients must be >= 1, got ", o.clients);
  if (o.concurrency < 1) return bad("concurrency must be >= 1, got ", o.concurrency);
  if (o.duration <= absl::ZeroDuration()) {
    return bad("duration must be > 0, got ", absl::FormatDuration(o.duration));
  }
  if (!(o.rate_rps >= 0)) return bad("rate must be >= 0 (0 = closed loop), got ", o.rate_rps);
  if (o.payload_bytes < 0) return bad("payload bytes must be >= 0, got ", o.payload_bytes);
  if (o.rpc_deadline <= absl::ZeroDuration()) {
    return bad("rpc deadline must be > 0, got ", absl::FormatDuration(o.rpc_deadline));
  }
  if (o.warmup < absl::ZeroDuration()) {
    return bad("warmup must be >= 0, got ", absl::FormatDuration(o.warmup));
  }
  if (o.connect_timeout <= absl::ZeroDuration()) {
    return bad("connect timeout must be > 0, got ", absl::FormatDuration(o.connect_timeout));
  }
  if (o.max_connection_age != absl::ZeroDuration() &&
      o.max_connection_age < absl::Milliseconds(100)) {
    return bad("max connection age must be 0 (never) or >= 100ms, got ",
               absl::FormatDuration(o.max_connection_age));
  }
  for (const auto& a : o.stats_addresses) {
    if (a.empty()) return bad("stats address must not be empty");
  }
  return absl::OkStatus();
}

}  // namespace skewless::loadgen
