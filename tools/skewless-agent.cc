// skewless-agent: the node agent. Follows the control plane over ADS and keeps the BPF
// steering maps equal to what it serves; `uninstall` removes the data path.
#include <malloc.h>
#include <signal.h>

#include <iostream>
#include <optional>

#include "CLI/CLI.hpp"
#include "skewless/agent/agent.h"
#include "skewless/agent/agent_flags.h"
#include "skewless/agent/kernel_check.h"
#include "skewless/common/cli.h"
#include "skewless/common/log.h"
#include "skewless/common/stop_signals.h"
#include "skewless/datapath/steering.h"

using skewless::kExitBadConfig;
using skewless::kExitCannotRun;
using skewless::kExitOk;

int main(int argc, char** argv) {
  using skewless::agent::AgentConfig;
  namespace log = skewless::log;

  CLI::App app{
      "skewless-agent: the node agent. Attaches the steering programs to the node's cgroup v2\n"
      "root (or adopts the ones a previous agent left pinned), follows the control plane over\n"
      "ADS and writes services, backends, zones and weights into the BPF maps. Killing it\n"
      "leaves the data path steering with the last state; `uninstall` removes it;\n"
      "`kernel-check` says whether this node's kernel can run it.\n"
      "Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 cannot run, 2 bad flags or config."};
  app.require_subcommand(0, 1);
  skewless::agent::AgentFlags flags;
  skewless::agent::BindFlags(app, flags);

  CLI::App* uninstall = app.add_subcommand(
      "uninstall", "Detach every program and remove every pin of the data path, then exit");
  // One --pin-dir for both: CLI11 passes options it does not know on to the parent, so
  // `--pin-dir X uninstall` and `uninstall --pin-dir X` name the same directory.
  uninstall->fallthrough();
  uninstall->footer(
      "--pin-dir DIR (before or after `uninstall`): the bpffs directory of the data path "
      "(default /sys/fs/bpf/skewless)\n");

  CLI::App* kernel_check = app.add_subcommand(
      "kernel-check",
      "Probe this kernel: the BPF features the data path uses (required or optional), and "
      "whether each BPF program passes the verifier (its log when not). Loads programs, "
      "attaches one to a throwaway cgroup of its own for a moment, pins nothing. Exit 0: "
      "the agent can run here; 1: it cannot");
  bool kernel_check_json = false;
  kernel_check->add_flag("--json", kernel_check_json, "The report as JSON");
  kernel_check->fallthrough();  // --cgroup: where the throwaway cgroup is made
  kernel_check->footer(
      "--cgroup DIR (before or after `kernel-check`): the cgroup v2 directory to make the "
      "throwaway probe cgroup in (default: the cgroup2 mount)\n");

  if (std::optional<int> exit_code = skewless::ParseFlags(app, argc, argv, kExitBadConfig)) {
    return *exit_code;
  }

  if (uninstall->parsed()) {
    const std::string target = skewless::agent::FlagsOverDefaults(flags).pin_dir;
    absl::Status removed = skewless::datapath::Steering::UninstallPinned(target);
    if (!removed.ok()) {
      std::cerr << "skewless-agent uninstall: " << removed.message() << "\n";
      return kExitCannotRun;
    }
    std::cout << "skewless data path at " << target << " detached and unpinned\n";
    return kExitOk;
  }

  if (kernel_check->parsed()) {
    return skewless::agent::RunKernelCheck(
        {.cgroup_parent = skewless::agent::FlagsOverDefaults(flags).cgroup,
         .json = kernel_check_json},
        std::cout);
  }

  absl::StatusOr<AgentConfig> applied = skewless::agent::ApplyFlags(flags);
  if (!applied.ok()) {
    std::cerr << "skewless-agent: " << applied.status().message() << "\n";
    return kExitBadConfig;
  }
  const AgentConfig& config = *applied;
  log::Configure(*log::ParseLevel(config.log_level), *log::ParseFormat(config.log_format));

  // The agent runs on every node: a couple of malloc arenas instead of one per thread
  // (gRPC and HTTP workers) keeps freed memory from being stranded across many.
  mallopt(M_ARENA_MAX, 2);
  // Before any thread starts, so only sigwait below takes SIGTERM/SIGINT.
  const sigset_t stop_signals = skewless::BlockStopSignals();
  absl::StatusOr<std::unique_ptr<skewless::agent::Agent>> agent =
      skewless::agent::Agent::Start(config);
  if (!agent.ok()) {
    log::Error("cannot start", {{"error", std::string(agent.status().message())}});
    return kExitCannotRun;
  }
  log::Info("agent running",
            {{"node", config.node_name},
             {"http", config.http_listen.substr(0, config.http_listen.rfind(':') + 1) +
                          std::to_string((*agent)->http_port())}});
  skewless::AwaitStopSignal(stop_signals);
  (*agent)->Shutdown();
  return kExitOk;
}
