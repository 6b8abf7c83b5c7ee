// skewless-connect-bench: what one connect() to a Service costs with no
// hook, with skewless's connect hook, and through kube-proxy's iptables and
// nftables rules, as the number of programmed Services grows.
//
// Everything runs in a network namespace this process creates (a veth
// holds the one backend address; VIPs route to it) and, for the
// hook, a cgroup it creates and a bpffs pin directory of its own. Prints one
// JSON document; bench/run.py turns it into docs/BENCHMARKS.md.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "skewless/common/cgroup.h"
#include "skewless/common/histogram.h"
#include "skewless/datapath/service_table.h"
#include "skewless/datapath/steering.h"
#include "skewless/lab/kube_proxy.h"
#include "skewless/lab/subprocess.h"

namespace {

using skewless::Histogram;
using skewless::lab::RunCommand;
using Clock = std::chrono::steady_clock;

constexpr char kBackendIp[] = "198.18.0.1";
constexpr uint16_t kBackendPort = 8080;
std::atomic<bool> g_stop{false};

// Service i's ClusterIP: 198.19.0.0/16 holds 65,536 of them; past that the
// port changes too, so 100,000 Services stay distinct.
std::pair<std::string, uint16_t> Vip(int i) {
  return {absl::StrCat("198.19.", (i / 256) % 256, ".", i % 256),
          static_cast<uint16_t>(kBackendPort + i / 65536)};
}

std::vector<skewless::lab::ClusterIpService> KubeServices(int n) {
  std::vector<skewless::lab::ClusterIpService> services;
  services.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto [vip, port] = Vip(i);
    services.push_back(
        {absl::StrCat("bench/svc-", i), "p", vip, port, {{kBackendIp, kBackendPort}}});
  }
  return services;
}

std::vector<skewless::datapath::ServiceSpec> SkewlessServices(int n) {
  std::vector<skewless::datapath::ServiceSpec> services;
  services.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto [vip, port] = Vip(i);
    skewless::datapath::ServiceSpec spec;
    spec.name = absl::StrCat("bench/svc-", i);
    spec.vip = vip;
    spec.port = port;
    skewless::datapath::Endpoint endpoint;
    endpoint.address = kBackendIp;
    endpoint.port = kBackendPort;
    spec.endpoints.push_back(endpoint);
    services.push_back(std::move(spec));
  }
  return services;
}

