// Shared by the benches that run skewless daemons as real processes against the
// simulated Kubernetes API (tests/support): the simulated cluster's contents, the
// daemons as child processes (ports, memory, CPU), and summary statistics.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fake_apiserver.h"
#include "nlohmann/json.hpp"

namespace skewless::bench {

using Clock = std::chrono::steady_clock;

void Say(const std::string& tag, const std::string& line);  // progress, on stderr

double Ms(Clock::duration d);
double Percentile(std::vector<double> values, double q);
// {p50_ms, p99_ms, max_ms, samples}
nlohmann::json Summary(const std::vector<double>& ms);

// The simulated cluster: Services "svc-<i>" in namespace "bench" with one port "http"
// (80 → 8080, appProtocol grpc), ClusterIP 172.20.x.y, one EndpointSlice each with
// `endpoints` pods 10.x.y.z over three zones and nodes.
std::string ServiceName(int i);
std::string ClusterOf(int i);  // "bench/svc-<i>:http"
// Endpoint `endpoint` of Service `service`: 10.x.y.z (port 8080, zone-<endpoint % 3>).
std::string PodIp(int service, int endpoint);
nlohmann::json Slice(int service, int endpoints, int not_ready_endpoint);
void Populate(testing::FakeApiServer& api, int services, int endpoints);

// A daemon as a child process, its stderr in `log`. Stopped (SIGTERM, reaped) on
// destruction.
class Daemon {
 public:
  Daemon(const std::vector<std::string>& argv, std::string log);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }
  std::string Log() const;
  // The number after `marker` in the log ("http=127.0.0.1:"), 0 until it is there.
  int PortAfter(const std::string& marker) const;
  // Polls GET `path` on 127.0.0.1:`port` until 200.
  bool AwaitHttpOk(int port, const std::string& path, std::chrono::seconds limit) const;
  // kB from /proc/<pid>/status: resident now and the peak.
  std::pair<long, long> MemoryKiB() const;
  // kB of the resident set that is anonymous (the process's own heap and stacks) and
  // file-backed (mostly shared libraries' pages), from /proc/<pid>/status.
  std::pair<long, long> ResidentSplitKiB() const;
  // user + system CPU seconds so far, from /proc/<pid>/stat.
  double CpuSeconds() const;
  void Stop();

 private:
  std::string log_;
  pid_t pid_ = -1;
};

// skewless-controlplane watching the simulated API at `api_url` (a kubeconfig is written
// into `work_dir`); waits until it is ready.
class ControlPlane {
 public:
  // `security`: the flags saying how ADS is served (plaintext, or TLS certificate files).
  ControlPlane(const std::string& binary, const std::string& api_url, const std::string& work_dir,
               std::vector<std::string> security = {"--plaintext"});
  bool AwaitReady(std::chrono::seconds limit);
  int xds_port() const { return xds_port_; }
  int http_port() const { return http_port_; }
  Daemon& daemon() { return *daemon_; }

 private:
  std::unique_ptr<Daemon> daemon_;
  int xds_port_ = 0;
  int http_port_ = 0;
};

}  // namespace skewless::bench
