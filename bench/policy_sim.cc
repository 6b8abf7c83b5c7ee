// skewless-policy-sim: how evenly long-lived connections from many nodes land on a
// Service's pods under each connect-time policy, with the cluster-wide load arriving as
// it does in the product: every node reports its own counts over LRS at an interval,
// the control plane publishes the sums at another, and a node's view of every other
// node's connections is as old as those two make it. Each node's choice is select.h's
// skw_select itself, fed by a userspace env; only the clock and the network are
// simulated. Prints one JSON document; bench/run.py turns it into docs/BENCHMARKS.md.
#include <linux/types.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <map>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "skewless/abi.h"

namespace {

// What one simulated node's connect hook reads.
struct NodeEnv {
  std::vector<__u32> slots;           // [0] the header; backend id = pod index + 1
  std::vector<skw_backend> backends;  // by pod index
  std::vector<__u64> own;             // this node's open connections, exact
  std::vector<__u64> cluster;         // every other node's, as last published
  std::vector<bool> up;               // the pod is serving
  std::mt19937* prng = nullptr;
  __u64 now_ns = 0;
};

}  // namespace

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

static __always_inline const struct skw_backend* skw_env_backend(void* env, __u32 backend_id) {
  auto* e = static_cast<NodeEnv*>(env);
  if (backend_id == 0 || backend_id > e->backends.size() || !e->up[backend_id - 1]) return nullptr;
  return &e->backends[backend_id - 1];
}

static __always_inline __u64 skw_env_active(void* env, __u32 backend_id) {
  auto* e = static_cast<NodeEnv*>(env);
  return e->own[backend_id - 1] + e->cluster[backend_id - 1];
}

static __always_inline __u32 skw_env_slot(void* env, __u32 index) {
  auto* e = static_cast<NodeEnv*>(env);
  return index < e->slots.size() ? e->slots[index] : 0;
}

static __always_inline __u32 skw_env_random(void* env) {
  return static_cast<__u32>((*static_cast<NodeEnv*>(env)->prng)());
}

static __always_inline __u64 skw_env_now_ns(void* env) {
  return static_cast<NodeEnv*>(env)->now_ns;
}

#include "skewless/select.h"

namespace {

constexpr std::int64_t kMs = 1'000'000;  // ns

struct Policy {
  std::string name;
  std::uint8_t lb_policy;
  bool cluster_wide;  // the node sees the others' load, or only its own
};

struct Params {
  int nodes = 12;
  int clients_per_node = 1;
  int pods = 6;
  int rounds = 20;
  std::int64_t report_interval_ms = 2000;   // the agents' LRS interval
  std::int64_t publish_interval_ms = 1000;  // the control plane's ClusterLoad rate limit
  // An agent whose counts changed reports this soon after its previous report instead of
  // waiting for the interval (0 = at the interval only).
  std::int64_t report_on_change_ms = 0;
  std::int64_t slow_start_ms = 0;  // the Service's slow-start window
};

// One client's connection: which node holds it and which pod it went to.
struct Connection {
  int node;
  int pod = -1;
};

class Cluster {
 public:
  Cluster(const Params& params, const Policy& policy, std::uint32_t seed)
      : params_(params), policy_(policy), prng_(seed), reported_(params.nodes) {
    for (int n = 0; n < params.nodes; ++n) {
      NodeEnv env;
      env.slots.push_back(0);
      for (int p = 0; p < params.pods; ++p) {
        env.slots.push_back(static_cast<__u32>(p + 1));
        skw_backend backend{};
        backend.state = SKW_BACKEND_READY;
        backend.weight = SKW_DEFAULT_WEIGHT;
        env.backends.push_back(backend);
      }
      env.own.assign(params.pods, 0);
      env.cluster.assign(params.pods, 0);
      env.up.assign(params.pods, true);
      env.prng = &prng_;
      nodes_.push_back(std::move(env));
      reported_[n].assign(params.pods, 0);
      report_phase_ms_.push_back(
          std::uniform_int_distribution<std::int64_t>(0, params.report_interval_ms - 1)(prng_));
    }
    service_.service_id = 1;
    service_.lb_policy = policy.lb_policy;
    service_.slow_start_window_ms = static_cast<__u32>(params.slow_start_ms);
  }