// The bench's own network namespace, entered by this process before any
// thread starts (netns is per thread; threads inherit it at creation).
class BenchNetns {
 public:
  static absl::StatusOr<std::unique_ptr<BenchNetns>> Create() {
    auto ns = std::unique_ptr<BenchNetns>(new BenchNetns("skl-bench-" + std::to_string(getpid())));
    if (auto r = RunCommand({"ip", "netns", "add", ns->name_}); !r.ok()) return r.status();
    ns->created_ = true;
    if (auto r =
            RunCommand({"ip", "-n", ns->name_, "-batch", "-"},
                       absl::StrCat("link set lo up\nlink add bench0 type veth peer name bench1\n",
                                    "addr add ", kBackendIp, "/24 dev bench0\n",
                                    "link set bench0 up\nlink set bench1 up\n",
                                    "route add 198.19.0.0/16 dev bench0\n"));
        !r.ok()) {
      return r.status();
    }
    int fd = open(("/run/netns/" + ns->name_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      return absl::InternalError(absl::StrCat("entering ", ns->name_, ": ", std::strerror(errno)));
    }
    close(fd);
    return ns;
  }
  ~BenchNetns() {
    if (created_) (void)RunCommand({"ip", "netns", "delete", name_});
  }
  const std::string& name() const { return name_; }

 private:
  explicit BenchNetns(std::string name) : name_(std::move(name)) {}
  std::string name_;
  bool created_ = false;
};

// The one backend: accepts and closes, as fast as connects arrive.
class Listener {
 public:
  absl::Status Start() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(kBackendPort);
    inet_pton(AF_INET, kBackendIp, &addr.sin_addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 4096) != 0) {
      return absl::InternalError(
          absl::StrCat("listen on ", kBackendIp, ": ", std::strerror(errno)));
    }
    thread_ = std::thread([this] {
      while (!done_) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) close(c);
      }
    });
    return absl::OkStatus();
  }
  ~Listener() {
    done_ = true;
    if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }

 private:
  int fd_ = -1;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Times `count` connect() calls spread over `targets` (so a linear rule walk
// is measured on average, not at its best or worst). SO_LINGER 0 closes with
// a reset: no TIME_WAIT piles up over hundreds of thousands of connects.
absl::StatusOr<Histogram> TimeConnects(const std::vector<sockaddr_in>& targets, int count) {
  Histogram histogram;
  linger no_linger{1, 0};
  for (int i = 0; i < count && !g_stop; ++i) {
    const sockaddr_in& to = targets[static_cast<size_t>(i) % targets.size()];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto start = Clock::now();
    int rc = connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    auto elapsed = Clock::now() - start;
    int err = errno;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &no_linger, sizeof no_linger);
    close(fd);
    if (rc != 0) {
      char ip[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &to.sin_addr, ip, sizeof ip);
      return absl::UnavailableError(
          absl::StrCat("connect to ", ip, ":", ntohs(to.sin_port), ": ", std::strerror(err)));
    }
    histogram.Record(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
  }
  return histogram;
}

std::vector<sockaddr_in> Targets(int services, bool direct) {
  std::vector<sockaddr_in> targets;
  const int samples = std::min(services, 64);
  for (int s = 0; s < samples; ++s) {
    // Evenly over the programmed range, last Service included.
    int i = samples == 1
                ? 0
                : static_cast<int>(static_cast<long long>(s) * (services - 1) / (samples - 1));
    auto [vip, port] = direct ? std::pair<std::string, uint16_t>{kBackendIp, kBackendPort} : Vip(i);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    inet_pton(AF_INET, vip.c_str(), &to.sin_addr);
    targets.push_back(to);
  }
  return targets;
}

nlohmann::json Row(const std::string& mode, int services, double program_s, const Histogram& h) {
  return {{"mode", mode},
          {"services", services},
          {"program_s", program_s},
          {"connects", h.count()},
          {"p50_us", h.PercentileNs(50) / 1e3},
          {"p90_us", h.PercentileNs(90) / 1e3},
          {"p99_us", h.PercentileNs(99) / 1e3},
          {"mean_us", h.mean_ns() / 1e3}};
}

// Moves this whole process into `cgroup` (and back, for teardown).
absl::Status MoveSelf(const std::string& cgroup) { return skewless::JoinCgroup(cgroup, getpid()); }

std::string OwnCgroup(const std::string& mount) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return mount + line.substr(3);
  }
  return mount;
}

// Programming time grows superlinearly for iptables-restore (10,000 Services
// took ~20 s here, 100,000 would take over half an hour). Predict the next
// count from the growth seen so far and skip what would blow the budget.
class ProgramBudget {
 public:
  explicit ProgramBudget(double budget_s) : budget_s_(budget_s) {}
  // Predicted seconds to program `n`, or 0 when nothing is known yet.
  double Predict(int n) const {
    if (seen_.empty()) return 0;
    auto [n2, t2] = seen_.back();
    double exponent = 1.0;
    if (seen_.size() >= 2) {
      auto [n1, t1] = seen_[seen_.size() - 2];
      if (t1 > 0.05 && t2 > t1 && n2 > n1) {
        exponent = std::log(t2 / t1) / std::log(static_cast<double>(n2) / n1);
      }
    }
    return t2 * std::pow(static_cast<double>(n) / n2, exponent);
  }
  bool Allows(int n) const { return Predict(n) <= budget_s_; }
  void Record(int n, double seconds) { seen_.emplace_back(n, seconds); }
  void Reset() { seen_.clear(); }
  double budget_s() const { return budget_s_; }

 private:
  double budget_s_;
  std::vector<std::pair<int, double>> seen_;
};

nlohmann::json Skipped(const std::string& mode, int services, double predicted_s, double budget_s) {
  return {{"mode", mode},
          {"services", services},
          {"skipped", absl::StrCat("programming predicted to take ", static_cast<int>(predicted_s),
                                   " s, over the ", static_cast<int>(budget_s),
                                   " s budget (--program-budget)")}};
}

