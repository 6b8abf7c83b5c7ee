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

  ctl::CommonOptions common;
  std::string output = "table";
  app.add_option("--pin-dir", common.pin_dir,
                 "bpffs directory where skewless-agent pinned the data path's maps and links "
                 "(the agent's --pin-dir)")
      ->capture_default_str();
  app.add_option("--agent", common.agent_url,
                 "the node agent's HTTP address, for zone names (/debug/zones) and its probes "
                 "(/healthz, /readyz); \"\" = do not ask it, show zone ids")
      ->capture_default_str();
  app.add_option("-o,--output", output, "table (for people) or json (for scripts)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();

  CLI::App* services = app.add_subcommand(
      "services", "Services in the maps: VIP:port/protocol, policy, slow start, tier sizes");

  std::optional<std::string> backends_service;
  std::string backends_proto = "tcp";
  CLI::App* backends = app.add_subcommand(
      "backends",
      "Every backend with its state, zone, weight, load and the services listing it; with a "
      "service, that service's set in slot order with its tiers");
  backends->add_option("service", backends_service, "a service's VIP:port (e.g. 10.96.0.10:80)");
  backends->add_option("--proto", backends_proto, "the service's protocol: tcp or udp")
      ->check(CLI::IsMember({"tcp", "udp"}))
      ->capture_default_str();

  CLI::App* load = app.add_subcommand(
      "load",
      "Active connections per backend of each service with its share, and the data path's "
      "choices per reason since the maps were created");

  ctl::ExplainRequest explain;
  CLI::App* explain_cmd = app.add_subcommand(
      "explain",
      "Which backend a connect to VIP:port would get now, and why: the tier and its reason, "
      "each candidate's cost, and the picks of many simulated connects (select.h, the kernel's "
      "own selection code, with the current loads)");
  explain_cmd->add_option("service", explain.service, "the service's VIP:port (e.g. 10.96.0.10:80)")
      ->required();
  explain_cmd->add_option("--zone", explain.zone,
                          "also show the choice as if this node were in this zone (a zone name the "
                          "agent knows, or a zone id)");
  explain_cmd->add_option("--proto", explain.protocol, "the service's protocol: tcp or udp")
      ->check(CLI::IsMember({"tcp", "udp"}))
      ->capture_default_str();
  explain_cmd->add_option("--draws", explain.draws, "simulated connects (P2C draws at random)")
      ->check(CLI::Range(1u, 10'000'000u))
      ->capture_default_str();
  explain_cmd->add_option("--seed", explain.seed, "seed of the simulation's random draws")
      ->capture_default_str();

  CLI::App* status = app.add_subcommand(
      "status",
      "Is the data path installed and attached (maps, links, program ids, cgroup), how much "
      "does it steer, and is the agent healthy and ready; one verdict. Exits 0 when ok or "
      "degraded, 1 when broken, 3 when not installed");

  skewless::ctl::XdsFetchOptions xds;
  double xds_timeout_s = 5;
  CLI::App* xds_cmd = app.add_subcommand(
      "xds",
      "What the control plane serves to agents: asks it over ADS as skewless-agent (CDS, "
      "then EDS for every cluster) and lists clusters (VIPs, port, protocol, "
      "trafficDistribution) and endpoints (zone, node, health, weight)");
  xds_cmd->add_option("--server", xds.server, "the control plane's ADS address, host:port")
      ->capture_default_str();
  xds_cmd->add_option("--node-id", xds.node_id,
                      "the node id to ask as (also the Node whose zone is shown; default: this "
                      "host's name)");
  xds_cmd->add_option("--ca-file", xds.ca_file,
                      "PEM CA bundle the control plane's certificate must chain to (TLS is the "
                      "default: without it, --plaintext is required)");
  xds_cmd->add_option("--server-name", xds.server_name,
                      "name the control plane's certificate is verified against (default: the "
                      "host of --server)");
  xds_cmd->add_option("--token-file", xds.token_file,
                      "file whose contents are sent as `authorization: Bearer <token>` (a "
                      "ServiceAccount token for audience skewless-controlplane, for a control "
                      "plane run with --auth tokenreview); needs TLS");
  xds_cmd->add_flag("--plaintext", xds.plaintext,
                    "talk h2c to a control plane run with --plaintext; excludes --ca-file, "
                    "--server-name and --token-file");
  xds_cmd->add_option("--timeout", xds_timeout_s, "seconds to wait for the answers")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  for (CLI::App* subcommand : app.get_subcommands({})) {
    subcommand->footer(
        "Global flags (--pin-dir, --agent, -o) go before or after the subcommand; "
        "skewlessctl --help explains them.\n");
  }
  if (std::optional<int> exit_code = skewless::ParseFlags(app, argc, argv, ctl::kExitUsage)) {
    return *exit_code;
  }
  common.output = output == "json" ? OutputFormat::kJson : OutputFormat::kTable;

  if (*services) return ctl::RunServices(common, std::cout, std::cerr);
  if (*backends) {
    return ctl::RunBackends(common, backends_service, backends_proto, std::cout, std::cerr);
  }
  if (*load) return ctl::RunLoad(common, std::cout, std::cerr);
  if (*explain_cmd) return ctl::RunExplain(common, explain, std::cout, std::cerr);
  if (*status) return ctl::RunStatus(common, std::cout, std::cerr);
  if (*xds_cmd) {
    if (xds.node_id.empty()) xds.node_id = Hostname();
    xds.timeout = std::chrono::milliseconds(static_cast<long>(xds_timeout_s * 1000));
    return ctl::RunXds(xds, common.output, std::cout, std::cerr);
  }
  return ctl::kExitUsage;
}
