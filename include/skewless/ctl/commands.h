// The skewlessctl subcommands as functions: gather, render, exit code. The tool's main only
// parses flags; the kernel tests run the real binary, the unit tests the pieces below.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "skewless/ctl/agent_client.h"
#include "skewless/ctl/xds_fetch.h"
#include "skewless/datapath/steering.h"

namespace skewless::ctl {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,       // something failed at run time (the message says what)
  kExitUsage = 2,       // bad flags or arguments
  kExitNoDatapath = 3,  // no data path pinned where we looked
};

enum class OutputFormat { kTable, kJson };

struct CommonOptions {
  std::string pin_dir = datapath::kDefaultPinDir;
  std::string agent_url = kDefaultAgentUrl;  // "" = never ask the agent
  OutputFormat output = OutputFormat::kTable;
};

struct ExplainRequest {
  std::string service;  // VIP:port
  std::string protocol = "tcp";
  std::optional<std::string> zone;  // a zone name the agent knows, or a zone id
  std::uint32_t draws = 10000;
  std::uint32_t seed = 1;
};

int RunServices(const CommonOptions& options, std::ostream& out, std::ostream& err);
// Every backend, or with `service` (VIP:port) that service's set in slot order.
int RunBackends(const CommonOptions& options, const std::optional<std::string>& service,
                const std::string& protocol, std::ostream& out, std::ostream& err);
int RunLoad(const CommonOptions& options, std::ostream& out, std::ostream& err);
int RunExplain(const CommonOptions& options, const ExplainRequest& request, std::ostream& out,
               std::ostream& err);
// kExitOk for ok and degraded, kExitError for broken, kExitNoDatapath when not installed.
int RunStatus(const CommonOptions& options, std::ostream& out, std::ostream& err);
int RunXds(const XdsFetchOptions& options, OutputFormat output, std::ostream& out,
           std::ostream& err);

}  // namespace skewless::ctl
