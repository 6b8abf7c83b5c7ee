// The benches' shared world: simulated cluster contents, daemons as processes, stats.
#include "bench_support.h"

#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "kube_fixtures.h"

namespace skewless::bench {

void Say(const std::string& tag, const std::string& line) {
  std::cerr << "[" << tag << "] " << line << std::endl;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t index =
      std::min(values.size() - 1, static_cast<std::size_t>(q * values.size()));
  return values[index];
}

nlohmann::json Summary(const std::vector<double>& ms) {
  return {{"p50_ms", Percentile(ms, 0.50)},
          {"p99_ms", Percentile(ms, 0.99)},
          {"max_ms", ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end())},
          {"samples", ms.size()}};
}

std::string ServiceName(int i) { return "svc-" + std::to_string(i); }
std::string ClusterOf(int i) { return "bench/" + ServiceName(i) + ":http"; }

std::string PodIp(int service, int endpoint) {
  // 10.x.y.z: up to 65,536 services × 254 endpoints, distinct addresses.
  return "10." + std::to_string((service >> 8) & 255) + "." + std::to_string(service & 255) + "." +
         std::to_string(endpoint + 1);
}

nlohmann::json Slice(int service, int endpoints, int not_ready_endpoint) {
  std::vector<testing::SliceEndpointSpec> specs;
  for (int e = 0; e < endpoints; ++e) {
    testing::SliceEndpointSpec spec{.address = PodIp(service, e),
                                    .node_name = "node-" + std::to_string(e % 3),
                                    .zone = "zone-" + std::to_string(e % 3)};
    if (e == not_ready_endpoint) spec.ready = false, spec.serving = false;
    specs.push_back(spec);
  }
  return testing::MakeEndpointSliceJson("bench", ServiceName(service) + "-abcde",
                                        ServiceName(service), "IPv4",
                                        {{.name = "http", .port = 8080}}, specs);
}

void Populate(testing::FakeApiServer& api, int services, int endpoints) {
  using testing::Resource;
  for (int z = 0; z < 3; ++z) {
    api.Add(Resource::kNodes,
            testing::MakeNodeJson("node-" + std::to_string(z), "zone-" + std::to_string(z)));
  }
  for (int s = 0; s < services; ++s) {
    api.Add(Resource::kServices,
            testing::MakeServiceJson(
                "bench", ServiceName(s),
                {"172.20." + std::to_string(s >> 8) + "." + std::to_string(s & 255)},
                {{.name = "http", .port = 80, .target_port = 8080, .app_protocol = "grpc"}}));
    api.Add(Resource::kEndpointSlices, Slice(s, endpoints, -1));
  }
}

Daemon::Daemon(const std::vector<std::string>& argv, std::string log) : log_(std::move(log)) {
  std::ofstream(log_).close();
  pid_ = fork();
  if (pid_ == 0) {
    const int fd = open(log_.c_str(), O_WRONLY | O_APPEND);
    dup2(fd, 2);
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

Daemon::~Daemon() { Stop(); }

void Daemon::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string Daemon::Log() const {
  std::ifstream in(log_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int Daemon::PortAfter(const std::string& marker) const {
  // (No std::regex: g++ 12 warns inside it under ASan at -O2.)
  const std::string log = Log();
  const std::size_t at = log.find(marker);
  if (at == std::string::npos) return 0;
  return std::atoi(log.c_str() + at + marker.size());
}

bool Daemon::AwaitHttpOk(int port, const std::string& path, std::chrono::seconds limit) const {
  const auto deadline = Clock::now() + limit;
  httplib::Client client("127.0.0.1", port);
  while (Clock::now() < deadline) {
    auto response = client.Get(path);
    if (response && response->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::pair<long, long> Daemon::MemoryKiB() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  long rss = 0, hwm = 0;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss = std::stol(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) hwm = std::stol(line.substr(6));
  }
  return {rss, hwm};
}

std::pair<long, long> Daemon::ResidentSplitKiB() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  long anon = 0, file = 0;
  while (std::getline(in, line)) {
    if (line.rfind("RssAnon:", 0) == 0) anon = std::stol(line.substr(8));
    if (line.rfind("RssFile:", 0) == 0) file = std::stol(line.substr(8));
  }
  return {anon, file};
}

double Daemon::CpuSeconds() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

ControlPlane::ControlPlane(const std::string& binary, const std::string& api_url,
                           const std::string& work_dir, std::vector<std::string> security) {
  const std::string kubeconfig = work_dir + "/kubeconfig";
  std::ofstream(kubeconfig) << "apiVersion: v1\nkind: Config\ncurrent-context: bench\n"
                               "clusters:\n- name: bench\n  cluster:\n    server: "
                            << api_url
                            << "\ncontexts:\n- name: bench\n  context:\n    cluster: bench\n"
                               "    user: bench\nusers:\n- name: bench\n  user: {}\n";
  std::vector<std::string> argv{binary,
                                "--source",
                                "kubernetes",
                                "--kubeconfig",
                                kubeconfig,
                                "--xds-listen",
                                "127.0.0.1:0",
                                "--http-listen",
                                "127.0.0.1:0",
                                "--log-level",
                                "info",
                                "--shutdown-grace",
                                "1"};
  argv.insert(argv.end(), security.begin(), security.end());
  daemon_ = std::make_unique<Daemon>(std::move(argv), work_dir + "/controlplane.log");
}

bool ControlPlane::AwaitReady(std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline && http_port_ == 0) {
    xds_port_ = daemon_->PortAfter("xds=127.0.0.1:");
    http_port_ = daemon_->PortAfter("http=127.0.0.1:");
    if (http_port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (http_port_ == 0) return false;
  return daemon_->AwaitHttpOk(
      http_port_, "/readyz",
      std::chrono::duration_cast<std::chrono::seconds>(deadline - Clock::now()) +
          std::chrono::seconds(1));
}

}  // namespace skewless::bench
