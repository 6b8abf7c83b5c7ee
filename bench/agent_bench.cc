// skewless-agent-bench: the node agent's cost as a real process: memory and CPU at a
// given cluster size, the time to its first complete state, and the apply latency from
// an EndpointSlice event (simulated Kubernetes API → skewless-controlplane → delta ADS)
// to the agent's BPF map write; and the resident memory of the same agent idle over TLS
// (OpenSSL) instead of plaintext, against a control plane serving TLS. Needs root: it attaches the
// data path to a cgroup of its own (skewless-bench-<pid>-<run>, empty: nothing is steered) with
// pins on a bpffs of its own, and removes both on exit, on error and on Ctrl-C. Prints one JSON
// object.
#include <httplib.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "bench_support.h"
#include "nlohmann/json.hpp"
#include "skewless/common/cgroup.h"
#include "test_pki.h"

namespace {

using skewless::bench::Clock;
using skewless::bench::Daemon;
using skewless::bench::Ms;
using skewless::bench::Summary;
using skewless::testing::Resource;

std::atomic<bool> interrupted{false};

void Say(const std::string& line) { skewless::bench::Say("agent-bench", line); }

void CheckInterrupted() {
  if (interrupted) throw std::runtime_error("interrupted");
}

// The value of one series in a Prometheus text page (0 when absent).
double Metric(const std::string& page, const std::string& series) {
  std::istringstream lines(page);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return 0;
}

// What the bench creates, removed in reverse on destruction whatever happened.
class Sandbox {
 public:
  Sandbox(const std::string& work_dir, const std::string& run) {
    bpffs_ = work_dir + "/bpffs-" + run;
    std::filesystem::create_directories(bpffs_);
    if (mount("skewless-bench", bpffs_.c_str(), "bpf", 0, nullptr) != 0) {
      throw std::runtime_error("mount -t bpf " + bpffs_ + ": " + std::strerror(errno));
    }
    mounted_ = true;
    auto root = skewless::FindCgroup2Mount();
    if (!root.ok()) throw std::runtime_error(std::string(root.status().message()));
    auto cgroup = skewless::OwnedCgroup::Create(*root + "/skewless-bench-" +
                                                std::to_string(getpid()) + "-" + run);
    if (!cgroup.ok()) throw std::runtime_error(std::string(cgroup.status().message()));
    cgroup_ = std::make_unique<skewless::OwnedCgroup>(*std::move(cgroup));
  }
  ~Sandbox() {
    if (!agent_binary_.empty()) {
      const std::string command =
          agent_binary_ + " uninstall --pin-dir " + pin_dir() + " >/dev/null 2>&1";
      if (std::system(command.c_str()) != 0) Say("uninstall failed; unmounting anyway");
    }
    cgroup_.reset();
    if (mounted_) umount2(bpffs_.c_str(), MNT_DETACH);
  }
  void WillUninstallWith(const std::string& agent_binary) { agent_binary_ = agent_binary; }
  std::string pin_dir() const { return bpffs_ + "/agent"; }
  std::string cgroup() const { return cgroup_->path(); }