int Fail(const absl::Status& status) {
  std::cerr << "skewless-connect-bench: " << status.message() << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "skewless-connect-bench: time connect() to a Service VIP with no hook, with skewless's\n"
      "cgroup connect hook, and through kube-proxy's iptables and nftables rules, with 1 to\n"
      "100,000 Services programmed. Root; uses its own netns, cgroup and bpffs directory.\n"
      "Prints JSON. Exit: 0 ok, 1 a measurement failed, 2 bad flags."};
  std::string counts_text = "1,1000,10000,100000";
  std::string modes_text = "none,skewless,iptables,nftables";
  int connects = 3000;
  double program_budget_s = 180;
  app.add_option("--services", counts_text, "Comma-separated Service counts to program")
      ->capture_default_str();
  app.add_option("--modes", modes_text, "Comma-separated: none, skewless, iptables, nftables")
      ->capture_default_str();
  app.add_option("--connects", connects, "Timed connect() calls per measurement")
      ->check(CLI::Range(10, 10'000'000))
      ->capture_default_str();
  app.add_option("--program-budget", program_budget_s,
                 "Skip a Service count whose programming is predicted (from the growth seen "
                 "at smaller counts) to take longer than this many seconds")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  ProgramBudget budget(program_budget_s);
  std::vector<int> counts;
  for (auto part : absl::StrSplit(counts_text, ',', absl::SkipEmpty())) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n) || n < 1 || n > SKW_MAX_SERVICES) {
      std::cerr << "--services: '" << part << "' is not a count in [1, " << SKW_MAX_SERVICES
                << "]\n";
      return 2;
    }
    counts.push_back(n);
  }
  std::vector<std::string> modes = absl::StrSplit(modes_text, ',', absl::SkipEmpty());
  for (const auto& mode : modes) {
    if (mode != "none" && mode != "skewless" && mode != "iptables" && mode != "nftables") {
      std::cerr << "--modes: unknown mode '" << mode << "'\n";
      return 2;
    }
  }
  if (geteuid() != 0) return Fail(absl::PermissionDeniedError("needs root"));
  signal(SIGINT, [](int) { g_stop = true; });
  signal(SIGTERM, [](int) { g_stop = true; });

  auto netns = BenchNetns::Create();
  if (!netns.ok()) return Fail(netns.status());
  Listener listener;
  if (auto status = listener.Start(); !status.ok()) return Fail(status);
  const int warmup = std::max(connects / 10, 10);
  nlohmann::json rows = nlohmann::json::array();
  auto progress = [](const std::string& line) {
    std::cerr << "[connect-bench] " << line << std::endl;
  };

  for (const auto& mode : modes) {
    if (g_stop) break;
    if (mode == "none") {
      progress("no hook, direct to the backend");
      auto targets = Targets(1, /*direct=*/true);
      (void)TimeConnects(targets, warmup);
      auto h = TimeConnects(targets, connects);
      if (!h.ok()) return Fail(h.status());
      rows.push_back(Row("none", 0, 0, *h));
      continue;
    }
    budget.Reset();
    if (mode == "iptables" || mode == "nftables") {
      for (int n : counts) {
        if (g_stop) break;
        if (!budget.Allows(n)) {
          progress(absl::StrCat(mode, ": skipping ", n, " Services (predicted ",
                                static_cast<int>(budget.Predict(n)), " s to program)"));
          rows.push_back(Skipped(mode, n, budget.Predict(n), budget.budget_s()));
          continue;
        }
        progress(absl::StrCat(mode, ": programming ", n, " Services"));
        // Start from empty tables every time: only this namespace's.
        (void)RunCommand({"iptables", "-t", "nat", "-F"});
        (void)RunCommand({"iptables", "-t", "nat", "-X"});
        (void)RunCommand({"nft", "flush", "ruleset"});
        auto start = Clock::now();
        auto services = KubeServices(n);
        auto rules = mode == "iptables" ? skewless::lab::RenderIptables(services)
                                        : skewless::lab::RenderNftables(services);
        auto applied = mode == "iptables" ? RunCommand({"iptables-restore", "--noflush"}, rules)
                                          : RunCommand({"nft", "-f", "-"}, rules);
        if (!applied.ok()) return Fail(applied.status());
        double program_s = std::chrono::duration<double>(Clock::now() - start).count();
        budget.Record(n, program_s);
        progress(absl::StrCat(mode, ": ", n, " Services programmed in ", program_s, " s; timing"));
        auto targets = Targets(n, false);
        (void)TimeConnects(targets, warmup);
        auto h = TimeConnects(targets, connects);
        if (!h.ok()) return Fail(h.status());
        rows.push_back(Row(mode, n, program_s, *h));
      }
      (void)RunCommand({"iptables", "-t", "nat", "-F"});
      (void)RunCommand({"iptables", "-t", "nat", "-X"});
      (void)RunCommand({"nft", "flush", "ruleset"});
      continue;
    }
    // skewless: the hook on a cgroup of our own, holding this process.
    auto mount = skewless::FindCgroup2Mount();
    if (!mount.ok()) return Fail(mount.status());
    const std::string home = OwnCgroup(*mount);
    auto cgroup = skewless::OwnedCgroup::Create(absl::StrCat(*mount, "/skewless-bench-", getpid()));
    if (!cgroup.ok()) return Fail(cgroup.status());
    // A bpffs instance of our own: nothing is pinned in the host's /sys/fs/bpf.
    const std::string bpffs = absl::StrCat("/run/skewless-bench-", getpid(), "-bpffs");
    std::filesystem::create_directories(bpffs);
    if (auto r = RunCommand({"mount", "-t", "bpf", "skewless-bench", bpffs}); !r.ok()) {
      return Fail(r.status());
    }
    auto unmount = [&bpffs] {
      (void)RunCommand({"umount", bpffs});
      std::error_code ec;
      std::filesystem::remove(bpffs, ec);
    };
    skewless::datapath::SteeringOptions options;
    options.cgroup_path = cgroup->path();
    options.pin_dir = bpffs + "/steer";
    auto steering = skewless::datapath::Steering::Start(options);
    if (!steering.ok()) {
      unmount();
      return Fail(steering.status());
    }
    if (auto status = MoveSelf(cgroup->path()); !status.ok()) return Fail(status);
    skewless::datapath::ServiceTable table((*steering)->maps());
    absl::Status failure;
    for (int n : counts) {
      if (g_stop) break;
      if (!budget.Allows(n)) {
        progress(absl::StrCat("skewless: skipping ", n, " Services (predicted ",
                              static_cast<int>(budget.Predict(n)), " s to program)"));
        rows.push_back(Skipped("skewless", n, budget.Predict(n), budget.budget_s()));
        continue;
      }
      progress(absl::StrCat("skewless: programming ", n, " Services"));
      auto start = Clock::now();
      if (auto status = table.Apply(SkewlessServices(n)); !status.ok()) {
        failure = status;
        break;
      }
      double program_s = std::chrono::duration<double>(Clock::now() - start).count();
      budget.Record(n, program_s);
      progress(absl::StrCat("skewless: ", n, " Services programmed in ", program_s, " s; timing"));
      auto targets = Targets(n, false);
      (void)TimeConnects(targets, warmup);
      auto h = TimeConnects(targets, connects);
      if (!h.ok()) {
        failure = h.status();
        break;
      }
      rows.push_back(Row("skewless", n, program_s, *h));
    }
    (void)MoveSelf(home);
    if (auto status = (*steering)->Uninstall(); !status.ok()) failure.Update(status);
    unmount();
    if (!failure.ok()) return Fail(failure);
  }
  // The floor again, last: a machine that got busier (or quieter) during the
  // run shows up as two different floors instead of skewing every ratio.
  if (!g_stop && std::find(modes.begin(), modes.end(), "none") != modes.end() && modes.size() > 1) {
    progress("no hook again, direct to the backend");
    auto targets = Targets(1, /*direct=*/true);
    auto h = TimeConnects(targets, connects);
    if (!h.ok()) return Fail(h.status());
    rows.push_back(Row("none", 0, 0, *h));
  }
  std::cout << nlohmann::json{{"backend", kBackendIp}, {"connects", connects}, {"rows", rows}}.dump(
                   2)
            << std::endl;
  return g_stop ? 3 : 0;
}