  // Runs the reports and publishes due up to `t_ms`, in time order.
  void AdvanceTo(std::int64_t t_ms) {
    while (true) {
      std::int64_t next_publish =
          (last_publish_ms_ / params_.publish_interval_ms + 1) * params_.publish_interval_ms;
      int report_node = -1;
      std::int64_t next_report = INT64_MAX;
      for (int n = 0; n < params_.nodes; ++n) {
        const std::int64_t due = NextReport(n);
        if (due < next_report) {
          next_report = due;
          report_node = n;
        }
      }
      const std::int64_t next = std::min(next_publish, next_report);
      if (next > t_ms) break;
      if (next_report <= next_publish) {
        reported_[report_node] = nodes_[report_node].own;
        last_report_ms_[report_node] = next_report;
        changed_[report_node] = false;
      } else {
        Publish();
        last_publish_ms_ = next_publish;
      }
    }
    now_ms_ = t_ms;
  }

  // A client on `node` connects; returns the pod.
  int Connect(int node) {
    NodeEnv& env = nodes_[node];
    env.now_ns = static_cast<__u64>(now_ms_ * kMs + 1'000'000'000'000);
    skw_slot header{};
    header.n_ready = static_cast<__u16>(params_.pods);
    skw_node_config config{};
    skw_choice choice{};
    if (skw_select(&env, &service_, &header, &config, &choice) != 0) return -1;
    const int pod = static_cast<int>(choice.backend_id) - 1;
    ++env.own[pod];
    Changed(node);
    return pod;
  }

  void Close(int node, int pod) {
    if (pod >= 0 && nodes_[node].own[pod] > 0) --nodes_[node].own[pod];
    Changed(node);
  }

  // The pod stops serving (its connections are the caller's to close) or comes back,
  // ready now (slow start counts from here).
  void SetPodUp(int pod, bool up) {
    for (NodeEnv& env : nodes_) {
      env.up[pod] = up;
      env.backends[pod].ready_since_ns =
          up ? static_cast<__u64>(now_ms_ * kMs + 1'000'000'000'000) : 0;
    }
  }

  std::vector<std::uint64_t> PerPod() const {
    std::vector<std::uint64_t> total(params_.pods, 0);
    for (const NodeEnv& env : nodes_) {
      for (int p = 0; p < params_.pods; ++p) total[p] += env.own[p];
    }
    return total;
  }

  std::mt19937& prng() { return prng_; }

 private:
  std::int64_t NextReport(int n) const {
    auto it = last_report_ms_.find(n);
    std::int64_t due =
        it == last_report_ms_.end() ? report_phase_ms_[n] : it->second + params_.report_interval_ms;
    if (changed_[n]) {
      const std::int64_t soon = it == last_report_ms_.end()
                                    ? now_ms_
                                    : std::max(now_ms_, it->second + params_.report_on_change_ms);
      due = std::min(due, soon);
    }
    return due;
  }

  void Changed(int node) {
    if (params_.report_on_change_ms > 0) changed_[node] = true;
  }

  // The control plane's sums reach every agent, which takes its own last report out.
  void Publish() {
    if (!policy_.cluster_wide) return;
    std::vector<__u64> sum(params_.pods, 0);
    for (const auto& report : reported_) {
      for (int p = 0; p < params_.pods; ++p) sum[p] += report[p];
    }
    for (int n = 0; n < params_.nodes; ++n) {
      for (int p = 0; p < params_.pods; ++p) {
        nodes_[n].cluster[p] = sum[p] > reported_[n][p] ? sum[p] - reported_[n][p] : 0;
      }
    }
  }

