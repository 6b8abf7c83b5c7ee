// The few HTTP reads skewlessctl makes of the node agent: /debug/zones, /healthz, /readyz.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skewless/ctl/zones.h"

namespace skewless::ctl {

inline constexpr char kDefaultAgentUrl[] = "http://127.0.0.1:9091";

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// InvalidArgument unless `url` is http://host:port (the agent serves plain HTTP on its
// node-local address).
absl::Status ValidateAgentUrl(const std::string& url);

// GET <agent_url><path> with short timeouts (the agent is local: a slow answer is as good
// as none). Unavailable, naming the URL, when nothing answers.
absl::StatusOr<HttpAnswer> AgentGet(const std::string& agent_url, const std::string& path);

// /debug/zones, parsed; `source` says which agent answered.
absl::StatusOr<ZoneNames> FetchZoneNames(const std::string& agent_url);

}  // namespace skewless::ctl
