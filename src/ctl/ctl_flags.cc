// skewlessctl's flags (docs/skewlessctl.md): names, help and defaults of the global flags
// and of each subcommand's.
#include "skewless/ctl/ctl_flags.h"

#include "skewless/common/cli.h"

namespace skewless::ctl {

void BindFlags(CLI::App& app, CtlFlags& flags) {
  app.add_option("--pin-dir", flags.common.pin_dir,
                 "bpffs directory where skewless-agent pinned the data path's maps and links "
                 "(the agent's --pin-dir)")
      ->capture_default_str();
  app.add_option("--agent", flags.common.agent_url,
                 "the node agent's HTTP address, for zone names (/debug/zones) and its probes "
                 "(/healthz, /readyz); \"\" = do not ask it, show zone ids")
      ->capture_default_str();
  app.add_option("-o,--output", flags.output, "table (for people) or json (for scripts)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();

  flags.services = app.add_subcommand(
      "services", "Services in the maps: VIP:port/protocol, policy, slow start, tier sizes");

  flags.backends = app.add_subcommand(
      "backends",
      "Every backend with its state, zone, weight, load and the services listing it; with a "
      "service, that service's set in slot order with its tiers");
  flags.backends->add_option("service", flags.backends_service,
                             "a service's VIP:port (e.g. 10.96.0.10:80)");
  flags.backends->add_option("--proto", flags.backends_proto, "the service's protocol: tcp or udp")
      ->check(CLI::IsMember({"tcp", "udp"}))
      ->capture_default_str();

  flags.load = app.add_subcommand(
      "load",
      "Active connections per backend of each service with its share, and the data path's "
      "choices per reason since the maps were created");

  flags.explain_cmd = app.add_subcommand(
      "explain",
      "Which backend a connect to VIP:port would get now, and why: the tier and its reason, "
      "each candidate's cost, and the picks of many simulated connects (select.h, the kernel's "
      "own selection code, with the current loads)");
  flags.explain_cmd
      ->add_option("service", flags.explain.service, "the service's VIP:port (e.g. 10.96.0.10:80)")
      ->required();
  flags.explain_cmd->add_option(
      "--zone", flags.explain.zone,
      "also show the choice as if this node were in this zone (a zone name the "
      "agent knows, or a zone id)");
  flags.explain_cmd
      ->add_option("--proto", flags.explain.protocol, "the service's protocol: tcp or udp")
      ->check(CLI::IsMember({"tcp", "udp"}))
      ->capture_default_str();
  flags.explain_cmd
      ->add_option("--draws", flags.explain.draws, "simulated connects (P2C draws at random)")
      ->check(CLI::Range(1u, 10'000'000u))
      ->capture_default_str();
  flags.explain_cmd
      ->add_option("--seed", flags.explain.seed, "seed of the simulation's random draws")
      ->capture_default_str();

  flags.status = app.add_subcommand(
      "status",
      "Is the data path installed and attached (maps, links, program ids, cgroup), how much "
      "does it steer, and is the agent healthy and ready; one verdict. Exits 0 when ok or "
      "degraded, 1 when broken, 3 when not installed");

  flags.xds_cmd = app.add_subcommand(
      "xds",
      "What the control plane serves to agents: asks it over ADS as skewless-agent (CDS, "
      "then EDS for every cluster) and lists clusters (VIPs, port, protocol, "
      "trafficDistribution) and endpoints (zone, node, health, weight)");
  flags.xds_cmd
      ->add_option("--server", flags.xds.server, "the control plane's ADS address, host:port")
      ->capture_default_str();
  flags.xds_cmd->add_option(
      "--node-id", flags.xds.node_id,
      "the node id to ask as (also the Node whose zone is shown; default: this "
      "host's name)");
  flags.xds_cmd->add_option(
      "--ca-file", flags.xds.ca_file,
      "PEM CA bundle the control plane's certificate must chain to (TLS is the "
      "default: without it, --plaintext is required)");
  flags.xds_cmd->add_option(
      "--server-name", flags.xds.server_name,
      "name the control plane's certificate is verified against (default: the "
      "host of --server)");
  flags.xds_cmd->add_option(
      "--token-file", flags.xds.token_file,
      "file whose contents are sent as `authorization: Bearer <token>` (a "
      "ServiceAccount token for audience skewless-controlplane, for a control "
      "plane run with --auth tokenreview); needs TLS");
  flags.xds_cmd->add_flag("--plaintext", flags.xds.plaintext,
                          "talk h2c to a control plane run with --plaintext; excludes --ca-file, "
                          "--server-name and --token-file");
  AddSecondsOption(*flags.xds_cmd, "--timeout", flags.xds.timeout,
                   "seconds to wait for the answers")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  for (CLI::App* subcommand : app.get_subcommands({})) {
    subcommand->footer(
        "Global flags (--pin-dir, --agent, -o) go before or after the subcommand; "
        "skewlessctl --help explains them.\n");
  }
}

}  // namespace skewless::ctl