  Params params_;
  Policy policy_;
  std::mt19937 prng_;
  skw_service service_{};
  std::vector<NodeEnv> nodes_;
  std::vector<std::vector<__u64>> reported_;
  std::vector<std::int64_t> report_phase_ms_;
  std::map<int, std::int64_t> last_report_ms_;
  std::vector<bool> changed_ = std::vector<bool>(params_.nodes, false);
  std::int64_t last_publish_ms_ = 0;
  std::int64_t now_ms_ = 0;
};

double MaxOverMean(const std::vector<std::uint64_t>& per_pod, const std::vector<bool>& counted) {
  std::uint64_t most = 0, sum = 0;
  int n = 0;
  for (std::size_t p = 0; p < per_pod.size(); ++p) {
    if (!counted[p]) continue;
    most = std::max(most, per_pod[p]);
    sum += per_pod[p];
    ++n;
  }
  return sum == 0 ? 1.0 : static_cast<double>(most) * n / static_cast<double>(sum);
}

struct Event {
  std::int64_t t_ms;
  int client;
  bool operator>(const Event& other) const { return t_ms > other.t_ms; }
};

// Every client connects once, at a uniform time in [0, spread_ms); the spread after the
// last one.
double Fill(const Params& params, const Policy& policy, std::uint32_t seed,
            std::int64_t spread_ms) {
  Cluster cluster(params, policy, seed);
  std::vector<std::pair<std::int64_t, int>> starts;
  for (int n = 0; n < params.nodes; ++n) {
    for (int c = 0; c < params.clients_per_node; ++c) {
      starts.push_back(
          {std::uniform_int_distribution<std::int64_t>(0, spread_ms - 1)(cluster.prng()), n});
    }
  }
  std::sort(starts.begin(), starts.end());
  for (const auto& [t, node] : starts) {
    cluster.AdvanceTo(t);
    cluster.Connect(node);
  }
  return MaxOverMean(cluster.PerPod(), std::vector<bool>(params.pods, true));
}

struct ChurnResult {
  double mean_max_over_mean;  // sampled every second after the pod's return
  double peak_share;          // the returning pod's peak / the fair share
};

// Clients reconnect every max_age_ms (±10%, as gRPC's MaxConnectionAge jitter). At
// 60 s pod 0 dies (its clients reconnect at once), at 62 s it returns; measured from
// then to 180 s.
ChurnResult Churn(const Params& params, const Policy& policy, std::uint32_t seed,
                  std::int64_t max_age_ms) {
  Cluster cluster(params, policy, seed);
  std::vector<Connection> connections;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events;
  auto age = [&] {
    return std::uniform_int_distribution<std::int64_t>(max_age_ms * 9 / 10,
                                                       max_age_ms * 11 / 10)(cluster.prng());
  };
  for (int n = 0; n < params.nodes; ++n) {
    for (int c = 0; c < params.clients_per_node; ++c) {
      connections.push_back({n});
      events.push({std::uniform_int_distribution<std::int64_t>(0, 4999)(cluster.prng()),
                   static_cast<int>(connections.size() - 1)});
    }
  }
  constexpr std::int64_t kDies = 60'000, kReturns = 62'000, kEnd = 180'000;
  bool died = false, returned = false;
  std::int64_t next_sample = kReturns + 1000;
  double sum_ratio = 0;
  int samples = 0;
  std::uint64_t peak = 0;
  std::vector<bool> all(params.pods, true);
  const double fair = static_cast<double>(connections.size()) / params.pods;
  while (!events.empty() && events.top().t_ms < kEnd) {
    const Event event = events.top();
    if (!died && event.t_ms >= kDies) {
      cluster.AdvanceTo(kDies);
      cluster.SetPodUp(0, false);
      for (std::size_t i = 0; i < connections.size(); ++i) {
        if (connections[i].pod != 0) continue;
        cluster.Close(connections[i].node, 0);
        connections[i].pod = -1;
        events.push({kDies + std::uniform_int_distribution<std::int64_t>(0, 99)(cluster.prng()),
                     static_cast<int>(i)});
      }
      died = true;
      continue;
    }
    if (!returned && event.t_ms >= kReturns) {
      cluster.AdvanceTo(kReturns);
      cluster.SetPodUp(0, true);
      returned = true;
      continue;
    }
    while (returned && next_sample <= event.t_ms) {
      cluster.AdvanceTo(next_sample);
      sum_ratio += MaxOverMean(cluster.PerPod(), all);
      ++samples;
      next_sample += 1000;
    }
    events.pop();
    cluster.AdvanceTo(event.t_ms);
    Connection& connection = connections[event.client];
    cluster.Close(connection.node, connection.pod);
    connection.pod = cluster.Connect(connection.node);
    events.push({event.t_ms + age(), event.client});
    if (returned) peak = std::max(peak, cluster.PerPod()[0]);
  }
  return {samples ? sum_ratio / samples : 1.0, static_cast<double>(peak) / fair};
}

nlohmann::json Summary(const std::vector<double>& values) {
  double sum = 0, worst = 0;
  for (double v : values) {
    sum += v;
    worst = std::max(worst, v);
  }
  return {{"mean", values.empty() ? 0 : sum / values.size()}, {"worst", worst}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Simulates many nodes opening long-lived connections to one Service, each choosing with "
      "select.h under every policy, with the cluster-wide load as stale as the LRS report "
      "and publish intervals make it. Prints JSON."};
  Params params;
  std::int64_t max_age_ms = 30'000;
  app.add_option("--nodes", params.nodes, "Nodes holding clients")->check(CLI::Range(1, 1000));
  app.add_option("--clients-per-node", params.clients_per_node, "Long-lived connections per node")
      ->check(CLI::Range(1, 100));
  app.add_option("--pods", params.pods, "The Service's pods")
      ->check(CLI::Range(2, SKW_MAX_SET_SLOTS - 1));
  app.add_option("--rounds", params.rounds, "Seeds per case; mean and worst are reported")
      ->check(CLI::Range(1, 10000));
  app.add_option("--report-interval-ms", params.report_interval_ms,
                 "How often each agent reports its counts (LRS)")
      ->check(CLI::Range(1, 600000));
  app.add_option("--publish-interval-ms", params.publish_interval_ms,
                 "How often the control plane publishes the sums (ClusterLoad)")
      ->check(CLI::Range(1, 600000));
  app.add_option("--report-on-change-ms", params.report_on_change_ms,
                 "An agent whose counts changed reports this soon after its previous report "
                 "(0: at the interval only)")
      ->check(CLI::Range(0, 600000));
  app.add_option("--slow-start-ms", params.slow_start_ms,
                 "The Service's slow-start window in the churn case")
      ->check(CLI::Range(0, 3600000));
  app.add_option("--max-age-ms", max_age_ms, "Reconnect period in the churn case (±10%)")
      ->check(CLI::Range(1000, 3600000));
  CLI11_PARSE(app, argc, argv);

  const std::vector<Policy> policies = {
      {"random (kube-proxy)", SKW_LB_RANDOM, false},
      {"least-request, node-local", SKW_LB_LEAST_REQUEST, false},
      {"least-request, cluster-wide", SKW_LB_LEAST_REQUEST, true},
      {"least-loaded, node-local", SKW_LB_LEAST_LOADED, false},
      {"least-loaded, cluster-wide", SKW_LB_LEAST_LOADED, true},
  };
  nlohmann::json out = {{"nodes", params.nodes},
                        {"clients_per_node", params.clients_per_node},
                        {"pods", params.pods},
                        {"rounds", params.rounds},
                        {"report_interval_ms", params.report_interval_ms},
                        {"publish_interval_ms", params.publish_interval_ms},
                        {"report_on_change_ms", params.report_on_change_ms},
                        {"slow_start_ms", params.slow_start_ms},
                        {"max_age_ms", max_age_ms},
                        {"policies", nlohmann::json::array()}};
  for (const Policy& policy : policies) {
    std::vector<double> rollout, burst, churn, herd;
    for (int round = 0; round < params.rounds; ++round) {
      const auto seed = static_cast<std::uint32_t>(round + 1);
      rollout.push_back(Fill(params, policy, seed, 30'000));
      burst.push_back(Fill(params, policy, seed, 100));
      const ChurnResult c = Churn(params, policy, seed, max_age_ms);
      churn.push_back(c.mean_max_over_mean);
      herd.push_back(c.peak_share);
    }
    std::cerr << "policy-sim: " << policy.name << " done\n";
    out["policies"].push_back({{"name", policy.name},
                               {"rollout", Summary(rollout)},
                               {"burst", Summary(burst)},
                               {"churn", Summary(churn)},
                               {"returning_pod_peak_share", Summary(herd)}});
  }
  std::cout << out.dump() << "\n";
  return 0;
}