 private:
  std::string bpffs_;
  bool mounted_ = false;
  std::unique_ptr<skewless::OwnedCgroup> cgroup_;
  std::string agent_binary_;
};

struct Options {
  std::string controlplane;
  std::string agent;
  int services = 1000;
  int endpoints = 10;
  int changes = 50;
  double idle_seconds = 10;
};

// Starts the agent on `sandbox` against the control plane at `xds_port`, speaking as
// `security` says, and waits for its readiness (a first complete state in its maps).
std::unique_ptr<Daemon> StartAgent(const Options& options, const Sandbox& sandbox, int xds_port,
                                   const std::vector<std::string>& security, const std::string& log,
                                   int* http_port) {
  std::vector<std::string> argv{options.agent,
                                "--node-name",
                                "node-0",
                                "--xds-server",
                                "127.0.0.1:" + std::to_string(xds_port),
                                "--cgroup",
                                sandbox.cgroup(),
                                "--pin-dir",
                                sandbox.pin_dir(),
                                "--http-listen",
                                "127.0.0.1:0"};
  argv.insert(argv.end(), security.begin(), security.end());
  auto agent = std::make_unique<Daemon>(std::move(argv), log);
  const auto start = Clock::now();
  *http_port = 0;
  while (*http_port == 0 && Clock::now() - start < std::chrono::seconds(30)) {
    CheckInterrupted();
    *http_port = agent->PortAfter("http=127.0.0.1:");
    if (*http_port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (*http_port == 0 || !agent->AwaitHttpOk(*http_port, "/readyz", std::chrono::seconds(120))) {
    throw std::runtime_error("agent not ready: " + agent->Log());
  }
  return agent;
}

void Idle(double seconds) {
  const auto idle_start = Clock::now();
  while (Clock::now() - idle_start < std::chrono::duration<double>(seconds)) {
    CheckInterrupted();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// The same agent idle over TLS: a second control plane serving a certificate of a
// throwaway CA, the agent verifying it (its IP SAN) against that CA's bundle.
void MeasureTls(const Options& options, const std::string& api_url, const std::string& work_dir,
                nlohmann::json& out) {
  const std::string dir = work_dir + "/tls";
  std::filesystem::create_directories(dir);
  absl::StatusOr<skewless::testing::TestPki> pki = skewless::testing::MakeTestPki();
  if (!pki.ok()) throw std::runtime_error(std::string(pki.status().message()));
  std::ofstream(dir + "/tls.crt") << pki->server_cert_pem;
  std::ofstream(dir + "/tls.key") << pki->server_key_pem;
  std::ofstream(dir + "/ca.crt") << pki->ca_cert_pem;
  Sandbox sandbox(work_dir, "tls");
  skewless::bench::ControlPlane cp(
      options.controlplane, api_url, dir,
      {"--tls-cert-file", dir + "/tls.crt", "--tls-key-file", dir + "/tls.key"});
  if (!cp.AwaitReady(std::chrono::seconds(120))) {
    throw std::runtime_error("TLS control plane not ready: " + cp.daemon().Log());
  }
  sandbox.WillUninstallWith(options.agent);
  Say("the same agent over TLS; idle for " + std::to_string(options.idle_seconds) + " s");
  int http_port = 0;
  std::unique_ptr<Daemon> agent =
      StartAgent(options, sandbox, cp.xds_port(), {"--controlplane-ca-file", dir + "/ca.crt"},
                 dir + "/agent.log", &http_port);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  Idle(options.idle_seconds);
  out["rss_idle_tls_kib"] = agent->MemoryKiB().first;
  const auto [anon, file] = agent->ResidentSplitKiB();
  out["rss_idle_tls_anon_kib"] = anon;
  out["rss_idle_tls_file_kib"] = file;
  agent->Stop();
}

nlohmann::json Run(const Options& options) {
  const std::string work_dir = "/tmp/skewless-agent-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(work_dir);
  // Removed on every way out (KEEP=1 keeps it, logs included, for a look).
  struct RemoveDir {
    std::string path;
    ~RemoveDir() {
      if (!getenv("KEEP")) std::filesystem::remove_all(path);
    }
  } remove_work_dir{work_dir};
  nlohmann::json out = {{"services", options.services},
                        {"endpoints", options.services * options.endpoints}};
  {
    Sandbox sandbox(work_dir, "plaintext");
    auto api = skewless::testing::FakeApiServer::Start();
    if (!api.ok()) throw std::runtime_error(std::string(api.status().message()));
    Say("simulated API: " + std::to_string(options.services) + " services x " +
        std::to_string(options.endpoints) + " endpoints");
    skewless::bench::Populate(**api, options.services, options.endpoints);
    skewless::bench::ControlPlane cp(options.controlplane, (*api)->url(), work_dir);
    if (!cp.AwaitReady(std::chrono::seconds(120)))
      throw std::runtime_error("control plane not ready");

    sandbox.WillUninstallWith(options.agent);
    const auto start = Clock::now();
    int http_port = 0;
    std::unique_ptr<Daemon> started = StartAgent(options, sandbox, cp.xds_port(), {"--plaintext"},
                                                 work_dir + "/agent.log", &http_port);
    Daemon& agent = *started;
    out["sync_ms"] = Ms(Clock::now() - start);
    Say("agent ready; idle for " + std::to_string(options.idle_seconds) + " s");

    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double idle_cpu_before = agent.CpuSeconds();
    const auto idle_start = Clock::now();
    Idle(options.idle_seconds);
    out["cpu_idle_percent"] = 100 * (agent.CpuSeconds() - idle_cpu_before) /
                              std::chrono::duration<double>(Clock::now() - idle_start).count();
    out["rss_idle_kib"] = agent.MemoryKiB().first;
    const auto [anon, file] = agent.ResidentSplitKiB();
    out["rss_idle_anon_kib"] = anon;
    out["rss_idle_file_kib"] = file;

    // Apply latency: one endpoint of one Service flips ready per change; timed until the
    // agent has swapped that Service's set in its maps.
    Say("timing " + std::to_string(options.changes) + " EndpointSlice changes");
    httplib::Client client("127.0.0.1", http_port);
    const std::string swaps = "skewless_agent_map_operations_total{op=\"set_swap\"}";
    auto page = [&] {
      auto response = client.Get("/metrics");
      if (!response || response->status != 200) throw std::runtime_error("agent /metrics failed");
      return response->body;
    };
    const std::string before_page = page();
    const double apply_sum_before = Metric(before_page, "skewless_agent_apply_latency_seconds_sum");
    const double apply_count_before =
        Metric(before_page, "skewless_agent_apply_latency_seconds_count");
    std::vector<double> latencies;
    const double churn_cpu_before = agent.CpuSeconds();
    const auto churn_start = Clock::now();
    for (int k = 0; k < options.changes; ++k) {
      CheckInterrupted();
      const double swapped = Metric(page(), swaps);
      const auto t0 = Clock::now();
      (*api)->Modify(
          Resource::kEndpointSlices,
          skewless::bench::Slice(k % options.services, options.endpoints, k % options.endpoints));
      while (Metric(page(), swaps) <= swapped) {
        if (Clock::now() - t0 > std::chrono::seconds(10)) {
          throw std::runtime_error("a change was not applied within 10 s: " + agent.Log());
        }
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
      latencies.push_back(Ms(Clock::now() - t0));
      // Back to ready, unmeasured, so each Service returns to its full set.
      (*api)->Modify(Resource::kEndpointSlices,
                     skewless::bench::Slice(k % options.services, options.endpoints, -1));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const double churn_seconds = std::chrono::duration<double>(Clock::now() - churn_start).count();
    out["cpu_churn_percent"] = 100 * (agent.CpuSeconds() - churn_cpu_before) / churn_seconds;
    out["changes_per_second"] = 2 * options.changes / churn_seconds;
    out["apply"] = Summary(latencies);
    const std::string after_page = page();
    const double responses =
        Metric(after_page, "skewless_agent_apply_latency_seconds_count") - apply_count_before;
    out["agent_apply_mean_ms"] =
        responses > 0 ? 1000 *
                            (Metric(after_page, "skewless_agent_apply_latency_seconds_sum") -
                             apply_sum_before) /
                            responses
                      : 0;
    const auto [rss, hwm] = agent.MemoryKiB();
    out["rss_after_kib"] = rss;
    out["hwm_kib"] = hwm;
    out["controlplane_rss_kib"] = cp.daemon().MemoryKiB().first;
    agent.Stop();
    MeasureTls(options, (*api)->url(), work_dir, out);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "skewless-agent-bench: the node agent's memory, CPU, first-sync time and apply latency "
      "against skewless-controlplane on a simulated Kubernetes API. Needs root (it attaches the "
      "data path to an empty cgroup of its own). Prints JSON."};
  Options options;
  app.add_option("--controlplane", options.controlplane, "Path to skewless-controlplane")
      ->required();
  app.add_option("--agent", options.agent, "Path to skewless-agent")->required();
  app.add_option("--services", options.services, "Services (one port each)")->capture_default_str();
  app.add_option("--endpoints", options.endpoints, "Endpoints per Service (<= 254)")
      ->capture_default_str()
      ->check(CLI::Range(1, 254));
  app.add_option("--changes", options.changes, "EndpointSlice changes timed for apply latency")
      ->capture_default_str();
  app.add_option("--idle-seconds", options.idle_seconds, "How long idle CPU is measured")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (geteuid() != 0) {
    std::cerr << "skewless-agent-bench: needs root (BPF programs, a cgroup, a bpffs mount)\n";
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  // Ctrl-C and SIGTERM end the run through the normal cleanup path.
  struct sigaction stop {};
  stop.sa_handler = [](int) { interrupted = true; };
  sigaction(SIGINT, &stop, nullptr);
  sigaction(SIGTERM, &stop, nullptr);
  try {
    std::cout << Run(options).dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "skewless-agent-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
