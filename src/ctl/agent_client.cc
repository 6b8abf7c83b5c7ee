// HTTP GETs to the node agent (cpp-httplib), with timeouts short enough for a CLI.
#include "skewless/ctl/agent_client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "skewless/common/net.h"

namespace skewless::ctl {
namespace {

constexpr char kScheme[] = "http://";

}  // namespace

absl::Status ValidateAgentUrl(const std::string& url) {
  absl::StatusOr<net::HostPort> split = absl::StartsWith(url, kScheme)
                                            ? net::SplitHostPort(url.substr(sizeof(kScheme) - 1))
                                            : absl::InvalidArgumentError("no http:// scheme");
  if (!split.ok() || split->port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--agent ", url, ": not http://host:port (e.g. ", kDefaultAgentUrl, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<HttpAnswer> AgentGet(const std::string& agent_url, const std::string& path) {
  if (absl::Status valid = ValidateAgentUrl(agent_url); !valid.ok()) return valid;
  httplib::Client client(agent_url);
  client.set_connection_timeout(0, 500'000);  // 0.5 s
  client.set_read_timeout(2, 0);
  client.set_write_timeout(2, 0);
  httplib::Result result = client.Get(path.c_str());
  if (!result) {
    return absl::UnavailableError(absl::StrCat("the agent at ", agent_url, " does not answer GET ",
                                               path, " (", httplib::to_string(result.error()),
                                               ")"));
  }
  return HttpAnswer{.status = result->status, .body = result->body};
}

absl::StatusOr<ZoneNames> FetchZoneNames(const std::string& agent_url) {
  absl::StatusOr<HttpAnswer> answer = AgentGet(agent_url, "/debug/zones");
  if (!answer.ok()) return answer.status();
  if (answer->status != 200) {
    return absl::UnavailableError(absl::StrCat("the agent at ", agent_url,
                                               " answered GET /debug/zones with ", answer->status));
  }
  absl::StatusOr<ZoneNames> names = ParseZoneNames(answer->body);
  if (!names.ok()) return names.status();
  names->source = absl::StrCat("agent at ", agent_url);
  return names;
}

}  // namespace skewless::ctl
