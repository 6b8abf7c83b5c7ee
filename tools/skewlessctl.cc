// skewlessctl: what the node's data path steers, how loaded it is, why a connect goes where
// it goes, and what the control plane serves.
#include <unistd.h>

#include <climits>
#include <iostream>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "skewless/common/cli.h"
#include "skewless/ctl/commands.h"
#include "skewless/ctl/ctl_flags.h"

namespace {

using skewless::ctl::OutputFormat;

std::string Hostname() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "skewlessctl";
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  namespace ctl = skewless::ctl;
  CLI::App app{
      "skewlessctl: inspects skewless on this node. Reads the BPF maps the agent pinned\n"
      "(services, backends, load), explains which backend a connect would get now using the\n"
      "same selection code as the kernel, and shows what the control plane serves (xDS).\n"
      "Output is a table, or JSON with -o json. Reading the maps needs root.\n"
      "Exit codes: 0 ok, 1 runtime error, 2 bad flags or arguments, 3 no data path found."};
  app.require_subcommand(1);
  // Global flags may follow the subcommand too: `skewlessctl services -o json`.
  app.fallthrough();

  ctl::CtlFlags flags;
  ctl::BindFlags(app, flags);
  if (std::optional<int> exit_code = skewless::ParseFlags(app, argc, argv, ctl::kExitUsage)) {
    return *exit_code;
  }
  ctl::CommonOptions& common = flags.common;
  common.output = flags.output == "json" ? OutputFormat::kJson : OutputFormat::kTable;

  if (*flags.services) return ctl::RunServices(common, std::cout, std::cerr);
  if (*flags.backends) {
    return ctl::RunBackends(common, flags.backends_service, flags.backends_proto, std::cout,
                            std::cerr);
  }
  if (*flags.load) return ctl::RunLoad(common, std::cout, std::cerr);
  if (*flags.explain_cmd) return ctl::RunExplain(common, flags.explain, std::cout, std::cerr);
  if (*flags.status) return ctl::RunStatus(common, std::cout, std::cerr);
  if (*flags.xds_cmd) {
    if (flags.xds.node_id.empty()) flags.xds.node_id = Hostname();
    return ctl::RunXds(flags.xds, common.output, std::cout, std::cerr);
  }
  return ctl::kExitUsage;
}
